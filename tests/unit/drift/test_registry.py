"""The drift method registry and the configuration's checks against it."""

from __future__ import annotations

import pydantic
import pytest

from watchkeeper.drift import DriftConfig, UnknownMethodError, get_method, register_method, registered_methods

EVIDENTLY_NAMES = {
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
    "kl_div",
    "hellinger",
    "anderson",
    "cramer_von_mises",
    "ed",
    "es",
    "t_test",
    "mannw",
    "g_test",
    "fisher_exact",
    "TVD",
    "empirical_mmd",
}


def test_every_evidently_method_is_registered() -> None:
    assert set(registered_methods()) == EVIDENTLY_NAMES


@pytest.mark.parametrize(
    ("name", "kinds", "threshold", "score_type", "drift_when"),
    [
        ("ks", {"numerical"}, 0.05, "p_value", "<="),  # Evidently: p_value <= threshold
        ("chisquare", {"categorical"}, 0.05, "p_value", "<"),  # strict, unlike ks
        ("wasserstein", {"numerical"}, 0.1, "distance", ">="),
        ("ed", {"numerical"}, 0.1, "distance", ">"),  # the one strict distance
        ("jensenshannon", {"numerical", "categorical"}, 0.1, "distance", ">="),
        ("TVD", {"categorical"}, 0.1, "p_value", "<"),
        ("anderson", {"numerical"}, 0.1, "p_value", "<"),
    ],
)
def test_metadata_follows_evidently(
    name: str, kinds: set[str], threshold: float, score_type: str, drift_when: str
) -> None:
    method = get_method(name)
    assert set(method.kinds) == kinds
    assert method.default_threshold == threshold
    assert method.score_type == score_type
    assert method.drift_when == drift_when


def test_decision_uses_the_method_comparison() -> None:
    assert get_method("ks").is_drift(0.05, 0.05) is True
    assert get_method("chisquare").is_drift(0.05, 0.05) is False
    assert get_method("ed").is_drift(0.1, 0.1) is False
    assert get_method("wasserstein").is_drift(0.1, 0.1) is True
    assert get_method("ks").is_drift(float("nan"), 0.05) is False


def test_registering_a_name_twice_fails() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_method(
            "ks",
            display_name="again",
            kinds=("numerical",),
            default_threshold=0.05,
            score_type="p_value",
            drift_when="<",
            symmetric=True,
        )(lambda pair: 0.0)


def test_unknown_name_lists_registered_methods() -> None:
    with pytest.raises(UnknownMethodError) as info:
        get_method("kolmogorov")
    assert "kolmogorov" in str(info.value)
    assert "wasserstein" in str(info.value) and "empirical_mmd" in str(info.value)


def test_config_rejects_unknown_and_misapplied_methods() -> None:
    with pytest.raises(pydantic.ValidationError, match="registered methods"):
        DriftConfig(method="nope")
    with pytest.raises(pydantic.ValidationError, match="does not apply to categorical"):
        DriftConfig(cat_method="ks")
    with pytest.raises(pydantic.ValidationError, match=r"per_column_method\['age'\]"):
        DriftConfig(per_column_method={"age": "nope"})
    with pytest.raises(pydantic.ValidationError):
        DriftConfig(correction="holm")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        DriftConfig(unknown_key=1)  # type: ignore[call-arg]


def test_config_defaults() -> None:
    config = DriftConfig()
    assert config.enabled and config.cache and config.evidently_report
    assert config.drift_share == 0.5
    assert config.correction == "none"
    assert config.evidently_sample_cap == 2_000  # keeps the page near 2 s (issue 12)

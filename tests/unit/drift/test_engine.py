"""detect_drift end to end on tiny frames: exact values, method choice, bad input, report, cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from watchkeeper.drift import (
    DriftConfig,
    DriftReport,
    adjust_p_values,
    detect_drift,
    evaluate_drift,
    fit_drift,
    get_method,
)
from watchkeeper.drift.engine import infer_kind
from watchkeeper.drift.profile import _factorize_objects, profile_categorical, profile_numerical
from watchkeeper.drift.samples import ColumnPair
from watchkeeper.verdict import SectionReport, Severity


def test_exact_values_on_tiny_frames() -> None:
    reference = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "c": ["a", "a", "b", "b"]})
    current = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "b", "b", "b"]})
    config = DriftConfig(num_method="wasserstein", per_column_method={"c": "psi"})
    report = detect_drift(reference, current, config, numerical=["x"], categorical=["c"])
    # W1 = 1, reference population std = sqrt(1.25)
    assert report.column("x").score == pytest.approx(1 / math.sqrt(1.25), abs=1e-12)
    # PSI = 0.25·ln 2 − 0.25·ln(2/3) = 0.25·ln 3
    assert report.column("c").score == pytest.approx(0.25 * math.log(3), abs=1e-12)
    # the categorical effect size is the Jensen–Shannon distance of (.5, .5) vs (.25, .75)
    assert report.column("c").effect_size == pytest.approx(0.1839083, abs=1e-6)
    z = detect_drift(reference, current, DriftConfig(cat_method="z"), numerical=[], categorical=["c"])
    assert z.column("c").score == pytest.approx(0.4652088, abs=1e-6)  # two-proportion z = −0.7303


def test_multiple_testing_corrections_exact() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    assert adjust_p_values(p, "bh") == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert adjust_p_values(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 1.0])
    assert adjust_p_values(p, "none") == pytest.approx(p)


def shifted_frames(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "a": rng.normal(0, 1, n),
            "b": rng.normal(0, 1, n),
            "c": rng.normal(0, 1, n),
            "color": rng.choice(["red", "green", "blue"], n),
        }
    )
    current = pd.DataFrame(
        {
            "a": rng.normal(0.25, 1, n),
            "b": rng.normal(0.18, 1, n),
            "c": rng.normal(0, 1, n),
            "color": rng.choice(["red", "green", "blue"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    return reference, current


def test_correction_reports_raw_and_adjusted_and_decides_on_adjusted() -> None:
    reference, current = shifted_frames()
    raw = detect_drift(reference, current)
    bonf = detect_drift(reference, current, DriftConfig(correction="bonferroni"))
    for r, b in zip(raw.columns, bonf.columns, strict=True):
        assert b.p_value == r.p_value
        assert b.p_value_adjusted == pytest.approx(min(1.0, r.p_value * 4))
        assert b.drifted == (b.p_value_adjusted <= 0.05 if b.method == "ks" else b.p_value_adjusted < 0.05)
    assert bonf.n_drifted <= raw.n_drifted


def test_default_method_choice_by_reference_size_and_unique_values() -> None:
    rng = np.random.default_rng(1)

    def frames(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        def one() -> pd.DataFrame:
            return pd.DataFrame(
                {
                    "cont": rng.normal(size=n),
                    "five": rng.integers(0, 5, n).astype(float),
                    "two": rng.integers(0, 2, n).astype(float),
                    "cat3": rng.choice(["a", "b", "c"], n),
                    "cat2": rng.choice(["a", "b"], n),
                }
            )

        return one(), one()

    small = detect_drift(*frames(1000), numerical=["cont", "five", "two"], categorical=["cat3", "cat2"])
    assert [c.method for c in small.columns] == ["ks", "chisquare", "z", "chisquare", "z"]
    reference, current = frames(1001)
    reference.loc[0, "cont"] = np.nan  # 1000 values left after dropping NaN: still the small regime
    mixed = detect_drift(reference, current, numerical=["cont"], categorical=[])
    assert mixed.column("cont").method == "ks"
    large = detect_drift(*frames(1001), numerical=["cont", "five", "two"], categorical=["cat3", "cat2"])
    assert [c.method for c in large.columns] == [
        "wasserstein",
        "jensenshannon",
        "jensenshannon",
        "jensenshannon",
        "jensenshannon",
    ]


def test_threshold_precedence() -> None:
    reference, current = shifted_frames()
    config = DriftConfig(
        threshold=0.01, num_threshold=0.02, cat_threshold=0.03, per_column_threshold={"a": 0.04}
    )
    report = detect_drift(reference, current, config, numerical=["a", "b"], categorical=["color"])
    assert [c.threshold for c in report.columns] == [0.04, 0.02, 0.03]
    assert detect_drift(reference, current, DriftConfig(threshold=0.2)).column("color").threshold == 0.2
    assert detect_drift(reference, current).column("a").threshold == 0.05  # ks default


def test_bad_input_gives_per_column_status_never_a_crash() -> None:
    reference = pd.DataFrame(
        {
            "ok": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "all_nan": [np.nan] * 6,
            "type_differs": [1, 2, 3, 1, 2, 3],
            "unseen": ["a", "a", "b", "b", "a", "b"],
            "with_inf": [1.0, np.inf, 2.0, -np.inf, 3.0, 4.0],
            "only_ref": [1.0] * 6,
            "all_inf": [np.inf] * 6,
        }
    )
    current = pd.DataFrame(
        {
            "ok": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5],
            "all_nan": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0],
            "type_differs": ["x", "y", "z", "x", "y", "z"],
            "unseen": ["a", "c", "c", "c", "b", "c"],
            "with_inf": [1.0, 2.0, np.nan, 3.0, 4.0, 5.0],
            "only_cur": [1.0] * 6,
            "all_inf": [1.0] * 6,
        }
    )
    report = detect_drift(
        reference,
        current,
        numerical=["ok", "all_nan", "with_inf", "only_ref", "only_cur", "all_inf"],
        categorical=["type_differs", "unseen"],
    )
    status = {c.column: c.status for c in report.columns}
    assert status["ok"] == "ok"
    assert status["all_nan"] == "not testable: all values are NaN or inf in reference"
    assert status["all_inf"] == "not testable: all values are NaN or inf in reference"
    assert status["type_differs"].startswith("not testable: type differs between reference (int64")
    assert status["only_ref"] == "not testable: column missing from current"
    assert status["only_cur"] == "not testable: column missing from reference"
    unseen = report.column("unseen")
    assert unseen.status == "ok" and unseen.method == "chisquare" and unseen.score == 0.0 and unseen.drifted
    with_inf = report.column("with_inf")
    assert (with_inf.status, with_inf.n_reference, with_inf.n_current) == ("ok", 4, 5)
    assert with_inf.missing_share == pytest.approx(1 / 6)
    assert report.n_columns == 3  # ok, unseen, with_inf
    json.dumps(report.to_dict(), allow_nan=False)


def test_odd_frames_mark_the_column_not_the_report() -> None:
    reference = pd.DataFrame([[1.0, 2.0, 3.0]] * 5, columns=["dup", "dup", "ok"])
    current = pd.DataFrame([[1.0, 2.0, 4.0]] * 5, columns=["dup", "dup", "ok"])
    report = detect_drift(reference, current, numerical=["dup", "ok"], categorical=[])
    assert report.column("dup").status.startswith("not testable")
    assert report.column("ok").status == "ok"


@pytest.mark.parametrize("method", ["ks", "wasserstein", "cramer_von_mises", "t_test", "es", "empirical_mmd"])
def test_one_row_windows_do_not_crash(method: str) -> None:
    reference = pd.DataFrame({"x": [1.0]})
    current = pd.DataFrame({"x": [2.0]})
    report = detect_drift(reference, current, DriftConfig(method=method), numerical=["x"], categorical=[])
    col = report.column("x")
    assert col.status == "ok" or col.status.startswith("not testable")
    assert not (col.status != "ok" and col.drifted)


def test_method_that_does_not_apply_to_a_kind_is_a_status() -> None:
    reference, current = shifted_frames()
    report = detect_drift(
        reference, current, DriftConfig(method="ks"), numerical=["a"], categorical=["color"]
    )
    assert report.column("a").status == "ok"
    assert report.column("color").status == "not testable: method ks does not apply to categorical columns"


def test_kind_inference_follows_evidently() -> None:
    assert infer_kind(pd.Series([1.5, 2.5])) == "numerical"
    assert infer_kind(pd.Series(list(range(10)) * 3)) == "categorical"  # <= 10 integer values
    assert infer_kind(pd.Series(range(11))) == "numerical"
    assert infer_kind(pd.Series(["a", "b"] * 5)) == "categorical"
    assert infer_kind(pd.Series([f"t{i}" for i in range(10)])).startswith("not testable: text")
    assert infer_kind(pd.Series([True, False])) == "categorical"
    assert infer_kind(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))) == "datetime"
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"f": rng.normal(size=50), "i": rng.integers(0, 3, 50), "s": rng.choice(["u", "v"], 50)}
    )
    reference["when"] = pd.Timestamp("2024-01-01")
    report = detect_drift(reference, reference.copy())
    assert [(c.column, c.kind) for c in report.columns] == [
        ("f", "numerical"),
        ("i", "categorical"),
        ("s", "categorical"),
    ]
    assert report.n_drifted == 0


def test_prediction_and_target_are_reported_apart() -> None:
    reference, current = shifted_frames()
    reference["proba"] = np.linspace(0, 1, len(reference))
    current["proba"] = np.linspace(0.3, 1, len(current))
    reference["label"] = np.arange(len(reference)) % 2
    current["label"] = (np.arange(len(current)) % 3 == 0).astype(int)
    report = detect_drift(reference, current, prediction=["proba"], target="label")
    assert [c.role for c in report.columns][-2:] == ["prediction", "target"]
    assert report.n_columns == 4  # features only
    figures = report.figures()
    assert figures["prediction.proba.drifted"] == 1.0
    assert figures["target.drifted"] == 1.0
    assert "target.score" in figures and "proba.score" not in figures and "label.score" not in figures
    messages = [f.message for f in report.findings()]
    assert any(m.startswith("Prediction drift in proba") for m in messages)
    assert any(m.startswith("Target drift in label") for m in messages)


def test_report_protocol_frame_and_markdown() -> None:
    reference, current = shifted_frames()
    current["a"] = current["a"] + 1.0
    current["c"] = current["c"] + 1.0
    report = detect_drift(reference, current)
    assert isinstance(report, SectionReport)
    with pytest.raises(AttributeError):
        report.share = 0.0  # type: ignore[misc]
    figures = report.figures()
    assert figures["dataset_drift"] == 1.0 and figures["n_columns"] == 4.0
    assert figures["share"] == report.n_drifted / 4
    assert {"a.score", "a.drifted", "a.effect_size", "color.score"} <= set(figures)
    assert all(isinstance(v, float) and math.isfinite(v) for v in figures.values())
    (finding,) = report.findings()
    assert finding.severity is Severity.WARNING and finding.check == "drift"
    assert "feature columns drifted" in finding.message and "a (ks" in finding.message
    frame = report.to_frame()
    for column in (
        "column",
        "kind",
        "method",
        "score",
        "threshold",
        "drifted",
        "p_value_adjusted",
        "effect_size",
        "n_reference",
        "n_current",
        "missing_share",
        "status",
        "n_drifted",
        "share",
        "dataset_drift",
    ):
        assert column in frame.columns
    assert frame.attrs["dataset_drift"] is True
    lines = report.to_markdown().splitlines()
    assert lines[0].startswith("**Dataset drift**")
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    drifted_flags = ["**yes**" in row for row in rows]
    assert drifted_flags == sorted(drifted_flags, reverse=True)  # drifted columns first
    json.dumps(report.to_dict(), allow_nan=False)


def test_no_drift_means_no_findings() -> None:
    reference, _ = shifted_frames()
    report = detect_drift(reference, reference.copy())
    assert report.findings() == [] and not report.dataset_drift


def test_reference_cache_gives_identical_reports(tmp_path: Path) -> None:
    reference, current = shifted_frames()
    reference["flag"] = np.arange(len(reference)) % 4
    current["flag"] = np.arange(len(current)) % 3
    kwargs = {"numerical": ["a", "b", "c"], "categorical": ["color", "flag"]}
    plain = detect_drift(reference, current, DriftConfig(cache=False), cache_dir=tmp_path, **kwargs)
    assert not list(tmp_path.iterdir())  # cache off: nothing written
    cold = detect_drift(reference, current, cache_dir=tmp_path, **kwargs)
    warm = detect_drift(reference, current, cache_dir=tmp_path, **kwargs)
    # Without a caller fingerprint only numerical columns are cached (hashing strings costs more).
    assert (cold.cache_hits, warm.cache_hits) == (0, 3)
    assert len(list(tmp_path.glob("*.npz"))) == 3
    assert plain.to_dict() == cold.to_dict() == warm.to_dict()
    changed = reference.copy()
    changed.loc[0, "a"] += 1.0
    assert detect_drift(changed, current, cache_dir=tmp_path, **kwargs).cache_hits == 2
    # A caller fingerprint keys every column, categorical ones included.
    tvd = DriftConfig(cat_method="TVD")  # the permutation test needs the cached row order too
    fingerprinted = {"cache_dir": tmp_path, "reference_fingerprint": "ref-v1", **kwargs}
    first = detect_drift(reference, current, tvd, **fingerprinted)  # type: ignore[arg-type]
    second = detect_drift(reference, current, tvd, **fingerprinted)  # type: ignore[arg-type]
    assert (first.cache_hits, second.cache_hits) == (0, 5)
    assert first.to_dict() == second.to_dict() == detect_drift(reference, current, tvd, **kwargs).to_dict()


def test_profiles_merge_like_the_whole_column() -> None:
    rng = np.random.default_rng(3)
    values = pd.Series(np.where(rng.random(200) < 0.1, np.nan, rng.normal(size=200)))
    whole = profile_numerical(values)
    merged = profile_numerical(values[:70]).merge(profile_numerical(values[70:]))
    assert np.array_equal(whole.values, merged.values)
    assert (whole.n_rows, whole.n_missing) == (merged.n_rows, merged.n_missing)
    cats = pd.Series(rng.choice(["x", "y", None, "z"], 200))
    whole_c = profile_categorical(cats)
    merged_c = profile_categorical(cats[:90]).merge(profile_categorical(cats[90:].reset_index(drop=True)))
    assert whole_c.categories.tolist() == merged_c.categories.tolist()
    assert np.array_equal(whole_c.counts, merged_c.counts)
    assert np.array_equal(whole_c.codes, merged_c.codes)
    assert whole_c.n_missing == merged_c.n_missing


def test_object_factorization_matches_pandas_with_shared_and_distinct_objects() -> None:
    rng = np.random.default_rng(4)
    shared = rng.choice(np.array(["b", "a", None, "c"], dtype=object), 10_000)
    codes, uniques = _factorize_objects(shared)
    expected_codes, expected_uniques = pd.factorize(shared, sort=False)
    assert np.array_equal(codes, expected_codes) and list(uniques) == list(expected_uniques)
    distinct = np.array([f"v{i % 7}" for i in range(10_000)], dtype=object)  # one object per row
    codes, uniques = _factorize_objects(distinct)
    expected_codes, expected_uniques = pd.factorize(distinct, sort=False)
    assert np.array_equal(codes, expected_codes) and list(uniques) == list(expected_uniques)
    mixed = shared.copy()
    mixed[::3] = np.array([f"{'a'}" + "" for _ in range(len(mixed[::3]))], dtype=object)
    codes, _ = _factorize_objects(mixed)
    assert np.array_equal(codes, pd.factorize(mixed, sort=False)[0])


def test_report_type() -> None:
    reference, current = shifted_frames(50)
    assert isinstance(detect_drift(reference, current), DriftReport)


def test_the_window_decides_an_inferred_columns_kind() -> None:
    # An integer prediction column with many values in the reference is numerical there, but a
    # window with at most 10 values makes it categorical: the reference's values are then profiled
    # as categories (as if the reference had been profiled after looking at the window).
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=2000), "p": rng.integers(0, 50, size=2000)})
    current = pd.DataFrame({"x": rng.normal(size=500), "p": rng.integers(0, 4, size=500)})
    fitted = fit_drift(reference, numerical=["x"], categorical=[], prediction=["p"])
    assert set(fitted.columns["p"].profiles) == {"numerical"}  # only the kind the reference suggests
    col = evaluate_drift(fitted, current).column("p")
    assert col.kind == "categorical" and col.status == "ok"
    pair = ColumnPair("categorical", profile_categorical(reference["p"]), profile_categorical(current["p"]))
    assert col.score == pytest.approx(get_method(col.method).compute(pair))

"""Loading suite files: every entry GX does not understand is an error naming the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from watchkeeper.validation import SuiteError, load_suite, parse_suite, validate_window
from watchkeeper.verdict import Severity

GOOD = """\
name: tiny
expectations:
  - type: expect_column_values_to_not_be_null
    severity: critical
    kwargs: {column: a}
  - type: expect_column_values_to_be_between
    severity: warning
    kwargs: {column: a, min_value: 0, max_value: 10}
    notes: reviewed by hand
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_good_suite_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    spec = load_suite(path)
    assert spec.name == "tiny"
    assert spec.source == str(path)
    assert [(e.type, e.severity) for e in spec.expectations] == [
        ("expect_column_values_to_not_be_null", Severity.CRITICAL),
        ("expect_column_values_to_be_between", Severity.WARNING),
    ]
    assert spec.expectations[1].notes == "reviewed by hand"
    assert spec.columns == ("a",)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        # Broken YAML syntax: the parser's location is in the message.
        ("name: x\nexpectations: [\n", r"not valid YAML"),
        # A list at the top level instead of a mapping.
        ("- a\n- b\n", r"expected a mapping with `name` and `expectations`"),
        # A typo in a top-level key.
        ("name: x\nexpectation: []\n", r"unknown top-level key\(s\) \['expectation'\]"),
        ("name: x\nexpectations: []\n", r"`expectations` must be a non-empty list"),
        # The second entry is not a mapping.
        (GOOD + "  - just text\n", r"entry 2: expected a mapping, got str"),
        # The severity is required: a reviewer decides what pages.
        (
            GOOD + "  - type: expect_column_values_to_be_unique\n    kwargs: {column: a}\n",
            r"entry 2 \(expect_column_values_to_be_unique\): `severity` is required",
        ),
        (
            GOOD.replace("severity: warning", "severity: info"),
            r"entry 1 \(expect_column_values_to_be_between\): severity 'info' is not one of",
        ),
        # `ok` is a Severity but not one an expectation may have.
        (GOOD.replace("severity: warning", "severity: ok"), r"entry 1 .*severity 'ok' is not one of"),
        (GOOD.replace("notes:", "note:"), r"entry 1 .*unknown key\(s\) \['note'\]"),
        (GOOD.replace("kwargs: {column: a}", "kwargs: [a]"), r"entry 0 .*`kwargs` must be a mapping"),
    ],
)
def test_invalid_suite_names_the_file_and_entry(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SuiteError, match=match) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}: ")


def test_unknown_expectation_type_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    # GX itself would log this and silently drop the entry from the suite.
    path = write(
        tmp_path, GOOD.replace("expect_column_values_to_be_between", "expect_column_values_to_be_betwen")
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).startswith(
        f"{path}: entry 1 (expect_column_values_to_be_betwen): unknown expectation type "
        "'expect_column_values_to_be_betwen'; did you mean expect_column_values_to_be_between, "
    )


def test_kwargs_gx_rejects_are_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("{column: a, min_value: 0, max_value: 10}", "{column: a, minimum: 0}")
    )
    with pytest.raises(
        SuiteError, match=r"entry 1 \(expect_column_values_to_be_between\): invalid kwargs: .*minimum"
    ):
        load_suite(path)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"nope\.yaml: suite file not found"):
        load_suite(tmp_path / "nope.yaml")


def test_an_unchecked_suite_gx_would_drop_still_fails_loudly() -> None:
    # Built without the load-time check, the entry reaches GX's suite constructor, which logs and drops
    # it; the count after building catches that instead of validating one check fewer.
    spec = parse_suite(
        {"name": "s", "expectations": [{"type": "expect_nothing_at_all", "severity": "critical"}]},
        source="inline.yaml",
        check=False,
    )
    with pytest.raises(
        SuiteError, match=r"inline\.yaml: Great Expectations dropped entry 0 \(expect_nothing_at_all\)"
    ):
        validate_window(pd.DataFrame({"a": [1]}), spec)

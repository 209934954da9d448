"""The caps on data quoted in what a run writes, and read errors that quote no content (issue 30)."""

from __future__ import annotations

import pytest

from watchkeeper.quoting import MAX_LABEL_CHARS, MAX_QUOTED_CHARS, cap_label, cap_text
from watchkeeper.sources.errors import describe_read_error
from watchkeeper.validation.report import make_json_safe


def test_cap_text_keeps_the_start_and_counts_the_rest() -> None:
    assert cap_text("short") == "short"
    capped = cap_text("x" * 10_000_000)
    assert capped == "x" * MAX_QUOTED_CHARS + "… (9999800 more characters)"


def test_cap_label_is_bounded_and_keeps_distinct_values_distinct() -> None:
    a, b = cap_label("a" * 500 + "1"), cap_label("a" * 500 + "2")
    assert len(a) == len(b) == MAX_LABEL_CHARS and a != b
    assert a == cap_label("a" * 500 + "1")  # stable: the reference and the window agree
    assert cap_label("north") == "north"


def test_gx_documents_cap_strings_and_long_lists() -> None:
    doc = make_json_safe({"observed_value": ["v" * 1_000_000, *range(2000)]})
    values = doc["observed_value"]
    assert len(values) == 1001 and values[-1] == "… (1001 more)"
    assert values[0].endswith("… (999800 more characters)")


@pytest.mark.parametrize(
    ("raw", "kept", "gone"),
    [
        # pyarrow's CSV reader ends with the offending line (here a line of /etc/passwd)
        (
            "Could not open CSV input source 'passwd.csv': Invalid: CSV parse error: Row #24: Expected 1 "
            "columns, got 4: postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash",
            "Row #24: Expected 1 columns, got 4",
            "postgres",
        ),
        # a cast quotes the value
        (
            "Failed to parse string: '60590.84 USD' as a scalar of type double",
            "scalar of type double",
            "60590",
        ),
        # pandas' date parser quotes the text, and says where
        ("Unknown datetime string format, unable to parse: s3cret, at position 3", "at position 3", "s3cret"),
        # anything else in quotes
        ("Invalid: value 'hunter2' is not allowed", "is not allowed", "hunter2"),
    ],
)
def test_read_errors_keep_the_position_and_drop_the_content(raw: str, kept: str, gone: str) -> None:
    described = describe_read_error(raw)
    assert kept in described and gone not in described

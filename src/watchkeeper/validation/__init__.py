"""Data validation with Great Expectations: per-model suites kept in git, generated from the reference,
run on every window.

- `spec`: the suite model (`ExpectationSpec`, `ExpectationSuiteSpec`, `SuiteError`)
- `files`: suite files: `parse_suite`, `load_suite`, `render_suite`, `write_suite`,
  `default_suite_path`
- `generate`: `generate_suite` profiles a reference frame into a suite for review;
  `estimate_window_rows`
- `gx`: the Great Expectations adapter (the only module importing it, lazily): `validate_window`
- `report`: `ExpectationResult` and `ValidationReport`, the window's validation section
"""

from watchkeeper.validation.files import (
    SuiteExistsError,
    default_suite_path,
    load_suite,
    parse_suite,
    render_suite,
    write_suite,
)
from watchkeeper.validation.generate import estimate_window_rows, generate_suite
from watchkeeper.validation.gx import validate_window
from watchkeeper.validation.report import ExpectationResult, ValidationReport
from watchkeeper.validation.spec import ExpectationSpec, ExpectationSuiteSpec, SuiteError

__all__ = [
    "ExpectationResult",
    "ExpectationSpec",
    "ExpectationSuiteSpec",
    "SuiteError",
    "SuiteExistsError",
    "ValidationReport",
    "default_suite_path",
    "estimate_window_rows",
    "generate_suite",
    "load_suite",
    "parse_suite",
    "render_suite",
    "validate_window",
    "write_suite",
]

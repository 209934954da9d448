"""The data drift engine: Evidently's drift methods by name, with its numbers, on full data, fast.

Public API:

- `fit_drift(reference, config, *, numerical, categorical, prediction, target, cache_dir,
  reference_fingerprint) -> ReferenceProfile` and `evaluate_drift(profile, current) -> DriftReport`:
  the drift check's lifecycle; `detect_drift(reference, current, ...)` runs both
- `DriftReport` / `ColumnDrift`: frozen results (`figures`, `findings`, `to_dict`, `to_frame`,
  `to_markdown`)
- `DriftConfig`: the `drift:` section of a model config
- `build_evidently_html(...)`: Evidently's own HTML report on a seeded sample, for humans
- `get_method`, `registered_methods`, `register_method`: the method registry
"""

# The built-in methods register themselves when their modules are imported: importing the package
# (which any `watchkeeper.drift.*` import does first) makes them available to `get_method`.
from watchkeeper.drift import methods as _builtin_methods  # noqa: F401
from watchkeeper.drift.config import DriftConfig
from watchkeeper.drift.engine import adjust_p_values, detect_drift, evaluate_drift
from watchkeeper.drift.html import build_evidently_html
from watchkeeper.drift.reference import ReferenceProfile, fit_drift
from watchkeeper.drift.registry import (
    DriftMethod,
    NotTestable,
    UnknownMethodError,
    get_method,
    register_method,
    registered_methods,
)
from watchkeeper.drift.report import ColumnDrift, DriftReport

__all__ = [
    "ColumnDrift",
    "DriftConfig",
    "DriftMethod",
    "DriftReport",
    "NotTestable",
    "ReferenceProfile",
    "UnknownMethodError",
    "adjust_p_values",
    "build_evidently_html",
    "detect_drift",
    "evaluate_drift",
    "fit_drift",
    "get_method",
    "register_method",
    "registered_methods",
]

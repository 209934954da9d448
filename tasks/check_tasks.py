"""The checks as Prefect tasks: each is one line over a `watchkeeper.checks` function."""

from __future__ import annotations

from prefect import task

from watchkeeper import checks

detect_drift = task(name="detect-drift")(checks.check_drift)
build_drift_html = task(name="build-evidently-report")(checks.build_drift_html)
fit_performance_baseline = task(name="fit-performance-baseline")(checks.fit_baseline)
evaluate_performance = task(name="evaluate-performance")(checks.check_performance)
compute_serving_metrics = task(name="compute-serving-metrics")(checks.check_serving)
load_expectations = task(name="load-expectations")(checks.load_expectations)
validate_features = task(name="validate-features")(checks.check_validation)

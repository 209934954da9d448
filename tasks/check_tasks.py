"""The checks as Prefect tasks: each is one line over a `watchkeeper.checks` function."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from watchkeeper import checks

detect_drift = task(name="detect-drift", cache_policy=NO_CACHE)(checks.check_drift)
build_drift_html = task(name="build-evidently-report", cache_policy=NO_CACHE)(checks.build_drift_html)
fit_performance_baseline = task(name="fit-performance-baseline", cache_policy=NO_CACHE)(checks.fit_baseline)
evaluate_performance = task(name="evaluate-performance", cache_policy=NO_CACHE)(checks.check_performance)
compute_serving_metrics = task(name="compute-serving-metrics", cache_policy=NO_CACHE)(checks.check_serving)
load_expectations = task(name="load-expectations", cache_policy=NO_CACHE)(checks.load_expectations)
validate_features = task(name="validate-features", cache_policy=NO_CACHE)(checks.check_validation)

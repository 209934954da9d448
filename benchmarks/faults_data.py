"""Fault injection for issue 30, part 5: bad data is a finding, never silence.

    python benchmarks/faults.py --only data_

Each scenario writes a small model's logs, labels and reference as Parquet under a temp dir, breaks
one thing the way a user found it broken, and runs a window through what the monitor flow runs
(labels as of the run's time, checks fitted and evaluated, the run's data findings, the built-in
rules): rows stamped 30 days after the evaluation, labels for request ids no inference row has, a
ground-truth path with a typo, a column that turns from ints to numeric strings between files, a
one-class reference, a 10 MB category value (the window's artifacts before and after), a
reference path pointing at a system file.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

D1 = datetime(2026, 3, 1, tzinfo=UTC)
END = D1 + timedelta(days=1)
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the run's wall clock: a replay of the window ending END
ROWS = 2000


def _rows(n: int, start: datetime, *, prefix: str, seed: int, income: Any = None) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": pd.date_range(start + timedelta(seconds=1), periods=n, freq="40s"),
            "income": rng.integers(1_000, 9_000, n) if income is None else income,
            "purpose": rng.choice(["car", "home", "study"], n),
            "score": score,
            "prediction": (score >= 0.5).astype("int64"),
        }
    )


class _Model:
    """Logs of one day (2000 rows), its labels and a reference under `root`, and the config."""

    def __init__(self, root: Path, *, one_class: bool = False, labels_path: str | None = None) -> None:
        import numpy as np

        from watchkeeper.config import parse_config

        self.root = root
        reference = _rows(3000, D1 - timedelta(days=10), prefix="ref", seed=1)
        truth = (np.random.default_rng(0).uniform(0, 1, 3000) < reference["score"]).astype("int64")
        reference["defaulted"] = 0 if one_class else truth
        (root / "reference").mkdir(parents=True)
        reference.to_parquet(root / "reference" / "ref.parquet")
        self.day = root / "inference" / f"date={D1:%Y-%m-%d}"
        self.day.mkdir(parents=True)
        self.logs = _rows(ROWS, D1, prefix="r", seed=1)
        self.logs.to_parquet(self.day / "part-0.parquet")
        (root / "labels").mkdir()
        self.write_labels([f"r{i}" for i in range(0, ROWS, 2)])
        self.config = parse_config(
            {
                "model": {"name": "faults", "task": "binary_classification"},
                "columns": {
                    "numerical_features": ["income"],
                    "categorical_features": ["purpose"],
                    "score": "score",
                    "prediction": "prediction",
                    "target": "defaulted",
                    "label_timestamp": "label_timestamp",
                },
                "sources": {
                    "inference_logs": {
                        "type": "parquet",
                        "path": str(root / "inference"),
                        "partitioning": "hive",
                    },
                    "ground_truth": {"type": "parquet", "path": labels_path or str(root / "labels")},
                    "reference": {"type": "parquet", "path": str(root / "reference" / "ref.parquet")},
                },
                "window": {"size": "1d", "label_lag": "2d"},
                "drift": {"multivariate": {"enabled": False}, "evidently_report": False},
            }
        )

    def write_labels(self, ids: list[str], name: str = "part-0") -> None:
        """Labels for `ids` as the model's scores predict them (no performance drop), arrived at END."""
        import numpy as np
        import pandas as pd

        score = pd.Series(self.logs["score"].to_numpy(), index=self.logs["request_id"])
        p = score.reindex(ids).fillna(0.5).to_numpy()
        outcome = (np.random.default_rng(9).uniform(0, 1, len(ids)) < p).astype("int64")
        pd.DataFrame({"request_id": ids, "defaulted": outcome, "label_timestamp": END}).to_parquet(
            self.root / "labels" / f"{name}.parquet"
        )

    def judge(self) -> Any:
        """The window ending END as its replay judges it (as of END, the wall clock NOW)."""
        from watchkeeper.bad_data import assess_labels
        from watchkeeper.checks import standard_checks
        from watchkeeper.monitoring import add_data_findings, evaluate_window, fit_checks
        from watchkeeper.windows import load_window, read_labels, read_reference, reevaluation_start

        config = self.config
        labels = read_labels(config, since=reevaluation_start(config, D1), as_of=END)
        checks = standard_checks(self.root / "model.yaml", cache_dir=None, with_html=False)
        fitted = fit_checks(checks, read_reference(config), config)
        result = evaluate_window(
            checks,
            fitted,
            config=config,
            config_hash="faults",
            start=D1,
            end=END,
            load=lambda: load_window(config, D1, END, labels=labels),
            labels_complete=False,
        )
        return add_data_findings(
            result, config, as_of=END, now=NOW, labels=assess_labels(config, labels)
        ).report


def _fired(report: Any, rule: str) -> str | None:
    found = [f for f in report.findings if f.rule_name == rule]
    return found[0].severity.label if found else None


def rows_after_evaluation(tmp: Path) -> tuple[str, str, bool]:
    import pandas as pd

    model = _Model(tmp / "rows-after")
    # 200 of the window's 2000 rows re-stamped 30 days after the evaluation (in the window's file).
    logs = model.logs.copy()
    logs.loc[logs.index[-200:], "timestamp"] = pd.Timestamp(END + timedelta(days=30))
    logs.to_parquet(model.day / "part-0.parquet")
    report = model.judge()
    figures = report.figures()
    fired = _fired(report, "rows_after_evaluation")
    return (
        "rows 1800, 200 counted after the evaluation, rule warning, note names the source",
        f"rows {figures['window.rows']:.0f}, after {figures.get('window.rows_after_evaluation')}, "
        f"rule {fired}, verdict {report.verdict.label}",
        figures["window.rows"] == 1800
        and figures.get("window.rows_after_evaluation") == 200
        and fired == "warning"
        and "inference" in (report.section("window").after_evaluation or ""),
    )


def unmatched_labels(tmp: Path) -> tuple[str, str, bool]:
    model = _Model(tmp / "unmatched")
    model.write_labels([f"ghost-{i}" for i in range(500)], name="part-ghosts")
    report = model.judge()
    figures = report.figures()
    fired = _fired(report, "unmatched_labels")
    perf = report.section("perf").unmatched_labels
    return (
        "labels.unmatched 500, perf unmatched_labels 500, rule warning",
        f"labels.unmatched {figures.get('labels.unmatched')}, perf {perf}, rule {fired}, "
        f"verdict {report.verdict.label}",
        figures.get("labels.unmatched") == 500 and perf == 500 and fired == "warning",
    )


def label_path_typo(tmp: Path) -> tuple[str, str, bool]:
    typo = str(tmp / "typo" / "lables")
    model = _Model(tmp / "typo", labels_path=typo)
    report = model.judge()
    fired = _fired(report, "label_source_unreadable")
    error = report.section("labels").error or ""
    return (
        "labels.unreadable 1, rule critical, verdict critical, error names the path",
        f"unreadable {report.figures().get('labels.unreadable')}, rule {fired}, verdict {report.verdict.label}",
        fired == "critical" and report.verdict.label == "critical" and typo in error,
    )


def type_change_between_files(tmp: Path) -> tuple[str, str, bool]:
    model = _Model(tmp / "types")
    strings = _rows(
        100, D1 + timedelta(hours=20), prefix="s", seed=5, income=[str(1000 + i) for i in range(100)]
    )
    strings.to_parquet(model.day / "part-1.parquet")
    report = model.judge()
    fired = _fired(report, "column_type_changed")
    changes = report.section("window").type_changes
    named = bool(changes) and all(p in changes[0] for p in ("'income'", "int64", "string", "part-1.parquet"))
    return (
        "1 column changed type, named with both types and the files, rule warning",
        f"changed {report.figures().get('window.type_changed_columns')}, named {named}, rule {fired}",
        report.figures().get("window.type_changed_columns") == 1 and named and fired == "warning",
    )


def one_class_reference(tmp: Path) -> tuple[str, str, bool]:
    model = _Model(tmp / "one-class", one_class=True)
    report = model.judge()
    fired = _fired(report, "check_not_fitted")
    why = report.section("checks").not_fitted
    return (
        "checks.not_fitted ≥ 1 naming perf.cbpe and why, rule critical, verdict critical",
        f"not fitted {dict(why)}, rule {fired}, verdict {report.verdict.label}",
        "perf.cbpe" in why and fired == "critical" and report.verdict.label == "critical",
    )


def _artifact_bytes(root: Path, huge: bool) -> int:
    """Every byte a window run writes from its report: report JSON and markdown, what its sections
    publish (GX's result and page, tables, markdown) and Evidently's page, on the demo's model."""
    import yaml

    from watchkeeper import demo_data
    from watchkeeper.checks import EvidentlyReportCheck, Window, standard_checks
    from watchkeeper.config import load_config
    from watchkeeper.monitoring import evaluate_window, fit_checks
    from watchkeeper.windows import load_window, read_reference

    def scored(frame: Any) -> Any:
        s = demo_data.default_probability(frame, concept_drift=False)
        return frame.assign(score=s, prediction=(s >= 0.5).astype("int64"), model_version="1")

    (root / "reference").mkdir(parents=True)
    scored(demo_data.make_reference(3, rows=3000, days=6)).to_parquet(root / "reference" / "ref.parquet")
    logs, _ = demo_data.make_day(1, 3, rows=600)
    logs = scored(logs)
    if huge:
        logs["purpose"] = logs["purpose"].astype(object)
        logs.loc[0:4, "purpose"] = "x" * 10_000_000
    start = demo_data.day_plan(1).start
    end = start + timedelta(days=1)
    day = root / "inference" / f"date={start:%Y-%m-%d}"
    day.mkdir(parents=True)
    logs.to_parquet(day / "part-0.parquet")
    config = yaml.safe_load((ROOT / "configs/models/credit-risk.yaml").read_text())
    config["expectations"]["suite"] = str(ROOT / "configs/expectations/credit-risk.yaml")
    config["sources"] = {
        "inference_logs": {"type": "parquet", "path": str(root / "inference"), "partitioning": "hive"},
        "reference": {"type": "parquet", "path": str(root / "reference" / "ref.parquet")},
    }
    config["segments"] = {"columns": ["purpose"]}
    (root / "m.yaml").write_text(yaml.safe_dump(config))
    loaded = load_config(root / "m.yaml")
    checks = standard_checks(root / "m.yaml", cache_dir=None, with_html=False)
    fitted = fit_checks((*checks, EvidentlyReportCheck()), read_reference(loaded), loaded)
    held: dict[str, Any] = {}

    def load() -> Any:
        data = load_window(loaded, start, end, labels=None)
        held["frame"] = data.frame
        return data

    result = evaluate_window(
        checks, fitted, config=loaded, config_hash="x", start=start, end=end, load=load, labels_complete=False
    )
    page = EvidentlyReportCheck().evaluate(
        fitted.get("evidently_report"), Window(loaded, start, end, held["frame"])
    )
    publication = result.publication.merge(page.publish()) if page is not None else result.publication
    total = len(result.report.to_json()) + len(result.report.to_markdown())
    total += sum(len(v) for v in publication.artifacts.values())
    total += sum(len(json.dumps(v, default=str)) for v in publication.tables.values())
    total += sum(len(v) for v in publication.markdown.values())
    return total


def huge_category_value(tmp: Path) -> tuple[str, str, bool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = _artifact_bytes(tmp / "plain", huge=False)
        huge = _artifact_bytes(tmp / "huge", huge=True)
    return (
        "a 10 MB category adds < 50 KB to the window's artifacts",
        f"{plain / 1e6:.2f} MB → {huge / 1e6:.2f} MB (+{(huge - plain) / 1e3:.1f} KB)",
        huge - plain < 50_000,
    )


def system_file_reference(tmp: Path) -> tuple[str, str, bool]:
    from watchkeeper.sources import SourceError
    from watchkeeper.windows import read_reference

    system = tmp / "system" / "shadow"
    system.parent.mkdir(parents=True)
    system.write_text("root:$6$PLANTEDhash:19000:0:99999:7:::\ndaemon,x,1\nbin:*:19000,0,99999,7\n")
    model = _Model(tmp / "system-model")
    update = {"reference": {"type": "csv", "path": str(system)}}
    sources = model.config.sources.model_validate({**model.config.sources.model_dump(), **update})
    config = model.config.model_copy(update={"sources": sources})
    try:
        read_reference(config)
        message = "read without an error"
    except SourceError as exc:
        message = str(exc)
    quoted = [p for p in ("PLANTED", "daemon", "99999") if p in message]
    return (
        "error names the file and row, quotes none of its lines",
        f"names file {str(system) in message}, quoted {quoted}",
        str(system) in message and not quoted,
    )


SCENARIOS: dict[str, Callable[[Path], tuple[str, str, bool]]] = {
    "data_rows_after_evaluation": rows_after_evaluation,
    "data_unmatched_labels": unmatched_labels,
    "data_label_path_typo": label_path_typo,
    "data_type_change_between_files": type_change_between_files,
    "data_one_class_reference": one_class_reference,
    "data_10mb_category_value": huge_category_value,
    "data_system_file_as_reference": system_file_reference,
}

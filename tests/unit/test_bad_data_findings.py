"""Bad data is a finding, never silence (issue 30, part 5): each case through the monitor's path.

Found by trying as a user: 20 of 220 logged rows stamped 30 days after the evaluation vanished with
verdict ok; labels for request ids no inference row has read `unmatched_labels` 0; a typo in the
ground truth's path was a note; a column that turned from ints to numeric strings between files
was cast silently; a one-class reference buried CBPE's failure in a status; a 10 MB category grew
the artifacts by 260 MB; a reference path pointing at a system file echoed one of its lines.

Each case runs what `flows/monitor.py` runs for a window, without Prefect: the labels read as of the
run's time, every check fitted on the reference and evaluated (`evaluate_window`), the run's data
findings added (`add_data_findings`), and the report judged by the built-in rules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from watchkeeper.bad_data import CLOCK_SKEW_ALLOWANCE, assess_labels
from watchkeeper.checks import standard_checks
from watchkeeper.config import MonitorConfig, parse_config
from watchkeeper.monitoring import add_data_findings, evaluate_window, fit_checks
from watchkeeper.report import MonitoringReport
from watchkeeper.sources import SourceError
from watchkeeper.verdict import Severity
from watchkeeper.windows import load_window, read_labels, read_reference, reevaluation_start

D1 = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
END = D1 + DAY
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # the run's wall clock: a replay of the window ending END
ROWS = 200
DATA_RULES = {
    "rows_after_evaluation",
    "unmatched_labels",
    "label_source_unreadable",
    "column_type_changed",
    "check_not_fitted",
}


def _rows(n: int, start: datetime, *, prefix: str, seed: int, income: Any = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}{i}" for i in range(n)],
            "timestamp": pd.date_range(start + timedelta(minutes=1), periods=n, freq="5min"),
            "income": rng.integers(1_000, 9_000, n) if income is None else income,
            "purpose": rng.choice(["car", "home", "study"], n),
            "score": score,
            "prediction": (score >= 0.5).astype("int64"),
        }
    )


class World:
    """A model's logs, labels and reference under `root`, and its config."""

    def __init__(self, root: Path, *, one_class: bool = False, labels_path: str | None = None) -> None:
        self.root = root
        rng = np.random.default_rng(0)
        reference = _rows(400, D1 - 10 * DAY, prefix="ref", seed=1)
        truth = (rng.uniform(0, 1, 400) < reference["score"]).astype("int64")
        reference["defaulted"] = 0 if one_class else truth
        (root / "reference").mkdir(parents=True)
        reference.to_parquet(root / "reference" / "ref.parquet")
        self.day = root / "inference" / f"date={D1:%Y-%m-%d}"
        self.day.mkdir(parents=True)
        self.logs = _rows(ROWS, D1, prefix="r", seed=1)  # drawn as the reference is: no drift
        self.logs.to_parquet(self.day / "part-0.parquet")
        (root / "labels").mkdir()
        self.config = parse_config(
            {
                "model": {"name": "m", "task": "binary_classification"},
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
                "segments": ["purpose"],
            }
        )

    def write_labels(self, ids: list[str], name: str = "part-0") -> None:
        # Outcomes as the model's scores predict them (no performance drop); 0/1 for unknown ids.
        score = pd.Series(self.logs["score"].to_numpy(), index=self.logs["request_id"])
        p = score.reindex(ids).fillna(0.5).to_numpy()
        pd.DataFrame(
            {
                "request_id": ids,
                "defaulted": (np.random.default_rng(9).uniform(0, 1, len(ids)) < p).astype("int64"),
                "label_timestamp": pd.Timestamp(END - timedelta(hours=1)),
            }
        ).to_parquet(self.root / "labels" / f"{name}.parquet")

    def judge(self, *, now: datetime = NOW) -> MonitoringReport:
        """The window ending END as its replay judges it (as of END; the wall clock is `now`)."""
        config: MonitorConfig = self.config
        labels = read_labels(config, since=reevaluation_start(config, D1), as_of=END)
        checks = standard_checks(self.root / "model.yaml", cache_dir=None, with_html=False)
        fitted = fit_checks(checks, read_reference(config), config)
        result = evaluate_window(
            checks,
            fitted,
            config=config,
            config_hash="test",
            start=D1,
            end=END,
            load=lambda: load_window(config, D1, END, labels=labels),
            labels_complete=False,
        )
        result = add_data_findings(result, config, as_of=END, now=now, labels=assess_labels(config, labels))
        return result.report


def _fired(report: MonitoringReport) -> dict[str, Severity]:
    return {f.rule_name: f.severity for f in report.findings}


def _notes(report: MonitoringReport) -> str:
    return json.dumps(report.to_dict()["sections"])


def test_a_clean_window_raises_none_of_the_data_rules(tmp_path: Path) -> None:
    # The control: every new figure is there (so a fixed fault resolves its alert), at zero.
    world = World(tmp_path)
    world.write_labels([f"r{i}" for i in range(0, ROWS, 2)])
    report = world.judge()
    figures = report.figures()
    assert figures["window.rows_after_evaluation"] == 0
    assert figures["window.type_changed_columns"] == 0
    assert figures["labels.unmatched"] == 0 and figures["labels.read"] == ROWS / 2
    assert figures["labels.unreadable"] == 0
    assert figures["checks.not_fitted"] == 0
    assert not set(_fired(report)) & DATA_RULES, report.reasons


def test_rows_stamped_after_the_evaluation_are_counted_named_and_fire(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.write_labels([f"r{i}" for i in range(0, ROWS, 2)])
    # 20 rows of the window's own file stamped 30 days after it (no window's read returns them: each
    # opens only its own days) …
    in_file = _rows(20, END + timedelta(days=30), prefix="late", seed=3)
    pd.concat([world.logs, in_file]).to_parquet(world.day / "part-0.parquet")
    # … 7 rows in a partition of their own, stamped after the run's wall clock (a clock ahead) …
    ahead_day = NOW + timedelta(days=30)
    (tmp_path / "inference" / f"date={ahead_day:%Y-%m-%d}").mkdir()
    _rows(7, ahead_day, prefix="ahead", seed=4).to_parquet(
        tmp_path / "inference" / f"date={ahead_day:%Y-%m-%d}" / "part-0.parquet"
    )
    # … and the next day's rows, after this replay's as_of but before the wall clock: a later
    # window's rows, in their own partition, legitimately there and not counted.
    next_day = tmp_path / "inference" / f"date={END:%Y-%m-%d}"
    next_day.mkdir()
    _rows(5, END + timedelta(hours=2), prefix="next", seed=5).to_parquet(next_day / "part-0.parquet")
    report = world.judge()
    assert report.figures()["window.rows"] == ROWS
    assert report.figures()["window.rows_after_evaluation"] == 27
    assert _fired(report)["rows_after_evaluation"] is Severity.WARNING
    assert report.verdict >= Severity.WARNING
    note = report.section("window").after_evaluation
    assert "27 row(s)" in note and str(tmp_path / "inference") in note
    assert "20 in this window's files, after 2026-03-02 00:05 UTC" in note
    assert f"7 elsewhere, after the run's clock {NOW + CLOCK_SKEW_ALLOWANCE:%Y-%m-%d %H:%M} UTC" in note
    assert "stamped from 2026-04-01 00:01 to 2026-04-09 12:31 UTC" in note  # the rows' own time range
    assert note in report.section("window").notes


def test_labels_matching_no_logged_request_are_counted_and_fire(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.write_labels([f"r{i}" for i in range(0, ROWS, 2)] + [f"ghost-{i}" for i in range(50)])
    report = world.judge()
    figures = report.figures()
    assert figures["labels.unmatched"] == 50 and figures["labels.read"] == ROWS / 2 + 50
    assert figures["labels.unmatched_share"] == pytest.approx(50 / 150)
    # The performance section's own count, which read 0 before, says the same.
    assert report.section("perf").to_dict()["unmatched_labels"] == 50
    assert _fired(report)["unmatched_labels"] is Severity.WARNING
    labels = report.section("labels")
    sentence = labels.describe_unmatched()
    assert "50 of 150 label(s)" in sentence and "'ghost-0'" in sentence and "47 more" in sentence
    # The range searched: from the earliest window the labels could belong to, to the run's as_of.
    assert "2026-02-24 00:00 to 2026-03-02 00:00" in sentence


def test_a_few_stray_labels_stay_below_the_threshold(tmp_path: Path) -> None:
    # 1 stray label in 101: counted (the figure says so), below the 1 % threshold of the rule.
    world = World(tmp_path)
    world.write_labels([f"r{i}" for i in range(0, ROWS, 2)] + ["ghost-1"])
    report = world.judge()
    assert report.figures()["labels.unmatched"] == 1
    assert "unmatched_labels" not in _fired(report)


def test_an_unreadable_label_source_is_critical_and_named(tmp_path: Path) -> None:
    typo = str(tmp_path / "lables")
    world = World(tmp_path, labels_path=typo)
    report = world.judge()
    assert report.figures()["labels.unreadable"] == 1
    assert _fired(report)["label_source_unreadable"] is Severity.CRITICAL
    assert report.verdict is Severity.CRITICAL
    assert typo in report.section("labels").error and "does not exist" in report.section("labels").error
    # The rest of the window is still judged.
    assert report.figures()["window.rows"] == ROWS and "drift.share" in report.figures()


def test_an_empty_label_directory_is_no_labels_yet_not_unreadable(tmp_path: Path) -> None:
    # A new model: the ground truth's directory exists and no label has arrived.
    report = World(tmp_path).judge()
    assert report.figures()["labels.unreadable"] == 0 and report.figures()["labels.read"] == 0
    assert "label_source_unreadable" not in _fired(report)


def test_a_column_that_changed_type_between_files_is_named_not_cast_silently(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.write_labels([f"r{i}" for i in range(0, ROWS, 2)])
    strings = _rows(
        50, D1 + timedelta(hours=18), prefix="s", seed=5, income=[str(1000 + i) for i in range(50)]
    )
    strings.to_parquet(world.day / "part-1.parquet")
    report = world.judge()
    assert report.figures()["window.rows"] == ROWS + 50  # read, cast to the first file's type
    assert report.figures()["window.type_changed_columns"] == 1
    assert _fired(report)["column_type_changed"] is Severity.WARNING
    (change,) = report.section("window").type_changes
    assert "'income'" in change and "int64 in " in change and "string in " in change
    assert "part-0.parquet" in change and "part-1.parquet" in change and "read as int64" in change


def test_a_check_that_could_not_fit_is_critical_naming_the_check_and_why(tmp_path: Path) -> None:
    world = World(tmp_path, one_class=True)
    world.write_labels([f"r{i}" for i in range(0, ROWS, 2)])
    report = world.judge()
    assert report.figures()["checks.not_fitted"] >= 1
    assert _fired(report)["check_not_fitted"] is Severity.CRITICAL
    assert report.verdict is Severity.CRITICAL
    why = report.section("checks").not_fitted["perf.cbpe"]
    assert "single class" in why


def test_a_10mb_category_adds_kilobytes_to_the_artifacts_not_megabytes(tmp_path: Path) -> None:
    def artifact_bytes(root: Path, huge: bool) -> int:
        world = World(root)
        world.write_labels([f"r{i}" for i in range(0, ROWS, 2)])
        if huge:
            logs = world.logs.assign(purpose=world.logs["purpose"].astype(object))
            logs.loc[:4, "purpose"] = "x" * 10_000_000
            logs.to_parquet(world.day / "part-0.parquet")
        report = world.judge()
        alerts = "".join(f.message for f in report.findings)
        return len(report.to_json()) + len(report.to_markdown()) + len(alerts)

    plain, huge = artifact_bytes(tmp_path / "plain", False), artifact_bytes(tmp_path / "huge", True)
    # The bound: the value is quoted as a segment name of at most 64 characters (a hash keeps it
    # distinct), and as text of at most 200 plus "… (N more characters)".
    assert huge - plain < 20_000, (plain, huge)


def test_a_reference_pointing_at_a_system_file_never_quotes_it(tmp_path: Path) -> None:
    secret = "root:$6$s3cr3tHASH:19000:0:99999:7:::"
    system = tmp_path / "shadow"
    system.write_text(f"{secret}\ndaemon,x,1\nbin:*:19000,0,99999,7\n")
    world = World(tmp_path)
    config = world.config.model_copy(
        update={
            "sources": world.config.sources.model_copy(
                update={"reference": parse_config_source({"type": "csv", "path": str(system)})}
            )
        }
    )
    with pytest.raises(SourceError) as raised:
        read_reference(config)
    message = str(raised.value)
    assert str(system) in message
    for part in ("s3cr3t", "daemon", "99999", "bin:"):
        assert part not in message


def test_a_one_line_system_file_is_not_quoted_as_its_column_names(tmp_path: Path) -> None:
    # A CSV's column names are its first line: the "missing column(s)" error lists plain names only.
    system = tmp_path / "hostname"
    system.write_text("db-primary:5432:replica-secret\n")
    world = World(tmp_path)
    update = {"reference": parse_config_source({"type": "csv", "path": str(system)})}
    config = world.config.model_copy(update={"sources": world.config.sources.model_copy(update=update)})
    with pytest.raises(SourceError) as raised:
        read_reference(config)
    message = str(raised.value)
    assert "missing column(s)" in message and "1 column name(s) not shown" in message
    assert "replica-secret" not in message


def parse_config_source(data: dict[str, Any]) -> Any:
    from pydantic import TypeAdapter

    from watchkeeper.sources import SourceConfig

    return TypeAdapter(SourceConfig).validate_python(data)


def test_a_csv_parse_error_names_the_row_not_the_line(tmp_path: Path) -> None:
    from watchkeeper.sources.files import FileSource

    path = tmp_path / "ref.csv"
    path.write_text("income,score\n1,0.5\n2,0.4,hunter2-password\n")
    with pytest.raises(SourceError) as raised:
        FileSource(str(path), format="csv").read(columns=["income"])
    message = str(raised.value)
    assert str(path) in message and "Row #3" in message and "Expected 2 columns, got 3" in message
    assert "hunter2" not in message

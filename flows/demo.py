"""`watchkeeper demo`: a credit-risk model in production for 14 simulated days, monitored end to end.

Everything runs on the embedded defaults: Parquet files and SQLite (MLflow and Watchkeeper's state)
under the state directory, and Prefect's local ephemeral server. Each simulated day writes that day's
inference logs scored by the current `champion`, the labels that arrive that day (three days late),
then runs the monitor flow for the day, exactly as the scheduled deployment would.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from watchkeeper import demo_data, retraining
from watchkeeper.alerting.messages import firing_since
from watchkeeper.config import MonitorConfig, load_config
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import open_state, state_dir
from watchkeeper.training import train_default

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO_ROOT / "configs" / "models" / "credit-risk.yaml"
HOUSE_CONFIG = REPO_ROOT / "configs" / "models" / "house-prices.yaml"
_MARKER = ".watchkeeper-demo"


def _prepare_state_dir(fresh: bool) -> Path:
    root = state_dir()
    if root.exists() and any(root.iterdir()):
        if not (root / _MARKER).exists() and not fresh:
            raise SystemExit(
                f"{root} holds state that the demo did not create; run with --fresh to replace it, "
                "or set WATCHKEEPER_STATE_DIR to another directory"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("created by `watchkeeper demo`; safe to delete\n")
    return root


def _write_partition(frame: pd.DataFrame, base: Path, key: str, value: str) -> None:
    target = base / f"{key}={value}"
    target.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target / "part-0.parquet", index=False)


def train_first_champion(
    config: MonitorConfig, reference_path: Path, seed: int, *, client: MlflowClient
) -> dict[str, str]:
    """Train version 1 on older history, score the newer history with it: that is the reference."""
    history = demo_data.make_reference(seed, rows=30_000, days=20)
    cutoff = history["timestamp"].min() + pd.Timedelta(days=8)
    train = history[history["timestamp"] < cutoff].reset_index(drop=True)
    reference = history[history["timestamp"] >= cutoff].reset_index(drop=True)
    model = train_default(train, columns=config.columns, task=config.model.task, seed=seed)
    reference = retraining.score_rows(model, reference, config)
    reference_path.parent.mkdir(parents=True, exist_ok=True)
    reference.to_parquet(reference_path, index=False)
    return register_first_champion(config, model, train, client=client)


def register_first_champion(
    config: MonitorConfig, model: Any, train: pd.DataFrame, *, client: MlflowClient
) -> dict[str, str]:
    """Register `model` as version 1 of the config's registered model, under its serving alias: the
    monitor loads the version that scored a window from the registry (drift impact) and links each
    window's MLflow run to it."""
    from tasks.registry_tasks import register_model

    return register_model(
        model,
        client=client,
        experiment=f"{config.experiment_name}/training",
        registered_name=config.model.registry_name,
        training_frame=train,
        columns=config.columns,
        task_type=config.model.task,
        dataset_name=f"{config.model.name}-history",
        params={"trainer": "watchkeeper.training:train_default", "rows": len(train)},
        metrics={},
        version_tags={"watchkeeper.trigger": "initial"},
        aliases=(config.model.alias,),
    )


def demo(
    days: int = demo_data.DAYS,
    rows_per_day: int = 2_000,
    seed: int = 7,
    fresh: bool = False,
    house_prices: bool = True,
) -> list[dict[str, Any]]:
    """Simulate `days` days of production and monitor each; returns the per-day rows printed."""
    apply_runtime_defaults()
    from flows.monitor import monitor
    from tasks.registry_tasks import alias_version, load_model_version
    from tasks.tracking_tasks import open_tracking

    started = time.monotonic()
    root = _prepare_state_dir(fresh)
    config = load_config(DEMO_CONFIG)
    data_dir = root / "demo"
    tracking = open_tracking(config.tracking)
    print(f"Watchkeeper demo: state in {root}")
    first = train_first_champion(
        config, data_dir / "reference" / "champion.parquet", seed, client=tracking.client
    )
    print(f"trained and registered {config.model.registry_name} v{first['version']} as @{config.model.alias}")

    models: dict[str, Any] = {}
    pending_labels: dict[int, pd.DataFrame] = {}
    # Labels arrive from day 4: their directory exists, empty, before (a missing one is a finding).
    (data_dir / "ground_truth").mkdir(parents=True, exist_ok=True)
    reports = {}
    for day in range(1, days + 1):
        plan = demo_data.day_plan(day)
        version = alias_version(tracking.client, config.model.registry_name, config.model.alias)
        assert version is not None, "the demo registers a champion before day 1"
        if version not in models:
            models[version] = load_model_version(tracking.client, config.model.registry_name, version)
        logs, labels = demo_data.make_day(day, seed, rows=rows_per_day)
        logs = retraining.score_rows(models[version], logs, config)
        logs["model_version"] = version
        _write_partition(logs, data_dir / "inference", "date", f"{plan.start:%Y-%m-%d}")
        pending_labels[day] = labels
        arrived = pending_labels.pop(day - 3, None)
        if arrived is not None:
            _write_partition(arrived, data_dir / "ground_truth", "arrived", f"{plan.start:%Y-%m-%d}")
        # The demo replaced its state directory: its first day starts a new history (audited only
        # where a tracking server kept the anchors of an earlier demo).
        report = monitor(str(DEMO_CONFIG), window_end=plan.start + timedelta(days=1), new_history=not reports)
        reports[day] = report
        reason = report.reasons[0].split("] ", 1)[-1] if report.reasons else ""
        reason = reason if len(reason) <= 90 else reason[:89] + "…"
        more = f" (+{len(report.reasons) - 1} more)" if len(report.reasons) > 1 else ""
        print(
            f"day {day:2d} {plan.start:%Y-%m-%d}  v{version}  {report.verdict.label:<8} {reason}{more}",
            flush=True,
        )

    rows = per_day_rows(config, days, {d: r.model_versions for d, r in reports.items()})
    print()
    print(format_table(rows))
    print()
    print("\n".join(episode_lines(config)))
    if house_prices:
        house_rows = run_house_prices(days, data_dir / "house-prices", seed, rows_per_day)
        print()
        print(format_table(house_rows))
    print()
    print(f"Done in {time.monotonic() - started:.0f} s. Open the results:")
    print("\n".join(closing_lines(config, tracking)))
    return rows


def _bin(tool: str) -> str:
    # The commands of the environment the demo ran in, relative to the working directory if inside it.
    path = Path(sys.executable).parent / tool
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def closing_lines(config: MonitorConfig, tracking: Any) -> list[str]:
    """Where the demo's results are: the dashboard, the MLflow UI and the Prefect UI that holds the
    runs (the configured server, or how to keep them next time when the temporary one was used)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    from tasks import temporary_server
    from tasks.dashboard_tasks import dashboard_path
    from watchkeeper.tracking import experiment_url

    lines = [f"  Dashboard:  {dashboard_path(config.model.name).as_uri()}"]
    exp = tracking.client.get_experiment_by_name(config.experiment_name)
    experiment_id = exp.experiment_id if exp is not None else "0"
    if tracking.uri.startswith(("http://", "https://")):
        lines.append(f"  MLflow UI:  {experiment_url(tracking.ui_url, experiment_id)}")
    else:
        port = urlsplit(tracking.ui_url).port or 5000
        lines.append(
            f"  MLflow UI:  {_bin('mlflow')} ui --backend-store-uri {tracking.uri} --port {port}"
            f"  # then {experiment_url(tracking.ui_url, experiment_id)}"
        )
    api = PREFECT_API_URL.value()
    if api and not temporary_server.in_use():
        ui = PREFECT_UI_URL.value() or api.removesuffix("/api")
        lines.append(f"  Prefect UI: {ui}/runs (the runs of this demo are there)")
    else:
        prefect = _bin("prefect")
        lines.append(
            "  Prefect UI: the runs went to a temporary server that has stopped; to keep them, start one"
        )
        lines.append(f"              ({prefect} server start --host 127.0.0.1 --port 4200) and run the demo")
        lines.append("              with PREFECT_API_URL=http://127.0.0.1:4200/api")
    return lines


def run_house_prices(days: int, base: Path, seed: int, rows_per_day: int = 2_000) -> list[dict[str, Any]]:
    """The second demo model: house prices (regression) whose quality drops from day 8 without labels.

    Its model is registered like the first one (version 1 as the champion, which scored every day).
    Sale prices arrive five days late, so the drop is first estimated by DLE; returns one row per day.
    """
    from flows.monitor import monitor
    from tasks.tracking_tasks import open_tracking

    config = load_config(HOUSE_CONFIG)
    print(f"\nhouse-prices: a regression model, sale prices {demo_data.HOUSE_LABEL_DELAY.days} days late")
    history = demo_data.make_house_reference(seed, rows=16_000, days=16)
    cutoff = history["timestamp"].min() + pd.Timedelta(days=4)
    train = history[history["timestamp"] < cutoff].reset_index(drop=True)
    model = train_default(train, columns=config.columns, task=config.model.task, seed=seed)
    client = open_tracking(config.tracking).client
    version = register_first_champion(config, model, train, client=client)["version"]
    print(f"trained and registered {config.model.registry_name} v{version} as @{config.model.alias}")
    reference = retraining.score_rows(
        model, history[history["timestamp"] >= cutoff].reset_index(drop=True), config
    )
    base.mkdir(parents=True, exist_ok=True)
    (base / "ground_truth").mkdir(exist_ok=True)  # sale prices arrive later: the directory is there
    reference.to_parquet(base / "reference.parquet", index=False)
    pending: dict[int, pd.DataFrame] = {}
    lag = demo_data.HOUSE_LABEL_DELAY.days
    for day in range(1, days + 1):
        plan = demo_data.day_plan(day)
        logs, labels = demo_data.make_house_day(day, seed, rows=rows_per_day)
        logs = retraining.score_rows(model, logs, config)
        logs["model_version"] = version
        _write_partition(logs, base / "inference", "date", f"{plan.start:%Y-%m-%d}")
        pending[day] = labels
        arrived = pending.pop(day - lag, None)
        if arrived is not None:
            _write_partition(arrived, base / "ground_truth", "arrived", f"{plan.start:%Y-%m-%d}")
        report = monitor(str(HOUSE_CONFIG), window_end=plan.start + timedelta(days=1), new_history=day == 1)
        reason = report.reasons[0].split("] ", 1)[-1] if report.reasons else ""
        reason = reason if len(reason) <= 90 else reason[:89] + "…"
        print(f"day {day:2d} {plan.start:%Y-%m-%d}  {report.verdict.label:<8} {reason}", flush=True)
    windows = {w["window_end"]: w for w in open_state().list_windows(config.model.name)}
    rows = []
    for day in range(1, days + 1):
        end = demo_data.day_plan(day).start + timedelta(days=1)
        w = windows.get(end) or {}
        figures: dict[str, float] = w.get("summary", {}).get("figures", {})
        rows.append(
            {
                "day": day,
                "date": f"{end - timedelta(days=1):%Y-%m-%d}",
                "verdict": w.get("verdict", "-"),
                "labels": figures.get("window.label_coverage"),
                "mae_est (DLE)": figures.get("perf.estimated.mae"),
                "mae_band_upper": figures.get("perf.band.mae.upper"),
                "mae_real": figures.get("perf.realized.mae"),
                "drift_share": figures.get("drift.share"),
                "multivar": _multivariate_cell(
                    figures.get("drift.multivariate.alert"),
                    figures.get("drift.multivariate.domain_classifier.alert"),
                ),
            }
        )
    return rows


def per_day_rows(
    config: MonitorConfig, days: int, versions: dict[int, tuple[str, ...]] | None = None
) -> list[dict[str, Any]]:
    """One row per simulated day from each window's latest evaluation (after late labels)."""
    store = open_state()
    windows = {w["window_end"]: w for w in store.list_windows(config.model.name)}
    # What the loop did in each day's run: retrained, promoted / rejected a challenger.
    actions: dict[Any, list[str]] = {}
    for entry in store.read_audit(model=config.model.name):
        evidence = entry["evidence"]
        label = {
            retraining.EVENT_RETRAIN_COMPLETED: f"retrained v{evidence.get('version', '?')}",
            retraining.EVENT_PROMOTED: f"promoted v{evidence.get('version', '?')}",
            retraining.EVENT_REJECTED: f"rejected v{evidence.get('version', '?')}",
            retraining.EVENT_ROLLBACK: "rolled back",
        }.get(entry["event"])
        if label and entry["window_end"] is not None:
            actions.setdefault(entry["window_end"], []).append(label)
    # Alert transitions per window, from the audit trail: +fired, -resolved.
    alerts: dict[Any, list[str]] = {}
    for entry in store.read_audit(model=config.model.name):
        sign = {"alert.fired": "+", "alert.resolved": "-"}.get(entry["event"])
        rule = entry["evidence"].get("rule")
        if sign and rule and entry["window_end"] is not None:
            mark = f"{sign}{rule}"
            bucket = alerts.setdefault(entry["window_end"], [])
            if mark not in bucket:
                bucket.append(mark)
    versions = versions or {}
    rows = []
    for day in range(1, days + 1):
        end = demo_data.day_plan(day).start + timedelta(days=1)
        w = windows.get(end)
        figures: dict[str, float] = (w or {}).get("summary", {}).get("figures", {})

        def fig(name: str, figures: dict[str, float] = figures) -> float | None:
            return figures.get(name)

        rows.append(
            {
                "day": day,
                "date": f"{end - timedelta(days=1):%Y-%m-%d}",
                "version": ",".join(f"v{v}" for v in versions.get(day, ())) or "-",
                "rows": int(fig("window.rows") or 0),
                "verdict": (w or {}).get("verdict", "-"),
                "labels": fig("window.label_coverage"),
                "drift_share": fig("drift.share"),
                "invalid": None
                if fig("validation.critical_failures") is None
                else int(fig("validation.critical_failures") or 0),
                "p95_ms": fig("serving.latency_p95_ms"),
                "multivar": _multivariate_cell(
                    fig("drift.multivariate.alert"), fig("drift.multivariate.domain_classifier.alert")
                ),
                "auc_est": fig("perf.estimated.roc_auc"),
                "auc_real": fig("perf.realized.roc_auc"),
                "concept": None
                if fig("perf.concept_drift") is None
                else ("yes" if fig("perf.concept_drift") else "no"),
                "alerts (+fired -resolved)": " ".join(alerts.get(end, [])) or "-",
                "actions": ", ".join(actions.get(end, [])) or "-",
            }
        )
    return rows


def episode_lines(config: MonitorConfig) -> list[str]:
    """The alert episodes of the demo from the audit trail: how many fired and resolved, and each
    one still open (an incident still going on at the end of the demo)."""
    from watchkeeper.alerting.episodes import alert_episodes

    episodes = alert_episodes(open_state().read_audit(model=config.model.name))
    still = [e for e in episodes if e.open]
    lines = [
        f"Alert episodes: {len(episodes)} fired, {len(episodes) - len(still)} resolved, {len(still)} still open"
    ]
    for e in still:
        # Said as every alert says it (`firing_since`: the end of the window it fired in).
        since = firing_since(e.fired_window, None) or "firing since ?"
        lines.append(f"  open: {e.rule} ({e.severity}) {since}")
    return lines


def _multivariate_cell(pca: float | None, classifier: float | None) -> str | None:
    """`yes` when the PCA reconstruction or the domain classifier alerts (multivariate drift)."""
    if pca is None and classifier is None:
        return None
    return "yes" if (pca or 0) or (classifier or 0) else "no"


def format_table(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
        return str(value)

    headers = list(rows[0]) if rows else []
    table = [[cell(r[h]) for h in headers] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)

"""The per-model dashboard from MLflow and the state database: written to a file, logged to MLflow.

`watchkeeper.dashboard` builds the page from plain data; this module reads the window runs' metrics
from MLflow (one search per page of runs), writes `<state>/dashboards/<model>.html`, and keeps one
MLflow run per experiment (tag ``watchkeeper.kind = dashboard``) whose `dashboard.html` artifact is
replaced by every monitor run, so the MLflow UI shows the latest page without a copy per window.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.tracking_tasks import Tracking, ensure_experiment, open_tracking
from watchkeeper import tracking as wk_tracking
from watchkeeper.config import MonitorConfig, load_config
from watchkeeper.dashboard import collect_dashboard_data, render_dashboard
from watchkeeper.state import StateStore, open_state, state_dir
from watchkeeper.storage import naming_errors, write_atomically
from watchkeeper.timeutil import utcnow

log = logging.getLogger("watchkeeper.dashboard")

DASHBOARD_ARTIFACT = "dashboard.html"
KIND_DASHBOARD = "dashboard"


def dashboard_path(model: str, root: Path | None = None) -> Path:
    """Where a model's dashboard is written: ``<state dir>/dashboards/<model>.html``."""
    return (root or state_dir()) / "dashboards" / f"{model}.html"


def read_window_metrics(tracking: Tracking, experiment: str) -> dict[str, dict[str, float]]:
    """The latest metrics of every window run of the experiment, by run id."""
    client = tracking.client
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    token = None
    while True:
        page = client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.`{wk_tracking.TAG_KIND}` = 'monitor'",
            max_results=1000,
            page_token=token,
        )
        out.update({r.info.run_id: dict(r.data.metrics) for r in page})
        token = page.token
        if not token:
            return out


def build_dashboard(
    config: MonitorConfig,
    store: StateStore,
    tracking: Tracking | None,
    *,
    since: datetime | timedelta | None = None,
) -> str:
    """The dashboard page of `config`'s model (figures from MLflow when reachable, else the state DB)."""
    metrics: dict[str, dict[str, float]] = {}
    if tracking is not None:
        try:
            metrics = read_window_metrics(tracking, config.experiment_name)
        except Exception as exc:  # the state database keeps the same figures: draw from those
            log.warning("MLflow unavailable for the dashboard, using the state database: %s", exc)
    data = collect_dashboard_data(
        store,
        config.model.name,
        now=utcnow(),
        since=since,
        run_metrics=metrics,
        timezone=config.window.timezone,
    )
    return render_dashboard(data)


def log_dashboard(tracking: Tracking, experiment: str, model: str, page: str) -> dict[str, str]:
    """Replace the experiment's dashboard artifact; returns the run id and its MLflow UI link."""
    client = tracking.client
    experiment_id = ensure_experiment(client, experiment)
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{wk_tracking.TAG_KIND}` = '{KIND_DASHBOARD}'", max_results=1
    )
    if found:
        run_id = found[0].info.run_id
    else:
        run = client.create_run(
            experiment_id,
            run_name=f"{model} dashboard (latest)",
            tags={wk_tracking.TAG_KIND: KIND_DASHBOARD, wk_tracking.TAG_MODEL: model},
        )
        run_id = run.info.run_id
    client.log_text(run_id, page, DASHBOARD_ARTIFACT)
    client.set_terminated(run_id)
    url = tracking.run_url(experiment_id, run_id, f"/artifacts/{DASHBOARD_ARTIFACT}")
    return {"run_id": run_id, "url": url}


@task(name="refresh-dashboard", cache_policy=NO_CACHE)
def refresh_dashboard(
    config: MonitorConfig, store: StateStore, tracking: Tracking, *, root: Path
) -> dict[str, Any]:
    """Regenerate the model's dashboard after this run's windows: write the file, log it to MLflow.

    Best effort: a dashboard that cannot be built or logged is a warning, never a failed monitor run.
    Returns ``{"path": ..., "mlflow_url": ... or None}``.
    """
    page = build_dashboard(config, store, tracking)
    path = dashboard_path(config.model.name, root)
    with naming_errors("creating the dashboard directory", path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, page, what="the dashboard")
    url = None
    try:
        url = log_dashboard(tracking, config.experiment_name, config.model.name, page)["url"]
    except Exception as exc:
        log.warning("could not log the dashboard to MLflow: %s", exc)
    return {"path": str(path), "mlflow_url": url}


def write_dashboard_file(
    config_path: str, *, since: datetime | timedelta | None = None, out: str | None = None
) -> Path:
    """`watchkeeper dashboard`: write the model's dashboard to `out` (default: the state directory)."""
    config = load_config(config_path)
    page = build_dashboard(config, open_state(), open_tracking(config.tracking), since=since)
    path = Path(out) if out else dashboard_path(config.model.name)
    with naming_errors("creating the dashboard directory", path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomically(path, page, what="the dashboard").resolve()

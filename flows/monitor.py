"""The scheduled monitoring flow: one model, one window, one verdict.

The composition root of a monitoring run: the flow body loads the config and opens the state store,
the MLflow client and the alert channels once, reads the run's labels once, and passes them down.
It fits the checks on the reference (once per reference), evaluates the window
(`watchkeeper.monitoring.evaluate_window`, each step a Prefect task), re-evaluates recent windows
whose late labels have arrived, and for each window: alerts, logs to MLflow, publishes the Prefect
artifacts and records the evaluation in the state database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from flows.critical_window import mark_critical
from flows.retrain import maybe_trigger_retraining
from tasks.alert_tasks import evaluate_alerts, open_alert_channels
from tasks.artifact_tasks import CURRENT_RUN, CurrentRun, WindowCard, add_card_link, publish_window_artifacts
from tasks.check_tasks import run_step, submit_step
from tasks.dashboard_tasks import dashboard_path, refresh_dashboard
from tasks.data_tasks import load_labels, load_reference_data, open_model_config
from tasks.impact_tasks import open_model_source
from tasks.metrics_tasks import push_window
from tasks.observability import run_logger, run_logging
from tasks.outage_tasks import notify_tracking_unavailable, run_final_state, with_tracking_notes
from tasks.presentation_tasks import add_flow_run_tags, name_monitor_run, reevaluation_preface
from tasks.registry_tasks import config_for_champion
from tasks.scale_tasks import evaluate_partitioned_window
from tasks.state_tasks import record_window, windows_with_new_labels
from tasks.tracking_tasks import (
    Tracking,
    attach_to_window_run,
    check_history,
    checkpoint_history,
    flush_mlflow_spool,
    log_to_mlflow,
    open_tracking,
    open_window_run,
    report_payload,
    spool_dir,
    spool_report,
    update_summary_run,
)
from watchkeeper.alerting import AlertContext, Channel
from watchkeeper.anchor import CHECKPOINT_ENV
from watchkeeper.backfill import PreparedWindow
from watchkeeper.bad_data import LabelsReport, assess_labels
from watchkeeper.checks import Check, EvidentlyReportCheck, HtmlAttachment, Window, standard_checks
from watchkeeper.config import LoadedConfig, MonitorConfig
from watchkeeper.drift import DriftReport
from watchkeeper.drift.html import EvidentlyInputs
from watchkeeper.drift.impact import order_drift_rows, rank_drift_impact
from watchkeeper.drift.reset_impact import ResetImpactCheck
from watchkeeper.execution import ExecutionConfig, resolve_execution
from watchkeeper.health.latest import read_latest_health
from watchkeeper.monitoring import (
    FittedChecks,
    WindowEvaluation,
    add_data_findings,
    evaluate_window,
    fit_checks,
    with_sections,
)
from watchkeeper.partitioned.engine import plan_window
from watchkeeper.performance import PerformanceReport, feed_pending_detectors
from watchkeeper.performance.config import default_primary_metric
from watchkeeper.presentation import (
    WindowVerdict,
    critical_windows,
    labels_tags,
    monitor_run_name,
    reevaluation_tag,
    run_verdict,
    verdict_log_level,
    verdict_tags,
)
from watchkeeper.report import MonitoringReport
from watchkeeper.runtime import apply_runtime_defaults
from watchkeeper.state import StateStore, open_state, state_dir
from watchkeeper.timegrid import FutureWindowError
from watchkeeper.timeutil import utcnow
from watchkeeper.windows import (
    Labels,
    WindowData,
    count_labels,
    load_window,
    read_model_versions,
    reevaluation_start,
    window_bounds,
    windows_between,
)

# The performance check's sequential detectors carry their state from window to window here.
DETECTOR_NAMESPACE = "perf-detectors"


@dataclass(frozen=True)
class MonitorRun:
    """What one monitoring run opened once and hands to every step."""

    loaded: LoadedConfig
    store: StateStore
    tracking: Tracking
    channels: list[Channel]
    state_dir: Path
    labels: Labels | None
    # What the run's labels say of themselves (an unreadable source, labels matching no request):
    # the `labels` section of every window the run evaluates.
    labels_report: LabelsReport | None
    execution: ExecutionConfig
    # The run judges as of this time: its labels are those that had arrived by then (unless in
    # hindsight) and a window's labels are complete once its label lag has passed it.
    as_of: datetime
    hindsight: bool = False
    # Where the audit checkpoint also goes (`$WATCHKEEPER_AUDIT_CHECKPOINT`: a file or an http(s) URL).
    checkpoint_target: str | None = None

    @property
    def config(self) -> MonitorConfig:
        return self.loaded.config


def _flow_run_url() -> str | None:
    # Without a UI (Prefect's temporary local server) Prefect builds "None/flow-runs/…": no link then.
    url = flow_run.get_flow_run_ui_url()
    return url if url and url.startswith("http") else None


def evaluate(
    run: MonitorRun,
    checks: tuple[Check, ...],
    fitted: FittedChecks,
    start: datetime,
    end: datetime,
    *,
    as_of: datetime,
    human_report: list[EvidentlyInputs] | None = None,
) -> WindowEvaluation:
    """Run every check on one window; a failing check is reported and the others still run.

    With `human_report`, the samples for Evidently's page are taken while the window is in memory
    and appended there, for `attach_human_report` to render once the window is published.
    """
    config, store = run.config, run.store
    labels_complete = end + config.window.label_lag <= as_of
    detectors = {"perf": store.get_json(DETECTOR_NAMESPACE, config.model.name)}
    # A window beyond the memory budget is cut into partitions (`execution:` in the config).
    source = plan_window(config, run.execution, start, end)
    if source is not None:
        partitioned = evaluate_partitioned_window(
            fitted,
            source,
            run.execution,
            config=config,
            config_hash=run.loaded.hash,
            start=start,
            end=end,
            labels=run.labels,
            labels_complete=labels_complete,
            state=detectors,
            extra_sections=_health_sections(run),
            flow_run_id=flow_run.get_id(),
            checks=checks,
        )
        return finish_evaluation(run, partitioned, end)

    def load() -> WindowData:
        data = load_window(config, start, end, labels=run.labels)
        if human_report is not None:
            window = Window(config, start, end, data.frame, labels_complete=labels_complete, state={})
            inputs = EvidentlyReportCheck().prepare(fitted.get(EvidentlyReportCheck.name), window)
            if inputs is not None:
                human_report.append(inputs)
        return data

    # Labels are complete once the label lag has passed; only then do the sequential detectors consume
    # the window's error stream (each labeled row exactly once, in time order).
    result = evaluate_window(
        checks,
        fitted,
        config=config,
        config_hash=run.loaded.hash,
        start=start,
        end=end,
        load=load,
        labels_complete=labels_complete,
        state=detectors,
        extra_sections=_health_sections(run),
        flow_run_id=flow_run.get_id(),
        run=run_step,
        log=run_logger("watchkeeper.monitor"),
    )
    return finish_evaluation(run, result, end)


def finish_evaluation(run: MonitorRun, result: WindowEvaluation, end: datetime) -> WindowEvaluation:
    """What a window's evaluation needs of the windows before it: the detectors fed from the state
    the previous window left (now, for a window prepared ahead of its turn), that state saved, and
    the drift-impact ranking over the windows recorded before it."""
    config, store = run.config, run.store
    # Every window the run evaluates (re-evaluations too: without the figures they would retract
    # what the window's first run fired) carries what the run knows of its data.
    result = with_data_findings(run, result)
    labels_as_of = run.labels.cutoff if run.labels is not None else None
    result = replace(
        result, report=replace(result.report, labels_as_of=labels_as_of, hindsight=run.hindsight)
    )
    perf = result.report.section("perf")
    if isinstance(perf, PerformanceReport) and perf.pending is not None:
        perf = feed_pending_detectors(perf, store.get_json(DETECTOR_NAMESPACE, config.model.name))
        result = with_sections(result, {"perf": perf})
        result = replace(result, publication=result.publication.merge(perf.publish()))
    if perf is not None and perf.detectors_fed:
        store.put_json(DETECTOR_NAMESPACE, config.model.name, perf.detector_state)
    return _with_drift_impact(run, result, end)


def with_data_findings(run: MonitorRun, result: WindowEvaluation) -> WindowEvaluation:
    """The window with what the run knows of its data beyond the window's rows
    (`watchkeeper.monitoring.add_data_findings`: rows stamped after the evaluation time, the run's
    `labels` section). A failure to count the rows is the window's error, never the window's loss."""
    try:
        return add_data_findings(result, run.config, as_of=run.as_of, now=utcnow(), labels=run.labels_report)
    except Exception as exc:
        run_logger("watchkeeper.monitor").exception("counting the rows stamped after the evaluation failed")
        errors = {**result.report.errors, "window": f"{type(exc).__name__}: {exc}"}
        result = replace(result, report=replace(result.report, errors=errors))
        labels = run.labels_report
        return with_sections(result, {"labels": labels}) if labels is not None else result


def take_prepared(run: MonitorRun, prepared: PreparedWindow) -> WindowEvaluation:
    """A window prepared ahead of its turn (a parallel backfill), finished in it: this run's id, the
    host's latest health, the detectors and drift impact (`finish_evaluation`)."""
    report = replace(prepared.evaluation.report, flow_run_id=flow_run.get_id())
    result = with_sections(replace(prepared.evaluation, report=report), _health_sections(run))
    return finish_evaluation(run, result, prepared.end)


def _with_drift_impact(run: MonitorRun, result: WindowEvaluation, end: datetime) -> WindowEvaluation:
    """Add the `drift.impact` section: features ranked by how their drift went with performance."""
    config, report = run.config, result.report
    if report.section("drift") is None or report.section("perf") is None:
        return result
    history = [
        w["summary"].get("figures", {})
        for w in run.store.list_windows(config.model.name)
        if w["window_end"] < end
    ]
    impact = rank_drift_impact(
        history,
        report.figures(),
        features=config.columns.features,
        metric=config.performance.primary_metric or default_primary_metric(config.model.task),
        reset=report.section(ResetImpactCheck.name),
    )
    report = replace(report, sections={**report.sections, "drift.impact": impact})
    publication = result.publication.merge(impact.publish())
    if "drift" in publication.tables:  # the drift table: drifted features by impact, first
        ordered = order_drift_rows(publication.tables["drift"], impact)
        publication = replace(publication, tables={**publication.tables, "drift": ordered})
    return replace(result, report=report, publication=publication)


def _health_sections(run: MonitorRun) -> dict[str, Any]:
    # The host's latest sample is judged by wall-clock age: it describes the serving host now.
    health = read_latest_health(run.store, run.config.model.name, now=utcnow())
    return {"health": health} if health is not None else {}


def attach_alerts(run: MonitorRun, report: MonitoringReport) -> MonitoringReport:
    """Evaluate the alert rules on the window and add the `alerts` section (state lives in the DB).

    A window still inside its label lag at the run's `as_of` awaits its labels: rules on realized figures are
    neither cleared nor resolved by it. Notifications link to the window's MLflow run, opened first
    for that; an alerting failure is reported in the window's errors and never loses the rest of the
    report.
    """
    config = run.config
    has_labels = config.sources.ground_truth is not None and config.columns.target is not None
    labels_complete_until = run.as_of - config.window.label_lag if has_labels else None
    mlflow_run = open_window_run(report, tracking=run.tracking, experiment=config.experiment_name)
    if mlflow_run:
        # report.json carries its own run id (the run is opened before anything is logged to it).
        report = replace(report, mlflow_run_id=mlflow_run["run_id"])
    try:
        alerts = evaluate_alerts(
            report.figures(),
            model=config.model.name,
            window_end=report.window_end,
            config=config.alerts,
            store=run.store,
            findings=dict(report.judgement.finding_messages),
            evidence=dict(report.judgement.rule_evidence),
            channels=run.channels,
            context=AlertContext(
                model_version=",".join(report.model_versions) or None,
                window_start=report.window_start,
                mlflow_run_url=mlflow_run["url"] if mlflow_run else None,
                prefect_flow_run_url=_flow_run_url(),
                verdict=report.verdict.label,
                hindsight=report.hindsight,
                timezone=report.timezone,
                dashboard_url=dashboard_path(config.model.name, run.state_dir).as_uri(),
            ),
            labels_complete_until=labels_complete_until,
        )
    except Exception as exc:
        run_logger("watchkeeper.monitor").exception("alert evaluation failed")
        return replace(report, errors={**report.errors, "alerts": f"{type(exc).__name__}: {exc}"})
    return replace(report, sections={**report.sections, "alerts": alerts})


def publish_window(
    run: MonitorRun,
    result: WindowEvaluation,
    report: MonitoringReport,
    *,
    window_run_id: str | None,
    was: str | None = None,
) -> tuple[MonitoringReport, WindowCard | None]:
    """Log the window to its MLflow run (kept for the next run if MLflow is down), publish its Prefect
    card and record the evaluation in the state database (with `window_run_id`, the flow run that
    monitored the window as its own). Returns the report and the card.

    A re-evaluation (`was`: the verdict recorded before) publishes the card on the window's own
    flow run, the re-evaluation under its verdict; this run's page keeps only its own window's card.
    """
    config, log = run.config, run_logger("watchkeeper.monitor")
    publication = result.publication
    alerts = report.section("alerts")
    if alerts is not None:
        publication = publication.merge(alerts.publish())
    payload = report_payload(
        report,
        links={"registered_model": config.model.registry_name, "prefect_flow_run_url": _flow_run_url()},
    )
    artifacts = dict(publication.artifacts)
    mlflow_url = None
    try:
        logged = log_to_mlflow(
            payload, tracking=run.tracking, experiment=config.experiment_name, artifacts=artifacts
        )
        report = replace(report, mlflow_run_id=logged["run_id"])
        mlflow_url = logged["url"]
    except Exception as exc:
        path = spool_report(
            payload,
            spool=spool_dir(run.state_dir),
            tracking=run.tracking,
            experiment=config.experiment_name,
            artifacts=artifacts,
        )
        log.error("MLflow unavailable (%s); report kept in %s for the next run", type(exc).__name__, path)
    report = with_tracking_notes(report, run.tracking.outage)
    destination: str | CurrentRun | None = CURRENT_RUN
    preface = None
    if was is not None:
        # No run of its own (recorded before runs were stored): under its key only, on no run.
        destination = window_run_id if window_run_id != flow_run.get_id() else None
        preface = reevaluation_preface(
            report,
            WindowVerdict.of(report, was=was),
            run_name=flow_run.get_name()
            or monitor_run_name(
                config.model.name, report.window_start, report.window_end, config.window.timezone
            ),
            run_url=_flow_run_url(),
        )
    card = publish_window_artifacts(
        report,
        mlflow_url=mlflow_url,
        tables=dict(publication.tables),
        extra_markdown=dict(publication.markdown),
        flow_run_id=destination,
        preface=preface,
    )
    record_window(
        run.store, report, usable_for_training=result.usable_for_training, window_run_id=window_run_id
    )
    log.log(verdict_log_level(report.verdict), "%s: %s", report.window_name, report.verdict.label)
    return report, card


def submit_page(
    samples: list[EvidentlyInputs], evaluation: WindowEvaluation
) -> PrefectFuture[HtmlAttachment] | None:
    """Start rendering Evidently's page of a window concurrently, with the window's drift table (its
    methods and thresholds, and the scores the page compares with); None without samples."""
    if not samples:
        return None
    drift = evaluation.report.section("drift")
    return submit_step(
        EvidentlyReportCheck.name,
        EvidentlyReportCheck.render,
        samples[0],
        drift if isinstance(drift, DriftReport) else None,
    )


def attach_human_report(
    run: MonitorRun, report: MonitoringReport, page: PrefectFuture[HtmlAttachment] | None
) -> None:
    """Attach Evidently's page (rendered concurrently) to the window's MLflow run once it is logged.

    A failure here is logged and costs only the page.
    """
    log = run_logger("watchkeeper.monitor")
    if page is None:
        return
    try:
        attachment = page.result()
    except Exception:
        log.exception("Evidently report failed; the window's report is published without it")
        return
    if report.mlflow_run_id is None:
        log.warning("Evidently report not attached: the window's MLflow run was not logged")
        return
    try:
        attach_to_window_run(
            report.mlflow_run_id, dict(attachment.publish().artifacts), tracking=run.tracking
        )
    except Exception:
        log.exception("attaching the Evidently report to the MLflow run failed")


@flow(name="monitor-model", flow_run_name=name_monitor_run)
def monitor(
    config_path: str, window_end: datetime | None = None, hindsight: bool = False, new_history: bool = False
) -> MonitoringReport:
    """Monitor one model over one window (the last complete one by default).

    Computes drift, performance, data validation and serving health for the window, logs the figures
    to the window's MLflow run (re-runs update it), publishes the verdict here, and re-evaluates recent
    windows whose late labels have arrived. Returns the window's `MonitoringReport`.

    Labels are joined as of the run's time: now for a scheduled run, the window's end for an explicit
    `window_end` (a replay of that day, as a backfill runs it), so the past is judged with the labels
    known then. `hindsight` joins every label on disk instead (analysis): the run is tagged
    `labels:hindsight` and every view of its windows says so.

    The run is named after the model and the window (`credit-risk 2026-03-05`), tagged with the
    model and `verdict:<ok|warning|critical>`, and ends `Completed` under the verdict's name (OK,
    Warning, Critical), so the runs list shows which windows need a look. That verdict is the worst
    the run produced: the window's, or a re-evaluated window's whose late labels changed its verdict
    (the state's message names it; the re-evaluated window's own run gets a note).

    Before anything is written the run checks its history against its anchors (MLflow and the state
    database each record what the other holds) and stops, naming the file, when either lost its
    history; `new_history` starts over deliberately, recorded in the audit trail. At its end it
    checkpoints the audit trail's head (the window's MLflow run, the JSON log, the configured file).
    """
    apply_runtime_defaults()
    loaded = open_model_config(config_path)
    config = loaded.config
    start, end = window_bounds(window_end, config.window)
    if end > utcnow():
        # Judged now, a future window would see part of its rows, and its alert state would pin
        # every later window's: refused before anything is read or written.
        raise FutureWindowError(
            f"{config.model.name}: the window {start.isoformat()} → {end.isoformat()} has not ended yet "
            f"(now {utcnow().isoformat(timespec='seconds')}); monitor it after its end"
        )
    # A scheduled run judges now; a replay of a past window judges as of that window's end.
    as_of = utcnow() if window_end is None else end
    name = monitor_run_name(config.model.name, start, end, config.window.timezone)
    with run_logging(config.model.name, (start, end), config_hash=loaded.hash, window_name=name):
        run = open_monitor_run(
            loaded, since=reevaluation_start(config, start), as_of=as_of, hindsight=hindsight
        )
        add_flow_run_tags([config.model.name, *labels_tags(hindsight)])
        report, reevaluated = _monitor(run, start, end, new_history=new_history)
        outcome = run_verdict(config.model.name, WindowVerdict.of(report), reevaluated)
        add_flow_run_tags(verdict_tags(config.model.name, outcome.verdict))
        # A critical window is a red row in the runs list: a child run that ends Failed ("Critical").
        for window in critical_windows(WindowVerdict.of(report), reevaluated):
            mark_critical(
                config.model.name,
                window.start,
                window.end,
                run_verdict(config.model.name, window).message,
                config.window.timezone,
            )
        # The run's verdict last, at its level: WARNING for a warning, ERROR for a critical window.
        run_logger("watchkeeper.monitor").log(verdict_log_level(outcome.verdict), "%s", outcome.message)
        # The run ends in a `Completed` state named after the run's verdict (or TrackingUnavailable);
        # callers still get the window's report.
        return run_final_state(report, run.tracking.outage, outcome)  # type: ignore[return-value]


def open_monitor_run(
    loaded: LoadedConfig, *, since: datetime, as_of: datetime, hindsight: bool = False
) -> MonitorRun:
    """Open what a run uses: the state store, MLflow, the alert channels, the labels, the engine.

    The labels are those that arrived in ``[since, as_of]`` (`since`: the earliest window the run
    looks at), every label on disk in `hindsight`.
    """
    config = loaded.config
    store = open_state()
    labels = load_labels(config, since=since, as_of=as_of, hindsight=hindsight)
    return MonitorRun(
        loaded=loaded,
        store=store,
        tracking=open_tracking(config.tracking, leases=store),
        channels=open_alert_channels(config.alerts),
        state_dir=state_dir(),
        labels=labels,
        labels_report=assess_run_labels(config, labels),
        execution=resolve_execution(config.execution),
        as_of=as_of,
        hindsight=hindsight,
        checkpoint_target=os.environ.get(CHECKPOINT_ENV) or None,
    )


def assess_run_labels(config: MonitorConfig, labels: Labels | None) -> LabelsReport | None:
    """The run's labels as the `labels` section (None without ground truth); a failure to count the
    unmatched ones is logged and leaves them uncounted."""
    try:
        return assess_labels(config, labels)
    except Exception as exc:
        run_logger("watchkeeper.monitor").exception("counting the labels that match no request failed")
        if labels is None or config.sources.ground_truth is None:
            return None
        note = f"unmatched labels not counted: {type(exc).__name__}: {exc}"
        return LabelsReport("ground truth", len(labels.ids), note=note)


def monitor_checks(run: MonitorRun) -> tuple[tuple[Check, ...], tuple[Check, ...]]:
    """The checks fitted on a reference, and those a window runs (all but Evidently's page, which is
    rendered after the window is published)."""
    cache_dir = run.state_dir / "drift-cache"
    # Drift impact on the model: the window's scoring model, loaded from the registry.
    models = open_model_source(run.config, client=run.tracking.client, outage=run.tracking.outage)
    reset = ResetImpactCheck(models)
    return (
        (*standard_checks(run.loaded.path, cache_dir=cache_dir), reset),
        (*standard_checks(run.loaded.path, cache_dir=cache_dir, with_html=False), reset),
    )


class ReferenceFits:
    """The checks fitted on each reference a run needs, read and fitted once each.

    The reference belongs to the model version: windows are compared with the data of the model
    that scored them — the current champion's for new windows (and for a window scored by several
    versions). The champion and a past window scored by the champion share one reference.
    """

    def __init__(self, run: MonitorRun, checks: Sequence[Check]) -> None:
        self.run, self.checks = run, tuple(checks)
        self._keys: dict[str | None, str] = {}
        self.by_key: dict[str, FittedChecks] = {}
        self._configs: dict[str, MonitorConfig] = {}

    def key(self, version: str | None) -> str:
        """Which reference judges rows scored by `version` (None: the champion)."""
        if version not in self._keys:
            versioned = config_for_champion(self.run.config, version, client=self.run.tracking.client)
            key = versioned.sources.reference.model_dump_json()
            self._keys[version] = key
            self._configs.setdefault(key, versioned)
        return self._keys[version]

    def fitted(self, key: str) -> FittedChecks:
        if key not in self.by_key:
            versioned = self._configs[key]
            self.by_key[key] = fit_checks(
                self.checks, load_reference_data(versioned), versioned, run=run_step
            )
        return self.by_key[key]

    def for_version(self, version: str | None) -> FittedChecks:
        return self.fitted(self.key(version))


def scored_by_one(versions: Sequence[str]) -> str | None:
    """The version whose reference judges a window (None: several scored it, the champion's)."""
    return versions[0] if len(versions) == 1 else None


@dataclass
class PreparedOffer:
    """Windows evaluated ahead of their turn (a parallel backfill's), by window end, and the ends of
    those a monitor run took."""

    windows: Mapping[datetime, PreparedWindow]
    taken: set[datetime] = field(default_factory=set)


_OFFER: ContextVar[PreparedOffer | None] = ContextVar("prepared_windows", default=None)


@contextmanager
def offer_prepared(prepared: Mapping[datetime, PreparedWindow]) -> Iterator[PreparedOffer]:
    """Within the block, a monitor run of one of these windows takes its prepared evaluation instead
    of evaluating it again, if it was judged against the reference the run would choose now."""
    offer = PreparedOffer(prepared)
    token = _OFFER.set(offer)
    try:
        yield offer
    finally:
        _OFFER.reset(token)


def _take_offered(fits: ReferenceFits, start: datetime, end: datetime) -> PreparedWindow | None:
    offer = _OFFER.get()
    prepared = offer.windows.get(end) if offer is not None else None
    if prepared is None or prepared.start != start:
        return None
    # A champion promoted since (a retraining earlier in the backfill) changes the reference.
    if fits.key(prepared.version) != prepared.reference_key:
        return None
    assert offer is not None
    offer.taken.add(end)
    return prepared


def _monitor(
    run: MonitorRun, start: datetime, end: datetime, *, new_history: bool = False
) -> tuple[MonitoringReport, list[WindowVerdict]]:
    config, store = run.config, run.store
    # Before anything is written or logged: a run on an emptied or replaced store stops here.
    check_history(
        store,
        run.tracking,
        experiment=config.experiment_name,
        model=config.model.name,
        checkpoint_target=run.checkpoint_target,
        new_history=new_history,
    )
    flush_mlflow_spool(spool_dir(run.state_dir), run.tracking, store)
    # "Now" for this run (`monitor`): for label completeness and for which labels are joined, to this
    # window and to the past windows re-evaluated below alike.
    as_of = run.as_of
    checks, checks_without_html = monitor_checks(run)
    fits = ReferenceFits(run, checks)

    # New and re-run windows alike: rows are compared with the reference of the version that scored
    # them (a re-run of a window scored by v1 after v2's promotion still uses v1's reference).
    # Evidently's page (seconds) is rendered by a concurrent task once the checks are done, while the
    # window is published: it never holds back the verdict, the alerts or the MLflow figures.
    human_report: list[EvidentlyInputs] = []
    prepared = _take_offered(fits, start, end)
    if prepared is not None:
        current = take_prepared(run, prepared)
        human_report.extend(prepared.human_report)
    else:
        current = evaluate(
            run,
            checks_without_html,
            fits.for_version(scored_by_one(read_model_versions(config, start, end))),
            start,
            end,
            as_of=as_of,
            human_report=human_report,
        )
    page = submit_page(human_report, current)

    # Late labels: windows within the label lag whose label count grew are evaluated again, so their
    # realized performance (and the MLflow run) reflects the labels known now.
    calendar = config.window.calendar
    lag_start = reevaluation_start(config, start)
    candidates = count_labels(config, windows_between(lag_start, start, calendar), labels=run.labels)
    recorded = store.list_windows(config.model.name)
    known = {w["window_end"]: w["n_labeled"] for w in recorded}
    verdict_before = {w["window_end"]: w["verdict"] for w in recorded}
    scored_by = {w["window_end"]: w["summary"].get("model_versions") or [] for w in recorded}
    # The flow run that monitored each window as its own (None: recorded before runs were stored).
    window_runs = {w["window_end"]: w["summary"].get("window_flow_run_id") for w in recorded}
    reevaluated: list[WindowVerdict] = []
    past_pages: list[tuple[MonitoringReport, PrefectFuture[HtmlAttachment] | None]] = []
    for past_end in windows_with_new_labels(known, candidates, limit=config.window.reevaluate_windows):
        versions = scored_by.get(past_end, [])
        past_samples: list[EvidentlyInputs] = []
        past = evaluate(
            run,
            checks_without_html,
            fits.for_version(scored_by_one(versions)),
            calendar.shift(past_end, -1),
            past_end,
            as_of=as_of,
            human_report=past_samples,  # its page is rebuilt with the labels known now
        )
        past_page = submit_page(past_samples, past)
        past_report, _ = publish_window(
            run,
            past,
            attach_alerts(run, past.report),
            window_run_id=window_runs.get(past_end),
            was=verdict_before[past_end],
        )
        past_pages.append((past_report, past_page))
        reevaluated.append(WindowVerdict.of(past_report, was=verdict_before[past_end]))
        changed = reevaluation_tag(
            past_report.window_start,
            past_report.window_end,
            verdict_before[past_end],
            past_report.verdict,
            config.window.timezone,
        )
        if changed:
            add_flow_run_tags([changed])

    # Windows whose labels landed first (oldest first: realized quality and concept drift become
    # known for them now), then the current window.
    report, card = publish_window(
        run,
        current,
        attach_alerts(run, current.report),
        window_run_id=current.report.flow_run_id,
    )
    push_window(report, config.health.pushgateway)
    # The model's summary run in MLflow: one point per window (its newest evaluation), over windows.
    update_summary_run(
        run.tracking,
        experiment=config.experiment_name,
        model=config.model.name,
        windows=store.list_windows(config.model.name),
        evaluated=[*(w.end for w in reevaluated), report.window_end],
        primary_metric=config.performance.primary_metric or default_primary_metric(config.model.task),
    )

    # Close the loop: the policy decides (and audits) whether this evidence warrants a retraining,
    # which runs as a subflow here or through its deployment when a Prefect server is configured.
    maybe_trigger_retraining(config, str(run.loaded.path), report, store=store, client=run.tracking.client)
    # The model's dashboard, regenerated with this run's windows and decisions, linked from the window.
    dashboard = refresh_dashboard(config, store, run.tracking, root=run.state_dir)
    add_card_link(card, "Dashboard", dashboard["mlflow_url"] or Path(dashboard["path"]).as_uri())
    # Evidently's pages last: the retraining decision and the dashboard do not wait for them.
    for past_report, past_page in past_pages:
        attach_human_report(run, past_report, past_page)
    attach_human_report(run, report, page)
    notify_tracking_unavailable(config, report, run.tracking.outage, store=store, channels=run.channels)
    # Last: the head after every decision of this run, kept outside the state database.
    checkpoint_history(
        store,
        run.tracking,
        experiment=config.experiment_name,
        model=config.model.name,
        run_id=report.mlflow_run_id,
        checkpoint_target=run.checkpoint_target,
    )
    return report, reevaluated

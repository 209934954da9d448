"""The human-facing report: Evidently's own HTML, built on a seeded sample.

Evidently renders a page people know, in two parts on one page:

- drift, on a seeded sample of the window's rows (all of them, labeled or not): Evidently's
  DataDriftPreset on the features and its ValueDrift on each prediction column, run with the method
  and threshold Watchkeeper's drift table used for each column (so both judge with the same test);
- labels, when the window has some, on a seeded sample of its labeled rows: ValueDrift on the target
  and ClassificationPreset or RegressionPreset (quality needs a label on every row it reads).

Evidently is slow on large windows, so each side holds at most `sample_cap` rows. A table at the top
puts each column's score on the page beside Watchkeeper's on the full data and says, per column,
whether they agree and why not (a sample of the reference or of the window; a method Evidently does
not know). Decisions and alerts come from Watchkeeper's engine on the full data.

The page is regenerated with every evaluation of a window, re-evaluations included (late labels).
"""

from __future__ import annotations

import html as html_lib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from watchkeeper.quoting import MAX_LABEL_CHARS, cap_label

if TYPE_CHECKING:
    from watchkeeper.drift.report import ColumnDrift, DriftReport


def _sample(frame: pd.DataFrame, columns: list[str], cap: int, seed: int, rows: Any = None) -> pd.DataFrame:
    """At most `cap` of the frame's rows (positions `rows` when given, else all), seeded, in order.

    Rows are drawn before columns are taken, so a million-row window is never copied for a sample.
    """
    positions = np.arange(len(frame)) if rows is None else np.asarray(rows)
    if len(positions) > cap:
        positions = np.sort(np.random.default_rng(seed).choice(positions, size=cap, replace=False))
    return frame.iloc[positions][columns]


def _infer_task(frame: pd.DataFrame, target: str) -> str:
    series = frame[target]
    if pd.api.types.is_float_dtype(series) and series.nunique() > 10:
        return "regression"
    return "classification"


def _class_labels(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """`frame` with a float target of whole numbers as integers (class labels)."""
    values = frame[target]
    if not pd.api.types.is_float_dtype(values) or values.isna().any():
        return frame
    if not np.array_equal(values.to_numpy(), np.round(values.to_numpy())):
        return frame
    return frame.assign(**{target: values.astype("int64")})


@dataclass(frozen=True)
class EvidentlyInputs:
    """What Evidently's page is built from: seeded samples and how many rows they stand for.

    Taken while the window is in memory (a few thousand rows), so the page itself can be rendered
    later, after the window's verdict, alerts and figures are out. `current` samples all the window's
    rows; `labeled` (None without labels) its labeled rows, and `reference_labeled` the reference's.
    `drift` is Watchkeeper's drift table of the window (`with_drift`): its methods and thresholds are
    Evidently's too, and its scores are shown beside Evidently's.
    """

    reference: pd.DataFrame
    current: pd.DataFrame
    reference_rows: int
    current_rows: int
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str | None
    predictions: tuple[str, ...]
    task: str | None
    sample_cap: int
    seed: int
    labeled: pd.DataFrame | None = None
    labeled_rows: int = 0
    reference_labeled: pd.DataFrame | None = None
    reference_labeled_rows: int = 0
    drift: tuple[ColumnDrift, ...] = ()
    drift_share: float = 0.5


def _as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed string columns (category, Arrow strings) as Python objects, as Evidently expects them.

    Long values are shortened (`quoting.cap_label`: distinct values stay distinct): the page quotes
    every category, and one 10 MB value made it 64 MB."""
    out = frame.copy()
    for name in out.columns:
        dtype = out[name].dtype
        if isinstance(dtype, pd.CategoricalDtype | pd.StringDtype):
            values = out[name].astype(object)
            long = values.map(lambda v: isinstance(v, str) and len(v) > MAX_LABEL_CHARS).to_numpy(dtype=bool)
            if long.any():
                values = values.copy()
                values[long] = [cap_label(v) for v in values[long]]
            out[name] = values.where(values.notna(), None)  # type: ignore[call-overload]  # stubs: None as `other`
    return out


def sample_evidently_inputs(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    target: str | None = None,
    prediction: str | Sequence[str] | None = None,
    task: str | None = None,
    sample_cap: int = 50_000,
    seed: int = 0,
    labeled_rows: Any = None,
) -> EvidentlyInputs:
    """Draw the seeded samples (at most `sample_cap` rows per side) of the columns the page shows.

    With `target`, `labeled_rows` (positions; default: rows whose target is known) are the window's
    labeled rows, sampled apart for target drift and the quality preset.
    """
    predictions = [prediction] if isinstance(prediction, str) else list(prediction or [])
    both = [c for c in [*numerical, *categorical, *predictions] if c in reference and c in current]
    inputs = EvidentlyInputs(
        reference=_as_objects(_sample(reference, both, sample_cap, seed)),
        current=_as_objects(_sample(current, both, sample_cap, seed)),
        reference_rows=len(reference),
        current_rows=len(current),
        numerical=tuple(numerical),
        categorical=tuple(categorical),
        target=target,
        predictions=tuple(predictions),
        task=task,
        sample_cap=sample_cap,
        seed=seed,
    )
    if target is None or target not in reference or target not in current:
        return replace(inputs, target=None)
    if labeled_rows is None:
        labeled_rows = np.flatnonzero(current[target].notna().to_numpy())
    labeled_rows = np.asarray(labeled_rows)
    ref_labeled = np.flatnonzero(reference[target].notna().to_numpy())
    if not len(labeled_rows) or not len(ref_labeled):
        return replace(inputs, target=None)
    keep = [*both, target]
    return replace(
        inputs,
        labeled=_as_objects(_sample(current, keep, sample_cap, seed, labeled_rows)),
        labeled_rows=len(labeled_rows),
        reference_labeled=_as_objects(_sample(reference, keep, sample_cap, seed, ref_labeled)),
        reference_labeled_rows=len(ref_labeled),
    )


def with_drift(inputs: EvidentlyInputs, report: DriftReport | None) -> EvidentlyInputs:
    """The inputs with Watchkeeper's drift table of the same window (methods, thresholds, scores)."""
    if report is None:
        return inputs
    return replace(inputs, drift=tuple(report.columns), drift_share=report.drift_share)


def build_evidently_html(reference: pd.DataFrame, current: pd.DataFrame, **options: Any) -> str:
    """Evidently's HTML page (drift, plus target drift and the task's preset with labels) on samples.

    `options` are `sample_evidently_inputs`'s (columns by kind, target, prediction, task, sample cap,
    seed, labeled rows). `task` is "classification" or "regression"; None infers it from the target
    (floats with more than 10 values: regression).
    """
    return render_evidently_html(sample_evidently_inputs(reference, current, **options))


# ---- rendering ---------------------------------------------------------------------------------


def _kind(inputs: EvidentlyInputs, frame: pd.DataFrame, column: str) -> str:
    """A column's kind as Watchkeeper's drift table typed it, else by the configured lists / dtype."""
    for c in inputs.drift:
        if c.column == column and c.kind is not None:
            # A binary numerical column tested with a categorical method (Evidently's z-test on 0/1
            # labels): Evidently applies the method only to a column declared categorical.
            if c.method is not None and _categorical_only(c.method):
                return "categorical"
            return c.kind
    if column in inputs.numerical:
        return "numerical"
    if column in inputs.categorical:
        return "categorical"
    values = frame[column]
    is_number = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return "numerical" if is_number and values.nunique() > 10 else "categorical"


def _categorical_only(method: str) -> bool:
    from watchkeeper.drift.registry import get_method

    try:
        return "numerical" not in get_method(method).kinds
    except (KeyError, ValueError):
        return False


def _method(inputs: EvidentlyInputs, column: str) -> tuple[str | None, float | None]:
    for c in inputs.drift:
        if c.column == column and c.testable:
            return c.method, c.threshold
    return None, None


def _definition(inputs: EvidentlyInputs, frame: pd.DataFrame, columns: list[str], **task: Any) -> Any:
    from evidently import DataDefinition

    kinds = {c: _kind(inputs, frame, c) for c in columns}
    return DataDefinition(
        numerical_columns=[c for c in columns if kinds[c] == "numerical"],
        categorical_columns=[c for c in columns if kinds[c] == "categorical"],
        **task,
    )


def _run_drift(inputs: EvidentlyInputs, *, own_methods: bool) -> Any:
    """Feature drift (DataDriftPreset) and prediction drift (ValueDrift) on the window's sample."""
    from evidently import Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    ref, cur = inputs.reference, inputs.current
    features = [c for c in [*inputs.numerical, *inputs.categorical] if c in ref.columns]
    predictions = [c for c in inputs.predictions if c in ref.columns]
    methods: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    if own_methods:
        for column in features:
            method, threshold = _method(inputs, column)
            if method is not None and threshold is not None:
                methods[column], thresholds[column] = method, threshold
    items: list[Any] = [
        DataDriftPreset(
            columns=features,
            drift_share=inputs.drift_share,
            per_column_method=methods or None,
            per_column_threshold=thresholds or None,
        )
    ]
    for column in predictions:
        method, threshold = _method(inputs, column) if own_methods else (None, None)
        items.append(ValueDrift(column=column, method=method, threshold=threshold))
    definition = _definition(inputs, ref, [*features, *predictions])
    return Report(items, include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )


def _task_of(inputs: EvidentlyInputs, frame: pd.DataFrame) -> str:
    if inputs.task is not None:
        return inputs.task
    series = frame[inputs.target]
    return "regression" if pd.api.types.is_float_dtype(series) and series.nunique() > 10 else "classification"


def _run_labels(inputs: EvidentlyInputs, *, quality: bool, own_methods: bool) -> Any:
    """Target drift (ValueDrift) and, with `quality`, the task's preset on the labeled rows."""
    from evidently import BinaryClassification, Dataset, MulticlassClassification, Regression, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import ClassificationPreset, RegressionPreset

    assert inputs.labeled is not None and inputs.reference_labeled is not None and inputs.target
    ref, cur, target = inputs.reference_labeled, inputs.labeled, inputs.target
    predictions = [c for c in inputs.predictions if c in ref.columns]
    method, threshold = _method(inputs, target) if own_methods else (None, None)
    items: list[Any] = [ValueDrift(column=target, method=method, threshold=threshold)]
    task: dict[str, Any] = {}
    if quality and predictions:
        if _task_of(inputs, ref) == "regression":
            task["regression"] = [Regression(target=target, prediction=predictions[0])]
            items.append(RegressionPreset())
        else:
            # Joined labels come as floats: Evidently takes a float target for a continuous one.
            ref, cur = _class_labels(ref, target), _class_labels(cur, target)
            if len(predictions) > 1:  # one probability column per class
                task["classification"] = [
                    MulticlassClassification(target=target, prediction_probas=predictions)
                ]
            elif pd.api.types.is_float_dtype(ref[predictions[0]]):
                task["classification"] = [
                    BinaryClassification(target=target, prediction_probas=predictions[0])
                ]
            else:
                task["classification"] = [
                    BinaryClassification(target=target, prediction_labels=predictions[0])
                ]
            items.append(ClassificationPreset())
    definition = _definition(inputs, ref, [target, *predictions], **task)
    return Report(items, include_tests=True).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )


@dataclass(frozen=True)
class PageScore:
    """One column's drift on the page: Evidently's score, its method and threshold, its decision."""

    score: float | None
    method: str
    threshold: float
    drifted: bool


def page_scores(snapshot: Any) -> dict[str, PageScore]:
    """Each ValueDrift of a snapshot by column (the decision is the status of its test)."""
    data = json.loads(snapshot.json())
    status = {
        t["metric_config"]["metric_id"]: t["status"] for t in data.get("tests", []) if t["id"] == "drift"
    }
    out: dict[str, PageScore] = {}
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            value = metric["value"]
            out[config["column"]] = PageScore(
                score=None if value is None or not math.isfinite(float(value)) else float(value),
                method=str(config.get("method")),
                threshold=float(config["threshold"]),
                drifted=status.get(metric["id"]) == "FAIL",
            )
    return out


def _n(frame: pd.DataFrame | None) -> int:
    return 0 if frame is None else len(frame)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _comparison(inputs: EvidentlyInputs, scores: dict[str, PageScore], notes: list[str]) -> str:
    """The table beside Evidently's: each column's score on the page and in Watchkeeper's table."""
    if not inputs.drift:
        return ""
    rows = []
    for c in inputs.drift:
        page = scores.get(c.column)
        if c.role == "target":
            sample = (inputs.reference_labeled_rows, _n(inputs.reference_labeled))
            window = (inputs.labeled_rows, _n(inputs.labeled))
        else:
            sample = (inputs.reference_rows, len(inputs.reference))
            window = (inputs.current_rows, len(inputs.current))
        if page is None:
            why = "not on the page" if c.testable else c.status
        elif (
            c.score is not None and page.score is not None and math.isclose(c.score, page.score, abs_tol=1e-9)
        ):
            why = "same"
        else:
            parts = []
            if page.method != c.method:
                parts.append(f"Evidently used {page.method}")
            if sample[1] < sample[0]:
                parts.append(f"reference sampled: {sample[1]:,} of {sample[0]:,} rows")
            if window[1] < window[0]:
                parts.append(f"window sampled: {window[1]:,} of {window[0]:,} rows")
            why = "differs: " + ("; ".join(parts) or "same rows and method (please report)")
            why += (
                "; same decision"
                if page.drifted == c.drifted
                else "; the decision differs: Watchkeeper's counts"
            )
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html_lib.escape(str(v))}</td>"
                for v in (
                    c.column,
                    c.role,
                    c.method or "–",
                    _fmt(c.threshold),
                    f"{_fmt(c.score)}{' drift' if c.drifted else ''}",
                    "–" if page is None else f"{_fmt(page.score)}{' drift' if page.drifted else ''}",
                    why,
                )
            )
            + "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "column",
            "role",
            "method",
            "threshold",
            "Watchkeeper (full data)",
            "this page",
            "agreement",
        )
    )
    note = "".join(f"<p>{html_lib.escape(n)}</p>" for n in notes)
    return (
        '<table id="watchkeeper-drift-comparison" style="border-collapse:collapse;margin-top:6px" '
        'border="1" cellpadding="3">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"
    )


def render_evidently_html(inputs: EvidentlyInputs) -> str:
    """Run Evidently on the samples and return one page: drift, then labels; a banner and the table
    comparing the page's drift scores with Watchkeeper's on top."""
    from evidently.core.metric_types import render_widgets
    from evidently.legacy.renderers.html_widgets import group_widget

    notes: list[str] = []
    try:
        drift = _run_drift(inputs, own_methods=True)
    except Exception as exc:  # a method Evidently does not know: its own choice, said on the page
        notes.append(
            f"Evidently could not use Watchkeeper's methods ({type(exc).__name__}: {exc}); it chose its own."
        )
        drift = _run_drift(inputs, own_methods=False)
    snapshots = [("Data and prediction drift: a sample of all the window's rows", drift)]
    if inputs.labeled is not None:
        task = _task_of(
            inputs, inputs.reference_labeled if inputs.reference_labeled is not None else inputs.labeled
        )
        try:
            labels = _run_labels(inputs, quality=True, own_methods=True)
        except Exception as exc:  # a task preset Evidently rejects must not cost the target drift
            notes.append(f"The {task} preset was left out: {type(exc).__name__}: {exc}.")
            labels = _run_labels(inputs, quality=False, own_methods=False)
        snapshots.append((f"Target drift and {task} quality: a sample of the window's labeled rows", labels))
    scores: dict[str, PageScore] = {}
    for _, snapshot in snapshots:
        scores.update(page_scores(snapshot))
    # One page of both reports: Evidently's own `get_html_str` renders one snapshot's widgets the same
    # way (a group widget, `render_widgets`); here each snapshot is one titled group.
    page: str = render_widgets(
        [group_widget(title=title, widgets=list(snapshot._widgets)) for title, snapshot in snapshots],
        as_iframe=False,
    )
    labeled = (
        f"; labeled rows: reference {_n(inputs.reference_labeled):,} of {inputs.reference_labeled_rows:,}, "
        f"current {_n(inputs.labeled):,} of {inputs.labeled_rows:,}"
        if inputs.labeled is not None
        else "; no labels yet: no target drift or quality section (the page is rebuilt when labels arrive)"
    )
    note = (
        f"Evidently report on a seeded sample (seed {inputs.seed}) of at most {inputs.sample_cap:,} rows "
        f"per side: reference {len(inputs.reference):,} of {inputs.reference_rows:,} rows, current "
        f"{len(inputs.current):,} of {inputs.current_rows:,} rows{labeled}. Drift decisions and alerts "
        "come from Watchkeeper's drift engine on the full data; the table compares its scores with "
        "this page's (same method and threshold per column)."
    )
    banner = (
        '<div id="watchkeeper-sample-note" style="font-family:sans-serif;padding:8px 16px;'
        f'background:#fff8e1;border-bottom:1px solid #e0c068">{html_lib.escape(note)}'
        f"{_comparison(inputs, scores, notes) or ''.join(f'<p>{html_lib.escape(n)}</p>' for n in notes)}</div>"
    )
    if "<body>" in page:
        return page.replace("<body>", "<body>" + banner, 1)
    return banner + page

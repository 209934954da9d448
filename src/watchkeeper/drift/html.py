"""The human-facing report: Evidently's own HTML, built on a seeded sample.

Evidently renders a report people know (DataDriftPreset, plus ClassificationPreset or
RegressionPreset when labels are present), but it is slow on large windows, so it runs on at most
`sample_cap` rows per side, drawn with a fixed seed. The cap and the sample sizes are stated at the
top of the page, and the page says that decisions come from Watchkeeper's full-data engine.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from watchkeeper.quoting import MAX_LABEL_CHARS, cap_label


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


def _run(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    label_columns: list[str],
    features: list[str],
    target: str | None,
    predictions: list[str],
    task: str | None,
) -> Any:
    from evidently import (
        BinaryClassification,
        DataDefinition,
        Dataset,
        MulticlassClassification,
        Regression,
        Report,
    )
    from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

    keep = set(ref.columns)
    presets: list[Any] = [DataDriftPreset(columns=features)]
    classification: list[Any] | None = None
    regression: list[Any] | None = None
    if target is not None and task == "regression":
        regression = [Regression(target=target, prediction=predictions[0])]
        presets.append(RegressionPreset())
    elif target is not None and task == "classification":
        # Joined labels come as floats (NaN where missing; the samples hold labeled rows only):
        # Evidently takes a float target for a continuous one and rejects the classification preset.
        ref, cur = _class_labels(ref, target), _class_labels(cur, target)
        if len(predictions) > 1:  # one probability column per class
            classification = [MulticlassClassification(target=target, prediction_probas=predictions)]
        elif pd.api.types.is_float_dtype(ref[predictions[0]]):
            classification = [BinaryClassification(target=target, prediction_probas=predictions[0])]
        else:
            classification = [BinaryClassification(target=target, prediction_labels=predictions[0])]
        presets.append(ClassificationPreset())
    used_labels = [c for c in label_columns if c in keep] if target is not None else []
    definition = DataDefinition(
        numerical_columns=[c for c in numerical if c in keep]
        + [c for c in used_labels if pd.api.types.is_float_dtype(ref[c])],
        categorical_columns=[c for c in categorical if c in keep]
        + [c for c in used_labels if not pd.api.types.is_float_dtype(ref[c])],
        classification=classification,
        regression=regression,
    )
    return Report(presets).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )


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
    """What Evidently's page is built from: both sides' seeded samples and how many rows they stand for.

    Taken while the window is in memory (a few thousand rows), so the page itself can be rendered
    later, after the window's verdict, alerts and figures are out.
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
    current_rows: Any = None,
) -> EvidentlyInputs:
    """Draw the seeded samples (at most `sample_cap` rows per side) of the columns the page shows.

    `current_rows` (positions) limits the current side to those rows (the labeled ones, say).
    """
    predictions = [prediction] if isinstance(prediction, str) else list(prediction or [])
    label_columns = [c for c in [*predictions, target] if c is not None]
    keep = [c for c in [*numerical, *categorical, *label_columns] if c in reference and c in current]
    return EvidentlyInputs(
        reference=_as_objects(_sample(reference, keep, sample_cap, seed)),
        current=_as_objects(_sample(current, keep, sample_cap, seed, current_rows)),
        reference_rows=len(reference),
        current_rows=len(current) if current_rows is None else len(current_rows),
        numerical=tuple(numerical),
        categorical=tuple(categorical),
        target=target,
        predictions=tuple(predictions),
        task=task,
        sample_cap=sample_cap,
        seed=seed,
    )


def build_evidently_html(reference: pd.DataFrame, current: pd.DataFrame, **options: Any) -> str:
    """Evidently's HTML report (DataDriftPreset, plus the task's preset) on a seeded sample.

    `options` are `sample_evidently_inputs`'s (columns by kind, target, prediction, task, sample cap,
    seed). `task` is "classification" or "regression"; None infers it from the target (floats with
    more than 10 values: regression). The task preset is added only when both target and prediction
    are given and present on both sides.
    """
    return render_evidently_html(sample_evidently_inputs(reference, current, **options))


def render_evidently_html(inputs: EvidentlyInputs) -> str:
    """Run Evidently on the samples and return its page, with a banner saying what it was built on."""
    ref, cur = inputs.reference, inputs.current
    numerical, categorical, target, task = inputs.numerical, inputs.categorical, inputs.target, inputs.task
    predictions = list(inputs.predictions)
    label_columns = [c for c in [*predictions, target] if c is not None]
    keep = list(ref.columns)
    has_labels = bool(target and predictions) and all(c in keep for c in label_columns)
    if has_labels and task is None:
        task = _infer_task(ref, target)  # type: ignore[arg-type]
    features = [c for c in [*numerical, *categorical] if c in keep]
    skipped = ""
    snapshot = None
    if has_labels:
        try:
            snapshot = _run(
                ref, cur, numerical, categorical, label_columns, features, target, predictions, task
            )
        except Exception as exc:  # a task preset Evidently rejects must not cost the drift report
            skipped = f" The {task} preset was left out: {type(exc).__name__}: {exc}."
    if snapshot is None:
        snapshot = _run(ref, cur, numerical, categorical, label_columns, features, None, [], None)
    page: str = snapshot.get_html_str(as_iframe=False)
    note = (
        f"Evidently report on a seeded sample (seed {inputs.seed}) of at most {inputs.sample_cap:,} rows "
        f"per side: reference {len(ref):,} of {inputs.reference_rows:,} rows, current {len(cur):,} of "
        f"{inputs.current_rows:,} rows. Drift decisions and alerts come from Watchkeeper's drift engine "
        "on the full data." + skipped
    )
    banner = (
        '<div id="watchkeeper-sample-note" style="font-family:sans-serif;padding:8px 16px;'
        f'background:#fff8e1;border-bottom:1px solid #e0c068">{html_lib.escape(note)}</div>'
    )
    if "<body>" in page:
        return page.replace("<body>", "<body>" + banner, 1)
    return banner + page

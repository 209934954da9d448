"""The human-facing report: Evidently's own HTML, built on a seeded sample.

Evidently renders a report people know (DataDriftPreset, plus ClassificationPreset or
RegressionPreset when labels are present), but it is slow on large windows, so it runs on at most
`sample_cap` rows per side, drawn with a fixed seed. The cap and the sample sizes are stated at the
top of the page, and the page says that decisions come from Watchkeeper's full-data engine.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Sequence

import pandas as pd


def _sample(frame: pd.DataFrame, cap: int, seed: int) -> pd.DataFrame:
    if len(frame) <= cap:
        return frame
    return frame.sample(n=cap, random_state=seed).sort_index()


def _infer_task(frame: pd.DataFrame, target: str) -> str:
    series = frame[target]
    if pd.api.types.is_float_dtype(series) and series.nunique() > 10:
        return "regression"
    return "classification"


def build_evidently_html(
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
) -> str:
    """Evidently's HTML report (DataDriftPreset, plus the task's preset) on a seeded sample.

    `task` is "classification" or "regression"; None infers it from the target (floats with more
    than 10 values: regression). The task preset is added only when both target and prediction are
    given and present on both sides.
    """
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset

    predictions = [prediction] if isinstance(prediction, str) else list(prediction or [])
    label_columns = [c for c in [*predictions, target] if c is not None]
    keep = [c for c in [*numerical, *categorical, *label_columns] if c in reference and c in current]
    ref = _sample(reference[keep], sample_cap, seed)
    cur = _sample(current[keep], sample_cap, seed)

    has_labels = bool(target and predictions) and all(c in keep for c in label_columns)
    if has_labels and task is None:
        task = _infer_task(ref, target)  # type: ignore[arg-type]
    classification = regression = None
    presets: list[object] = [
        DataDriftPreset(columns=[c for c in [*numerical, *categorical] if c in keep]),
    ]
    if has_labels and task == "regression":
        regression = [Regression(target=target, prediction=predictions[0])]
        presets.append(RegressionPreset())
    elif has_labels and task == "classification":
        pred = predictions[0]
        if pd.api.types.is_float_dtype(ref[pred]):
            classification = [BinaryClassification(target=target, prediction_probas=pred)]
        else:
            classification = [BinaryClassification(target=target, prediction_labels=pred)]
        presets.append(ClassificationPreset())

    definition = DataDefinition(
        numerical_columns=[c for c in numerical if c in keep]
        + [c for c in label_columns if c in keep and pd.api.types.is_float_dtype(ref[c])],
        categorical_columns=[c for c in categorical if c in keep]
        + [c for c in label_columns if c in keep and not pd.api.types.is_float_dtype(ref[c])],
        classification=classification,
        regression=regression,
    )
    snapshot = Report(presets).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    page: str = snapshot.get_html_str(as_iframe=False)
    note = (
        f"Evidently report on a seeded sample (seed {seed}) of at most {sample_cap:,} rows per side: "
        f"reference {len(ref):,} of {len(reference):,} rows, current {len(cur):,} of {len(current):,} "
        "rows. Drift decisions and alerts come from Watchkeeper's drift engine on the full data."
    )
    banner = (
        '<div id="watchkeeper-sample-note" style="font-family:sans-serif;padding:8px 16px;'
        f'background:#fff8e1;border-bottom:1px solid #e0c068">{html_lib.escape(note)}</div>'
    )
    if "<body>" in page:
        return page.replace("<body>", "<body>" + banner, 1)
    return banner + page

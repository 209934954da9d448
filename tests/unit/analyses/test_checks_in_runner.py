"""The new checks through the runner: their sections, figures (alertable names) and footprint steps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tests.unit.performance.synth import DAY, START, binary_frame
from watchkeeper.alerting.fields import is_known_field
from watchkeeper.analysis_checks import EmbeddingDriftCheck, MultivariateDriftCheck, SegmentsCheck
from watchkeeper.config import parse_config
from watchkeeper.monitoring import evaluate_window, fit_checks
from watchkeeper.windows import ReferenceData, WindowData, WindowReport

RAW = {
    "model": {"name": "m", "task": "binary_classification"},
    "columns": {
        "numerical_features": ["x1", "x2"],
        "categorical_features": ["region"],
        "score": "score",
    },
    "sources": {
        "inference_logs": {"type": "memory", "name": "a"},
        "reference": {"type": "memory", "name": "b"},
    },
    "drift": {
        "multivariate": {"classifier_sample": 300},
        "embeddings": {"columns": ["emb"], "method": "distance"},
    },
    "segments": ["region"],
}
CONFIG = parse_config(RAW)


def with_extras(frame: pd.DataFrame, rng: np.random.Generator, shift: float) -> pd.DataFrame:
    emb = rng.normal(size=(len(frame), 8)) + shift
    return frame.assign(region=rng.choice(["n", "s"], size=len(frame)), emb=list(emb))


def test_the_new_checks_report_alertable_sections_through_the_runner():
    rng = np.random.default_rng(1)
    ref = pd.concat(
        [with_extras(binary_frame(rng, 800, day=d), rng, 0.0) for d in range(-4, 0)], ignore_index=True
    )
    checks = (MultivariateDriftCheck(), EmbeddingDriftCheck(), SegmentsCheck())
    fitted = fit_checks(checks, ReferenceData(ref, None), CONFIG)
    window = with_extras(binary_frame(rng, 800, day=0), rng, 1.0)
    result = evaluate_window(
        checks,
        fitted,
        config=CONFIG,
        config_hash="h",
        start=START,
        end=START + DAY,
        load=lambda: WindowData(window, WindowReport(START, START + DAY, len(window), 800, 0, 0)),
        labels_complete=True,
    )
    report = result.report
    assert report.errors == {}
    assert {"drift.multivariate", "drift.embeddings", "segments"} <= set(report.sections)
    figures = report.figures()
    assert figures["drift.embeddings.emb.drifted"] == 1.0
    assert "drift.multivariate.reconstruction_error" in figures and "segments.region.n.drift.share" in figures
    assert "footprint.drift_multivariate.wall_s" in figures
    assert [name for name in figures if not is_known_field(name)] == []
    assert any(f.check == "drift.embeddings" for f in report.findings)


def test_embedding_columns_are_read_from_the_sources(tmp_path):
    # The vector columns are read with the window and the reference (they are not model inputs).
    from watchkeeper.windows import load_window, read_reference

    rng = np.random.default_rng(2)
    ref = pd.concat(
        [with_extras(binary_frame(rng, 400, day=d), rng, 0.0) for d in range(-3, 0)], ignore_index=True
    )
    window = with_extras(binary_frame(rng, 400, day=0), rng, 1.0)
    ref.to_parquet(tmp_path / "ref.parquet")
    window.to_parquet(tmp_path / "logs.parquet")
    raw = {
        **RAW,
        "sources": {
            "inference_logs": {"type": "parquet", "path": str(tmp_path / "logs.parquet")},
            "reference": {"type": "parquet", "path": str(tmp_path / "ref.parquet")},
        },
    }
    config = parse_config(raw)
    reference = read_reference(config)
    loaded = load_window(config, START, START + DAY, labels=None)
    assert "emb" in reference.frame.columns and "emb" in loaded.frame.columns
    check = EmbeddingDriftCheck()
    result = evaluate_window(
        (check,),
        fit_checks((check,), reference, config),
        config=config,
        config_hash="h",
        start=START,
        end=START + DAY,
        load=lambda: loaded,
        labels_complete=True,
    )
    assert result.report.errors == {}
    assert result.report.figures()["drift.embeddings.emb.drifted"] == 1.0

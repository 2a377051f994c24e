"""measure_model end to end on the planted cue table: one JSON-ready summary block."""

import json

import numpy as np
import pytest

from auditor.metrics.analysis import measure_model
from auditor.metrics.settings import AnalysisSettings

REGIONS = ["face", "object", "background"]
DESIGN_KEYS = ["metrics", "by_group", "attention", "attention_by_class", "findings", "clusters"]


def test_measure_model_block(cue_table):
    df = cue_table.copy()
    df["flip_face"] = (df["hair"] == "blond") & (df["label"] == "nurse")
    df["conf_drop_face"] = df["flip_face"].astype(float) * 0.5
    emb = np.random.default_rng(0).normal(size=(len(df), 6)).astype(np.float32)
    cfg = AnalysisSettings(n_bootstrap=100, min_group_size=10)
    sanity = {"method": "gradcam", "test": "model_parameter_randomization", "spearman": 0.1,
              "passed": True}
    res = measure_model(df, emb, methods=["gradcam"], regions=REGIONS, attributes=["hair"],
                        config=cfg, sanity=sanity, seed=0)
    block = res.summary_block()
    assert list(block)[:6] == DESIGN_KEYS and block["sanity"] == sanity
    json.dumps(block, allow_nan=False)
    assert res.cluster_labels.shape == (len(df),)
    assert (res.cluster_labels[df["correct"].to_numpy()] == -1).all()
    assert (res.cluster_labels[~df["correct"].to_numpy()] >= 0).all()
    cue = [f for f in block["findings"] if f["kind"] == "spurious_cue"]
    assert cue and cue[0]["severity"] == "high"
    assert cue[0]["evidence"]["reliance_flip_rate"] == pytest.approx(1.0)
    assert block["reliance"]["face"]["flip_rate"] == pytest.approx(0.25, abs=0.01)
    assert block["attention"]["gradcam"]["face"]["n"] == len(df)


def test_measure_model_without_embeddings(clean_table):
    cfg = AnalysisSettings(n_bootstrap=100)
    res = measure_model(clean_table, None, methods=["gradcam"], regions=REGIONS,
                        attributes=["hair"], config=cfg)
    assert res.clusters.clusters == [] and (res.cluster_labels == -1).all()
    assert res.findings == [] and res.reliance is None
    assert "sanity" not in res.summary_block()


def test_settings_mirror_the_config_and_metrics_never_import_it():
    from pathlib import Path

    from auditor.config import AnalysisConfig
    from auditor.pipeline.model_summary import analysis_settings

    assert analysis_settings(AnalysisConfig()) == AnalysisSettings()
    custom = analysis_settings(AnalysisConfig(gap_threshold=0.2, spurious_regions=["face"]))
    assert custom.gap_threshold == 0.2 and custom.spurious_regions == ("face",)
    metrics = Path(__file__).resolve().parents[2] / "auditor" / "metrics"
    offenders = [p.name for p in metrics.glob("*.py") if "auditor.config" in p.read_text()]
    assert offenders == []

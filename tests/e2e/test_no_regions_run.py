"""A dataset without any region annotation runs end to end: cues, groups and clusters, and the
region-based sections say plainly that there are no regions."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app

FIXTURE = Path(__file__).resolve().parents[2] / "sample_configs" / "fixtures" / "tiny_folder"


def test_run_without_regions(tmp_path):
    cfg = {
        "name": "no regions", "output_dir": str(tmp_path / "run"), "seed": 0, "device": "cpu",
        "data": {"image_folder": str(FIXTURE / "images"),
                 "attributes_csv": str(FIXTURE / "attributes.csv"), "attributes": ["hair"],
                 "image_size": 32, "normalize": "none"},
        "models": [{"name": "m", "train": {"epochs": 1, "batch_size": 8}}],
        "saliency": {"methods": ["gradcam"], "batch_size": 8},
        "analysis": {"min_group_size": 1, "n_bootstrap": 50, "sanity_check": False,
                     "concepts": {"n": 3}},
        "report": {"formats": ["html"], "examples_per_group": 1},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset"]["regions"] == ["background"]
    model = summary["models"]["m"]
    assert model["by_group"]["hair"]  # group metrics
    assert "clusters" in model
    cells = [c["cell"] for c in model["average_maps"]["cells"]]
    assert cells[0] == "all" and any(c.startswith("class ") for c in cells)
    first = model["average_maps"]["cells"][0]
    if first["n"]:  # the mean of normalised maps sums to 1
        assert np.asarray(first["map"]).sum() == pytest.approx(1.0, abs=1e-3)
    assert isinstance(model["hotspots"], list)
    assert 1 <= model["concepts"]["n"] <= 3 and len(model["concepts"]["items"]) == \
        model["concepts"]["n"]
    with np.load(run / "cues" / "m.npz") as z:
        assert z["average_maps"].shape[0] == len(cells)
        assert z["concept_presence"].shape == (model["n"], model["concepts"]["n"])
    resolved = yaml.safe_load((run / "config.resolved.yaml").read_text())
    assert resolved["analysis"]["expected_regions"] == []
    html = (run / "report.html").read_text()
    assert "The data has no annotated regions" in html
    assert "Reliance test (region masking)" not in html  # no tables of the background alone
    assert "6. Cues nobody annotated" in html and "Discovered concepts" in html

"""Names from a user's manifest that look like auditor's own separators.

auditor joins names into keys for display and for its own bookkeeping: a context swap is
``<attribute>:<region>``, a confusion ``true->pred``. Both used to be split back apart, so an
attribute called ``hair:tone`` (a KeyError) or a class called ``MI->ICU`` (a ValueError) ended a
run in a traceback. The pieces are now carried as they are."""

import json

import pandas as pd
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import SyntheticConfig
from auditor.data.synthetic import generate_clinic


def test_an_attribute_with_a_colon_and_a_class_with_an_arrow_are_audited(tmp_path):
    manifest = generate_clinic(tmp_path / "data", SyntheticConfig(
        n_train=40, n_val=0, n_test=24, image_size=32), seed=0)
    table = pd.read_csv(manifest).rename(columns={"hair": "hair:tone"})
    table["label"] = table["label"].replace({"doctor": "MI->ICU"})
    table.to_csv(manifest, index=False)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "name": "names", "output_dir": "run", "seed": 0, "device": "cpu",
        "data": {"manifest": "data/manifest.csv", "attributes": ["hair:tone"],
                 "regions": {"path": "data/regions.json"}, "image_size": 32},
        "models": [{"name": "m", "train": {"epochs": 1}}],
        "saliency": {"methods": ["gradcam"]},
        "analysis": {"expected_regions": ["object"], "sanity_check": False,
                     "n_bootstrap": 50, "min_group_size": 2},
        "report": {"formats": ["html"]}}))
    result = CliRunner().invoke(app, ["run", str(config)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    swaps = summary["models"]["m"]["swaps"]
    assert swaps["hair:tone:background"]["attribute"] == "hair:tone"
    assert swaps["hair:tone:background"]["region"] == "background"
    html = (tmp_path / "run/report.html").read_text()
    assert "background from another hair:tone" in html
    assert "MI-&gt;ICU" in html  # escaped, and shown whole

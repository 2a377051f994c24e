"""The other commands end to end: real-data example, compare, rebalance, report, methods."""

import json
import shutil
from pathlib import Path

import pandas as pd
import yaml
from helpers.tiny_config import TINY, write_config
from typer.testing import CliRunner

from auditor.cli import app

REPO = Path(__file__).resolve().parents[2]


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_real_folder_example_validates_and_runs(tmp_path):
    shutil.copytree(REPO / "sample_configs", tmp_path / "sample_configs")
    cfg_path = tmp_path / "sample_configs/real_folder_example.yaml"
    result = invoke("validate", cfg_path)
    assert result.exit_code == 0, result.output
    assert "classes: doctor, nurse" in result.output and "face (100% annotated)" in result.output
    result = invoke("run", cfg_path)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs/tiny-folder-example"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset"]["regions"] == ["face", "object", "background"]
    assert (run / "report.html").is_file() and not (run / "report.pdf").exists()


def test_compare_two_models_of_a_run_and_refuse_mismatch(tiny_run, tmp_path):
    run = tiny_run[0].parent / "run"
    out = tmp_path / "cmp"
    result = invoke("compare", run, run, "--model-a", "baseline", "--model-b", "rebalanced",
                    "--out", out)
    assert result.exit_code == 0, result.output
    assert "McNemar p" in result.output
    for name in ("compare.html", "compare.pdf", "compare.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "compare.json").read_text())
    comp = doc["comparisons"][0]
    assert comp["n"] == 32 and 0 <= comp["mcnemar_p"] <= 1

    other = write_config(tmp_path / "other",
                         data={**TINY["data"], "synthetic": {**TINY["data"]["synthetic"],
                                                             "n_test": 16}},
                         report={"formats": []})
    assert invoke("run", other).exit_code == 0
    result = invoke("compare", run, tmp_path / "other/run", "--out", tmp_path / "bad")
    assert result.exit_code == 1 and "has 2 models (baseline, rebalanced)" in result.output
    result = invoke("compare", run, tmp_path / "other/run", "--model-a", "baseline",
                    "--model-b", "baseline", "--out", tmp_path / "bad")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert any(line.startswith("error:") and "sample id" in line
               for line in result.output.splitlines()), result.output


def test_report_rerenders_without_models(tiny_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(tiny_run[0].parent / "run", run)
    shutil.rmtree(run / "models")
    (run / "report.html").unlink()
    result = invoke("report", run, "--no-pdf")
    assert result.exit_code == 0, result.output
    assert "tiny &lt;b&gt;audit&lt;/b&gt;" in (run / "report.html").read_text()


def test_report_refuses_a_non_run(tmp_path):
    result = invoke("report", tmp_path)
    assert result.exit_code == 1 and "not a finished auditor run" in result.output


def test_rebalance_writes_requested_proportions(tmp_path):
    from auditor.config import SyntheticConfig
    from auditor.data.synthetic import generate_clinic

    manifest = generate_clinic(tmp_path / "d", SyntheticConfig(n_train=40, n_val=0, n_test=4,
                                                                bias=0.9, image_size=32), seed=0)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data": {"manifest": str(manifest), "attributes": ["hair"]},
                                   "models": [{"name": "m"}]}))
    out = tmp_path / "balanced.csv"
    result = invoke("rebalance", cfg, "--by", "hair", "--strategy", "oversample", "--out", out)
    assert result.exit_code == 0, result.output
    assert "before" in result.output and "after" in result.output
    df = pd.read_csv(out)
    cells = df[df["split"] == "train"].groupby(["label", "hair"]).size()
    assert len(cells) == 4 and cells.nunique() == 1
    assert (df["split"] == "test").sum() == 4

    result = invoke("rebalance", cfg, "--by", "hat", "--out", out)
    assert result.exit_code == 1 and "hat" in result.output

    result = invoke("rebalance", cfg, "--by", "hair", "--strategy", "smote", "--out", out)
    assert result.exit_code == 1 and "smote" in result.output


def test_synth_command_writes_dataset(tmp_path):
    result = invoke("data", "synth", "clinic", "--out", tmp_path / "d", "--n-train", "8",
                    "--n-val", "0", "--n-test", "4", "--image-size", "32")
    assert result.exit_code == 0, result.output
    df = pd.read_csv(tmp_path / "d/manifest.csv")
    assert len(df) == 12 and set(df.columns) == {"path", "label", "split", "hair"}
    result = invoke("data", "synth", "clinic", "--out", tmp_path / "e", "--bias", "2")
    assert result.exit_code == 1 and "Traceback" not in result.output

"""Before and after, the way users do it: audit -> rebalance -> retrain -> compare.

Every data source (synthetic, manifest, image folder) and every strategy (oversample,
undersample, reweight) goes through `audit rebalance`, `audit validate` and `audit run`; the
light commands (`audit compare`, `audit report`) run without importing torch.
"""

from __future__ import annotations

import copy
import html
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers.tiny_config import TINY
from typer.testing import CliRunner

from auditor.cli import app

REPO = Path(__file__).resolve().parents[2]
LIGHT = {"saliency": {"methods": ["gradcam"], "batch_size": 16},
         "analysis": {"n_bootstrap": 50, "sanity_check": False},
         "report": {"formats": ["html"], "examples_per_group": 1}}


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _config(folder: Path, data: dict, *, name: str, model: str = "baseline") -> Path:
    cfg = copy.deepcopy(TINY)
    cfg.update(copy.deepcopy(LIGHT), name=name, output_dir=name, data=data,
               models=[{"name": model, "train": {"epochs": 1, "batch_size": 16}}])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    """A finished tiny synthetic audit (the "before" run) and its config."""
    folder = tmp_path_factory.mktemp("before_after")
    cfg = _config(folder, copy.deepcopy(TINY["data"]), name="before")
    result = invoke("run", cfg)
    assert result.exit_code == 0, result.output
    return cfg, folder / "before"


def test_the_whole_loop_on_synthetic_data(before):
    """audit -> rebalance -> one added config line -> retrain -> compare."""
    cfg, run_before = before
    folder = cfg.parent
    out = folder / "train_balanced.csv"
    result = invoke("rebalance", cfg, "--by", "hair", "--out", out)
    assert result.exit_code == 0, result.output
    assert "train_manifest: train_balanced.csv" in result.output  # the edit, spelled out
    train = pd.read_csv(out).query("split == 'train'")
    assert train.groupby(["label", "hair"]).size().nunique() == 1  # oversampled to equal cells
    after_cfg = yaml.safe_load(cfg.read_text())
    after_cfg["data"]["train_manifest"] = "train_balanced.csv"  # the one added line
    after_cfg.update(name="after", output_dir="after")
    after_cfg["models"][0]["name"] = "oversampled"
    (folder / "after.yaml").write_text(yaml.safe_dump(after_cfg))
    result = invoke("validate", folder / "after.yaml")
    assert result.exit_code == 0, result.output
    assert "sampling weights" in " ".join(result.output.split())
    result = invoke("run", folder / "after.yaml")
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "after/summary.json").read_text())
    steps = summary["models"]["oversampled"]["verdict"]["next"]  # printed under the verdict
    assert 1 <= len(steps) <= 3 and all(f"next: {s[:30]}" in " ".join(result.output.split())
                                        for s in steps)
    assert summary["dataset"]["splits"]["train"] == train["path"].nunique()
    result = invoke("compare", run_before, folder / "after", "--out", folder / "cmp")
    assert result.exit_code == 0, result.output
    doc = json.loads((folder / "cmp/compare.json").read_text())
    comp = doc["comparisons"][0]
    assert doc["attention_comparable"] is True and doc["dataset"]["n_samples"] == 32
    assert (comp["baseline"], comp["candidate"]) == ("baseline", "oversampled")
    assert comp["mcnemar"]["method"] in ("exact", "chi2", "none")
    assert set(comp["attention"]["gradcam"]) == {"face", "object", "background"}
    # what changed between the two models' findings, as `audit run` says it for two models
    assert doc["headline"].startswith("oversampled ") and "worst-group accuracy" in doc["headline"]
    assert "; accuracy " in doc["headline"] and "n=32) → " in doc["headline"]
    page = html.unescape(" ".join((folder / "cmp/compare.html").read_text().split()))
    assert f"What changed: {doc['headline']}" in page.replace("<b>", "").replace("</b>", "")
    assert doc["headline"][:40] in " ".join(result.output.split())


@pytest.mark.parametrize("strategy", ["oversample", "undersample", "reweight"])
def test_each_strategy_round_trips_through_validate_and_run(tmp_path, strategy):
    """A manifest source rebalanced and read back as the data.manifest of the next run."""
    from auditor.config import SyntheticConfig
    from auditor.data.synthetic import generate_clinic

    manifest = generate_clinic(tmp_path / "d", SyntheticConfig(
        n_train=40, n_val=0, n_test=12, bias=0.9, image_size=32), seed=0)
    regions = {"format": "coco", "path": str(manifest.parent / "regions.json")}
    data = {"manifest": str(manifest), "attributes": ["hair"], "regions": regions,
            "image_size": 32, "normalize": "none"}
    cfg = _config(tmp_path, data, name="src")
    out = manifest.parent / f"{strategy}.csv"  # next to the original: same data root
    result = invoke("rebalance", cfg, "--by", "hair", "--strategy", strategy, "--out", out)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert ("weight" in written.columns) == (strategy == "reweight")
    assert written["path"].duplicated().any() == (strategy == "oversample")
    again = _config(tmp_path, {**data, "manifest": str(out)}, name=f"run_{strategy}")
    result = invoke("validate", again)
    assert result.exit_code == 0, result.output
    assert ("sampling weights" in " ".join(result.output.split())) == (strategy != "undersample")
    result = invoke("run", again)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / f"run_{strategy}/summary.json").read_text())
    n_train = summary["dataset"]["splits"]["train"]
    assert n_train == written.query("split == 'train'")["path"].nunique()


def test_rebalance_an_image_folder(tmp_path):
    """An image folder is rebalanced like a manifest; ids stay those of the folder."""
    from auditor.config import SyntheticConfig
    from auditor.data.synthetic import generate_clinic

    manifest = generate_clinic(tmp_path / "d", SyntheticConfig(
        n_train=24, n_val=0, n_test=8, bias=0.9, image_size=32), seed=0)
    rows = pd.read_csv(manifest)
    folder = tmp_path / "folder"
    for row in rows.itertuples():
        target = folder / row.label / Path(row.path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((manifest.parent / row.path).read_bytes())
    attrs = rows.assign(path=[f"{lab}/{Path(p).name}" for lab, p in zip(rows.label, rows.path,
                                                                        strict=True)])
    attrs[["path", "hair", "split"]].to_csv(tmp_path / "attrs.csv", index=False)
    data = {"image_folder": str(folder), "attributes_csv": str(tmp_path / "attrs.csv"),
            "attributes": ["hair"], "image_size": 32, "normalize": "none",
            "regions": {"format": "coco", "path": str(manifest.parent / "regions.json")}}
    cfg = _config(tmp_path, data, name="folder_run")
    out = tmp_path / "balanced.csv"
    result = invoke("rebalance", cfg, "--by", "hair", "--strategy", "reweight", "--out", out)
    assert result.exit_code == 0, result.output
    assert "audit rebalance works on a manifest" not in result.output
    written = pd.read_csv(out)
    assert set(written["path"]) == set(attrs["path"])  # ids relative to the folder
    with_train = _config(tmp_path, {**data, "train_manifest": str(out)}, name="folder_after")
    result = invoke("validate", with_train)
    assert result.exit_code == 0, result.output
    assert "sampling weights" in " ".join(result.output.split())


def _light(args: list[str]) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter and report whether torch (and matplotlib) got
    imported."""
    code = ("import sys\nfrom auditor.cli import app\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            "print('MATPLOTLIB' if 'matplotlib' in sys.modules else 'NO-MATPLOTLIB')\n"
            "print('TORCH' if {'torch', 'torchvision'} & set(sys.modules) else 'NO-TORCH')\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_compare_and_report_import_no_torch(before, tmp_path):
    _, run = before
    done = _light(["compare", str(run), str(run), "--out", str(tmp_path / "c")])
    # one model per side, the same on both sides: it still compares (delta 0), without torch;
    # its bars are HTML, so it needs no matplotlib either
    assert done.stdout.strip().endswith("NO-MATPLOTLIB\nNO-TORCH"), done.stdout + done.stderr
    assert (tmp_path / "c/compare.json").is_file()
    assert "note: A and B are the same model" in " ".join(done.stdout.split())
    done = _light(["report", str(run), "--no-pdf"])
    assert done.stdout.strip().endswith("NO-TORCH"), done.stdout + done.stderr
    assert "report.html" in done.stdout


def test_run_and_compare_use_one_mcnemar_rule(tiny_run):
    """`audit run`'s summary comparison and `audit compare` give the same test on the same
    pairs: exact below MCNEMAR_EXACT_BELOW discordant pairs, chi-square from it on."""
    from auditor.metrics.stats import MCNEMAR_EXACT_BELOW
    from auditor.pipeline.compare_runs import compare_runs

    cfg, result = tiny_run
    assert result.exit_code == 0, result.output
    run = cfg.parent / "run"
    in_run = json.loads((run / "summary.json").read_text())["comparisons"][0]["mcnemar"]
    res = compare_runs(run, run, model_a="baseline", model_b="rebalanced", n_boot=50)
    assert res.comparison.mcnemar.to_dict() == in_run
    n = in_run["n_discordant"]
    assert in_run["method"] == ("none" if n == 0 else "exact" if n < MCNEMAR_EXACT_BELOW
                                else "chi2")


def test_walkthrough_after_config_is_the_demo_plus_one_line():
    """README's walkthrough: clinic_after.yaml audits the demo's own test images (same data
    section but for train_manifest), so `audit compare` matches every id."""
    import yaml

    demo = yaml.safe_load((REPO / "sample_configs/clinic_demo.yaml").read_text())
    after = yaml.safe_load((REPO / "sample_configs/clinic_after.yaml").read_text())
    extra = after["data"].pop("train_manifest")
    assert extra.endswith("clinic-train-balanced.csv")
    assert after["data"] == demo["data"]
    for key in ("seed", "saliency", "analysis"):
        assert after[key] == demo[key], key

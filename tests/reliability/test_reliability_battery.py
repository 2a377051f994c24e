"""Bad input through the CLI: one ``error:`` line naming the culprit and exit 1, or a sample
skipped with its reason. Never a traceback, never code execution, never raw HTML."""

from __future__ import annotations

import html
import json
import pickle

import pytest
import torch
import yaml
from helpers.reliability import (
    assert_one_line_error,
    forged_png_header,
    invoke,
    make_manifest_dataset,
    manifest_config,
)
from PIL import Image

from auditor.models import build_model

# -- config mistakes ------------------------------------------------------------------------


@pytest.fixture
def dataset(tmp_path):
    """A clean tiny manifest dataset and its config (nothing run yet)."""
    manifest = make_manifest_dataset(tmp_path / "data")
    return manifest, manifest_config(tmp_path, manifest)


def test_malformed_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndata: {manifest: [a.csv\n")
    line = assert_one_line_error(invoke("run", path), "bad.yaml")
    assert "line" in line


def test_unknown_key(dataset):
    _, path = dataset
    raw = yaml.safe_load(path.read_text())
    raw["models"][0]["trian"] = {"epochs": 1}
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(invoke("run", path), "models[0].trian", "'train'")


def test_wrong_type(dataset):
    _, path = dataset
    raw = yaml.safe_load(path.read_text())
    raw["saliency"]["batch_size"] = "sixteen"
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(invoke("run", path), "saliency.batch_size")


def test_negative_seed(dataset):
    _, path = dataset
    raw = yaml.safe_load(path.read_text())
    raw["seed"] = -1
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(invoke("run", path), "seed")


def test_missing_manifest(tmp_path):
    path = manifest_config(tmp_path, tmp_path / "nowhere" / "gone.csv")
    assert_one_line_error(invoke("run", path), "gone.csv")


def test_empty_test_split(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", test_split="val")
    path = manifest_config(tmp_path, manifest)
    assert_one_line_error(invoke("run", path), "audit_split", "'test'")


def test_manifest_not_utf8(dataset):
    manifest, path = dataset
    manifest.write_bytes(b"path,label,split,hair\n\xff\xfe\x00bad,\x81,test,dark\n")
    assert_one_line_error(invoke("run", path), "manifest.csv")


def test_regions_file_not_json(dataset):
    manifest, path = dataset
    (manifest.parent / "regions.json").write_text("{\"images\": [1, 2", encoding="utf-8")
    assert_one_line_error(invoke("run", path), "regions.json")


# -- checkpoints ----------------------------------------------------------------------------


def _with_checkpoint(tmp_path, name: str, arch: str = "simple_cnn",
                     classes=("doctor", "nurse")):
    manifest = make_manifest_dataset(tmp_path / "data", classes=classes, n_train=2, n_test=2)
    return manifest_config(tmp_path, manifest,
                           models=[{"name": "m", "arch": arch, "checkpoint": name}])


@pytest.mark.parametrize("head, data_classes", [(3, ("doctor", "nurse")),
                                                (2, ("doctor", "nurse", "porter"))])
def test_checkpoint_head_does_not_fit_the_classes(tmp_path, head, data_classes):
    torch.save(build_model("simple_cnn", head).state_dict(), tmp_path / "head.pt")
    path = _with_checkpoint(tmp_path, "head.pt", classes=data_classes)
    assert_one_line_error(invoke("run", path), "head.pt", "shape mismatch")


def test_checkpoint_of_another_architecture(tmp_path):
    state = build_model("simple_cnn", 2).state_dict()
    torch.save(state, tmp_path / "cnn.pt")
    path = _with_checkpoint(tmp_path, "cnn.pt", arch="resnet18")
    assert_one_line_error(invoke("run", path), "cnn.pt")


def test_checkpoint_with_a_mis_shaped_tensor(tmp_path):
    state = build_model("simple_cnn", 2).state_dict()
    key = next(k for k, v in state.items() if v.ndim == 4)  # the first conv weight
    state[key] = torch.zeros(*state[key].shape[:-1], state[key].shape[-1] + 2)
    torch.save(state, tmp_path / "bent.pt")
    path = _with_checkpoint(tmp_path, "bent.pt")
    assert_one_line_error(invoke("run", path), "bent.pt", "shape mismatch", key)


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: creates the marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle"])
def test_malicious_pickle_checkpoint_is_not_executed(tmp_path, container):
    marker = tmp_path / "pwned"
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(str(proof))))  # the payload is live when unpickled
    assert proof.exists()
    obj = {"features.0.weight": torch.zeros(1), "evil": _Payload(str(marker))}
    if container == "torch_zip":
        torch.save(obj, tmp_path / "evil.pt")
    else:
        (tmp_path / "evil.pt").write_bytes(pickle.dumps(obj, protocol=2))
    path = _with_checkpoint(tmp_path, "evil.pt")
    assert_one_line_error(invoke("run", path), "evil.pt")
    assert not marker.exists()


# -- one run over a hostile dataset: escaping, unsafe paths, decompression bombs --------------

SCRIPT_CLASS = "<script>alert(1)</script>"
SCRIPT_ATTR = "<img src=x onerror=alert(2)>"
SCRIPT_FILE = "<svg onload=alert(3)>.png"
SCRIPT_MISSING = "<script>alert(4)</script>.png"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """(folder, CliRunner result) of one run over a dataset with every kind of bad row."""
    tmp = tmp_path_factory.mktemp("hostile")
    root = tmp / "data"
    outside = tmp / "outside.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(outside)
    forged_png_header(root / "bomb_header.png", 30000, 30000)
    # a real 1-bit image between MAX_IMAGE_PIXELS and twice that (PIL only warns there)
    side = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)
    Image.new("1", (side, side)).save(root / "bomb_1bit.png", optimize=True)
    bad_rows = [
        (str(outside), "doctor", "test", "dark"),
        ("../outside.png", "nurse", "test", "dark"),
        ("sub/../../outside.png", "doctor", "test", "blond"),
        ("bomb_header.png", "doctor", "test", "dark"),
        ("bomb_1bit.png", "nurse", "test", "blond"),
        (SCRIPT_MISSING, "nurse", "test", "blond"),
    ]
    manifest = make_manifest_dataset(root, classes=(SCRIPT_CLASS, "nurse"),
                                     attr_values=(SCRIPT_ATTR, "plain"), n_train=6, n_test=4,
                                     names={0: SCRIPT_FILE, 6: "a,b \"quoted\".png"},
                                     extra_rows=bad_rows)
    path = manifest_config(tmp, manifest)
    return tmp, invoke("run", path)


def _skipped(folder) -> dict[str, str]:
    summary = json.loads((folder / "run" / "summary.json").read_text())
    return {s["id"]: s["reason"] for s in summary["dataset"]["skipped"]}


def test_hostile_run_succeeds(hostile_run):
    folder, result = hostile_run
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["dataset"]["n_samples"] == 8  # 2 classes x 4 clean test images
    assert summary["dataset"]["n_skipped"] == 6
    assert SCRIPT_CLASS in summary["dataset"]["classes"]


def test_paths_escaping_the_root_are_skipped(hostile_run):
    folder, _ = hostile_run
    skipped = _skipped(folder)
    absolute = str(folder / "outside.png")
    assert "absolute" in skipped[absolute]
    assert ".." in skipped["../outside.png"]
    assert ".." in skipped["sub/../../outside.png"]


def test_decompression_bombs_are_skipped(hostile_run):
    folder, _ = hostile_run
    skipped = _skipped(folder)
    for name in ("bomb_header.png", "bomb_1bit.png"):
        assert "too large" in skipped[name], skipped[name]


def test_missing_file_is_skipped(hostile_run):
    folder, _ = hostile_run
    assert "not found" in _skipped(folder)[SCRIPT_MISSING]


def test_report_escapes_hostile_names(hostile_run):
    folder, _ = hostile_run
    text = (folder / "run" / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in text
    assert "<img src=x onerror" not in text
    assert "<svg onload" not in text
    assert html.escape(SCRIPT_CLASS, quote=False) in text  # the class name, escaped
    assert html.escape(SCRIPT_ATTR, quote=False) in text  # the attribute value, escaped
    assert html.escape(SCRIPT_MISSING, quote=False) in text  # the skipped file name, escaped


# -- the output directory -----------------------------------------------------------------


def test_output_dir_of_another_config_is_refused(hostile_run):
    folder, _ = hostile_run
    raw = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    raw["seed"] = 1
    other = folder / "other.yaml"
    other.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    before = (folder / "run" / "summary.json").read_bytes()
    assert_one_line_error(invoke("run", other), "different config", "(seed: 0 -> 1)",
                          "--overwrite")  # the setting that differs, so no --overwrite by reflex
    assert (folder / "run" / "summary.json").read_bytes() == before  # left untouched
    raw["seed"], raw["analysis"] = 0, {**raw.get("analysis", {}), "n_bootstrap": 77}
    other.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert_one_line_error(invoke("run", other), "(analysis.n_bootstrap: ")


def test_same_config_resumes(hostile_run):
    folder, _ = hostile_run
    before = json.loads((folder / "run" / "summary.json").read_text())
    result = invoke("run", folder / "config.yaml")
    assert result.exit_code == 0, result.output
    assert "(resumed)" in result.output
    after = json.loads((folder / "run" / "summary.json").read_text())
    assert after["models"]["m"]["metrics"] == before["models"]["m"]["metrics"]


def test_overwrite_never_empties_a_foreign_directory(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    assert_one_line_error(invoke("run", path), "not an auditor run")
    assert_one_line_error(invoke("run", path, "--overwrite"), "not an auditor run",
                          "only empties folders auditor wrote")
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"

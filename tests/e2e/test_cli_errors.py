"""User mistakes: one line on stderr, exit 1, never a traceback."""

import pytest
import yaml
from helpers.tiny_config import TINY, write_config
from typer.testing import CliRunner

from auditor.cli import app


def invoke(*args):
    return CliRunner().invoke(app, list(args))


def assert_one_line_error(result, *needles):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    text = lines[0]
    for needle in needles:
        assert needle in text, (needle, text)


def test_unknown_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**TINY, "saliancy": {}}))
    assert_one_line_error(invoke("run", str(path)), "unknown key 'saliancy'", "'saliency'")


def test_malformed_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: [oops\n")
    assert_one_line_error(invoke("run", str(path)), "c.yaml")


def test_missing_config(tmp_path):
    assert_one_line_error(invoke("run", str(tmp_path / "none.yaml")), "config file not found")


def test_unknown_method(tmp_path):
    path = write_config(tmp_path, saliency={"methods": ["gradcan"]})
    assert_one_line_error(invoke("run", str(path)), "gradcan", "gradcam")


def test_unknown_arch(tmp_path):
    path = write_config(tmp_path, models=[{"name": "a", "arch": "resnet19"}])
    assert_one_line_error(invoke("run", str(path)), "resnet19", "resnet18")


def test_missing_manifest(tmp_path):
    path = write_config(tmp_path, data={"manifest": "nope.csv", "attributes": ["hair"]})
    assert_one_line_error(invoke("run", str(path)), "nope.csv")


def test_foreign_output_dir_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    path = write_config(tmp_path)
    result = invoke("run", str(path))
    assert_one_line_error(result, "not an auditor run", "choose another output_dir")
    assert "--overwrite" not in result.output  # it would not empty this folder either
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"


def test_checkpoint_shape_mismatch(tmp_path):
    import torch

    from auditor.models import build_model

    torch.save(build_model("simple_cnn", 5).state_dict(), tmp_path / "w.pt")
    path = write_config(tmp_path, models=[{"name": "a", "checkpoint": "w.pt"}])
    assert_one_line_error(invoke("run", str(path)), "w.pt", "shape mismatch")


@pytest.mark.parametrize("command", ["validate", "run"])
def test_unknown_expected_region(tmp_path, command):
    from auditor.config import SyntheticConfig
    from auditor.data.synthetic import generate_clinic

    manifest = generate_clinic(tmp_path / "d", SyntheticConfig(n_train=8, n_val=0, n_test=4,
                                                                image_size=32), seed=0)
    path = write_config(tmp_path, data={"manifest": str(manifest), "attributes": ["hair"],
                                        "regions": {"format": "coco",
                                                    "path": str(manifest.parent / "regions.json")},
                                        "image_size": 32},
                        analysis={"expected_regions": ["objekt"]})
    assert_one_line_error(invoke(command, str(path)), "objekt", "object")


def test_validate_ok(tmp_path):
    path = write_config(tmp_path)
    result = invoke("validate", str(path))
    assert result.exit_code == 0 and "config OK" in result.output
    assert "synthetic clinic dataset" in result.output


def test_methods_lists_registries():
    result = invoke("methods")
    assert result.exit_code == 0
    for name in ("gradcam", "gradcam++", "scorecam", "simple_cnn", "resnet50", "coco"):
        assert name in result.output


def test_dfr_and_group_weighted_models_train_and_audit(tmp_path):
    import json

    models = [
        {"name": "gw", "train": {"epochs": 1, "batch_size": 16, "loss": "group_weighted",
                                 "balance_by": ["hair"]}},
        {"name": "dfr", "train": {"epochs": 1, "batch_size": 16, "dfr": True,
                                  "balance_by": ["hair"]}},
    ]
    path = write_config(tmp_path, models=models, report={"formats": []},
                        analysis={"n_bootstrap": 100, "sanity_check": False})
    result = invoke("run", str(path))
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "run/models/dfr.json").read_text())
    assert meta["dfr"]["n_val"] == 8 and meta["dfr"]["groups"] == 4
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert set(summary["models"]) == {"gw", "dfr"}
    assert not (tmp_path / "run/report.html").exists()


def test_unknown_method_option(tmp_path):
    path = write_config(tmp_path, saliency={"methods": ["occlusion"],
                                            "options": {"occlusion": {"windw": 8}}})
    assert_one_line_error(invoke("run", str(path)), "saliency.options.occlusion", "windw",
                          "window")


def test_option_for_unrequested_method(tmp_path):
    path = write_config(tmp_path, saliency={"methods": ["gradcam"],
                                            "options": {"occlusion": {"window": 8}}})
    assert_one_line_error(invoke("run", str(path)), "saliency.options", "occlusion")


@pytest.fixture
def manifest_config(tmp_path):
    """A config over a tiny clinic manifest (with regions and a train_manifest)."""
    import shutil

    from auditor.config import SyntheticConfig
    from auditor.data.synthetic import generate_clinic

    manifest = generate_clinic(tmp_path / "data", SyntheticConfig(n_train=8, n_val=0, n_test=4,
                                                                   image_size=32), seed=0)
    shutil.copy(manifest, tmp_path / "train.csv")
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "output_dir": "run", "models": [{"name": "m"}],
        "data": {"manifest": "data/manifest.csv", "attributes": ["hair"],
                 "train_manifest": "train.csv", "regions": {"path": "data/regions.json"}}}))
    return path


@pytest.mark.parametrize(("out", "key"), [
    ("data/manifest.csv", "data.manifest"), ("data/../cfg.yaml", "the config file itself"),
    ("data/regions.json", "data.regions.path"), ("train.csv", "data.train_manifest")])
def test_rebalance_refuses_to_overwrite_an_input(manifest_config, out, key):
    target = manifest_config.parent / out
    before = target.read_bytes()
    result = invoke("rebalance", str(manifest_config), "--by", "hair", "--strategy",
                    "undersample", "--out", str(target))
    assert_one_line_error(result, "--out", out, key)
    assert target.read_bytes() == before


@pytest.mark.parametrize(("make", "needle"), [
    ("image", "does not end in .csv"), ("summary", "does not end in .csv"),
    ("fifo", "exists and is not a regular file"), ("folder", "exists and is not a regular file"),
    ("empty", "does not end in .csv")])
def test_rebalance_out_must_be_a_csv_file(manifest_config, tmp_path, make, needle):
    """--out onto a sample image or a run's summary.json replaced it with a CSV; onto
    /dev/null (as root) it put a regular file in the device's place."""
    import os

    images = sorted((manifest_config.parent / "data").rglob("*.png"))
    target = {"image": images[0], "summary": tmp_path / "run" / "summary.json",
              "fifo": tmp_path / "pipe.csv", "folder": tmp_path / "dir.csv",
              "empty": None}[make]
    if make == "summary":
        target.parent.mkdir()
        target.write_text("{}")
    elif make == "fifo":
        os.mkfifo(target)
    elif make == "folder":
        target.mkdir()
    before = target.read_bytes() if make in ("image", "summary") else None
    result = invoke("rebalance", str(manifest_config), "--by", "hair",
                    "--out", "" if target is None else str(target))
    assert_one_line_error(result, "--out", needle)
    if before is not None:
        assert target.read_bytes() == before
    if make == "fifo":
        import stat

        assert stat.S_ISFIFO(os.stat(target).st_mode)


def test_synth_refuses_a_folder_of_the_users_files(tmp_path):
    (tmp_path / "manifest.csv").write_text("my manifest")
    (tmp_path / "regions.json").write_text('{"my": "annotations"}')
    result = invoke("data", "synth", "clinic", "--out", str(tmp_path), "--n-train", "8",
                    "--n-val", "0", "--n-test", "4", "--image-size", "32")
    assert_one_line_error(result, str(tmp_path), "'manifest.csv' and 1 more", "new or empty")
    assert (tmp_path / "manifest.csv").read_text() == "my manifest"
    assert (tmp_path / "regions.json").read_text() == '{"my": "annotations"}'
    assert not (tmp_path / "images").exists()


@pytest.mark.parametrize(("by", "needles"), [
    ("label", ["--by", "'label' is always part of the groups", "attribute columns: hair"]),
    ("hair,hair", ["--by", "'hair' is given twice"]),
    ("hair,label", ["--by", "'label'"]),
    ("split", ["--by", "'split' is not an attribute", "attribute columns: hair"]),
    ("path", ["--by", "'path' is not an attribute"])])
def test_rebalance_by_a_non_attribute_is_one_line(manifest_config, by, needles):
    out = manifest_config.parent / "rb.csv"
    result = invoke("rebalance", str(manifest_config), "--by", by, "--out", str(out))
    assert_one_line_error(result, *needles)
    assert not out.exists()


SYNTH_TINY = ["--n-train", "8", "--n-val", "0", "--n-test", "4", "--image-size", "32"]


@pytest.mark.parametrize(("option", "value", "bound"), [
    ("--seed", "-1", "greater than or equal to 0"), ("--seed", str(2**32), "less than 4294967296"),
    ("--n-test", "2", "greater than or equal to 4"), ("--bias", "1.5", "less than or equal to 1"),
    ("--image-size", "9", "greater than or equal to 32")])
def test_synth_option_out_of_range_names_the_option_and_bound(tmp_path, option, value, bound):
    result = invoke("data", "synth", "clinic", "--out", str(tmp_path / "d"), *SYNTH_TINY,
                    option, value)  # an option given twice: the last value counts
    assert_one_line_error(result, f"error: {option}: ", bound)
    assert "pydantic.dev" not in result.output
    assert not (tmp_path / "d").exists()


def test_several_bad_options_name_the_others_too(tmp_path):
    """'--n-train: ... (and 1 more)' left the user to find the second one."""
    result = invoke("data", "synth", "clinic", "--out", str(tmp_path / "d"), *SYNTH_TINY,
                    "--n-train", "1", "--n-test", "1")
    assert_one_line_error(result, "error: --n-train: ", "(and 1 more: --n-test)")


def test_several_bad_config_values_name_the_others_too(tmp_path):
    from auditor.config import load_config
    from auditor.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("data: {image_size: 1, num_workers: -1}\nmodels: [{name: m}]\n"
                    "analysis: {n_bootstrap: 0}\n")
    with pytest.raises(ConfigError, match=r"\(and 2 more: (data\.num_workers|analysis"
                                          r"\.n_bootstrap), (data\.num_workers|analysis"
                                          r"\.n_bootstrap)\)$"):
        load_config(path)


def test_synth_largest_seed_is_used(tmp_path):
    import json

    result = invoke("data", "synth", "clinic", "--out", str(tmp_path / "d"), *SYNTH_TINY,
                    "--seed", str(2**32 - 1))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "d/params.json").read_text())["seed"] == 2**32 - 1


@pytest.mark.parametrize(("forward", "needle"), [
    ("return self.net(x)", "models[mlp]: no layer of this model outputs a spatial map"),
    ("return {'logits': self.net(x)}", "models[mlp]: the model returns a dict (keys: logits)"),
])
def test_validate_names_the_model_a_target_layer_cannot_come_from(tmp_path, forward, needle):
    """An MLP on flattened pixels, or a dict output: one line naming the model and what is
    wrong with it, not "target_layer='auto' ... name one explicitly"."""
    (tmp_path / "mlp.py").write_text(
        "import torch\nclass MLP(torch.nn.Module):\n    def __init__(self, num_classes):\n"
        "        super().__init__()\n        self.net = torch.nn.Sequential(torch.nn.Flatten(),"
        " torch.nn.Linear(3 * 32 * 32, num_classes))\n"
        f"    def forward(self, x):\n        {forward}\n")
    path = write_config(tmp_path, models=[{"name": "mlp", "arch": "mlp.py:MLP"}])
    assert_one_line_error(invoke("validate", str(path)), needle)


def test_cam_on_a_model_it_does_not_fit_names_the_model_and_the_key(tmp_path):
    """validate tries cam on one image: a ViT's head is not linear(GAP(A))."""
    (tmp_path / "vit.py").write_text(
        "import torch\nfrom torchvision.models import VisionTransformer\n"
        "def vit(num_classes):\n    torch.manual_seed(0)\n"
        "    m = VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,"
        " hidden_dim=8, mlp_dim=16, num_classes=num_classes)\n"
        "    torch.nn.init.normal_(m.heads.head.weight)\n    return m\n")
    path = write_config(tmp_path, models=[{"name": "vit", "arch": "vit.py:vit"}],
                        saliency={"methods": ["gradcam", "cam"], "batch_size": 16})
    assert_one_line_error(invoke("validate", str(path)), "models[vit]: saliency.methods: 'cam'")



def test_validate_refuses_a_device_run_refuses(tmp_path, monkeypatch):
    """``device: cuda`` on a machine without CUDA passed validate; run refused it."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = write_config(tmp_path, device="cuda")
    for command in ("validate", "run"):
        result = CliRunner().invoke(app, [command, str(path)])
        lines = [x for x in result.output.splitlines() if x.startswith("error:")]
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert "device: 'cuda' asked for, but no CUDA device is available here" in lines[0]
    assert yaml.safe_load(path.read_text())["device"] == "cuda"

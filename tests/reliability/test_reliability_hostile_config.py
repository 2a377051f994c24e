"""Hostile configs, numbers and checkpoints (issue #16 rows 8, 10, 11, 13, 18 and the ANSI
note): every limit is a bound checked before any work, every refusal one ``error:`` line."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import yaml
from helpers.reliability import (
    assert_one_line_error,
    invoke,
    make_manifest_dataset,
    manifest_config,
    read_summary,
)

from auditor.config import TrainConfig
from auditor.errors import ModelError
from auditor.models import build_model
from auditor.models.train import train_model


def _edit(path, change) -> None:
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw))


# -- row 10: nesting depth ---------------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "validate"])
def test_deep_yaml_is_one_line(tmp_path, command):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\nsaliency: " + "[" * 1000 + "]" * 1000 + "\n")
    assert_one_line_error(invoke(command, path), "deep.yaml", "nested more than")


def test_alias_bomb_is_one_line(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "lol.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert_one_line_error(invoke("validate", path), "lol.yaml", "expands to more than")


# -- row 18: duplicate keys ------------------------------------------------------------------

def test_duplicate_key_names_the_key_and_both_lines(dataset):
    _, path = dataset
    text = path.read_text()
    path.write_text(text + "seed: 7\n")  # seed is already set above
    first = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("seed:"))
    last = len(text.splitlines()) + 1
    assert_one_line_error(invoke("run", path), "duplicate key 'seed'",
                          f"lines {first} and {last}")


def test_duplicate_nested_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  synthetic: {}\n  image_size: 32\n  image_size: 64\nmodels: []\n")
    assert_one_line_error(invoke("validate", path), "duplicate key 'image_size'",
                          "lines 3 and 4")


# -- row 11: non-finite and degenerate numbers ------------------------------------------------

@pytest.mark.parametrize("change, key", [
    (lambda r: r["models"][0]["train"].update(lr=float("inf")), "models[0].train.lr"),
    (lambda r: r["models"][0]["train"].update(lr=float("nan")), "models[0].train.lr"),
    (lambda r: r["data"].update(normalize={"mean": [0, 0, 0], "std": [1e-320, 1, 1]}),
     "data.normalize"),
    (lambda r: r["data"].update(normalize={"mean": [float("nan"), 0, 0], "std": [1, 1, 1]}),
     "data.normalize"),
    (lambda r: r["analysis"].update(lift_threshold=float("inf")), "analysis.lift_threshold"),
    (lambda r: r["models"][0]["train"].update(weight_decay=float("nan")),
     "models[0].train.weight_decay"),
])
def test_non_finite_numbers_are_one_line(dataset, change, key):
    _, path = dataset
    _edit(path, change)
    assert_one_line_error(invoke("run", path), key)


def test_checkpoint_full_of_nan_is_refused(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=2, n_test=2)
    state = build_model("simple_cnn", 2).state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = torch.full_like(state[key], float("nan"))
    torch.save(state, tmp_path / "nan.pt")
    path = manifest_config(tmp_path, manifest,
                           models=[{"name": "m", "checkpoint": "nan.pt"}])
    assert_one_line_error(invoke("run", path), "nan.pt", key, "NaN or infinite")


def test_loss_that_becomes_nan_stops_training_naming_the_epoch():
    torch.manual_seed(0)
    images = torch.randn(8, 3, 16, 16)
    images[5] = float("nan")  # a poisoned sample reaches the loss in the first epoch
    ds = torch.utils.data.TensorDataset(images, torch.tensor([0, 1] * 4))
    cfg = TrainConfig(epochs=3, batch_size=4)
    with pytest.raises(ModelError, match=r"models\[m\]: training diverged: the loss became nan "
                                         r"in epoch 1 of 3"):
        train_model(build_model("simple_cnn", 2), ds, np.zeros(8), cfg, seed=0,
                    device=torch.device("cpu"), name="m")


def test_nan_loss_through_the_cli(dataset, monkeypatch):
    from auditor.models import train as train_module

    _, path = dataset
    monkeypatch.setattr(train_module.nn, "CrossEntropyLoss",
                        lambda: (lambda logits, labels: (logits * float("nan")).sum()))
    assert_one_line_error(invoke("run", path), "training diverged", "epoch 1 of 1")


# -- row 13: bounds checked before any work ---------------------------------------------------

@pytest.mark.parametrize("change, key", [
    (lambda r: r["analysis"].update(n_bootstrap=1_000_000_000_000), "analysis.n_bootstrap"),
    (lambda r: r["models"][0]["train"].update(epochs=10**9), "models[0].train.epochs"),
    (lambda r: r["models"][0]["train"].update(batch_size=10**12), "models[0].train.batch_size"),
    (lambda r: r["saliency"].update(batch_size=10**12), "saliency.batch_size"),
    (lambda r: r["data"].update(num_workers=100_000), "data.num_workers"),
])
def test_oversized_numbers_are_refused_before_work(dataset, change, key):
    _, path = dataset
    _edit(path, change)
    line = assert_one_line_error(invoke("run", path), key, "less than or equal")
    assert not (path.parent / "run").exists(), line  # refused before the run dir was made


def test_synthetic_size_is_bounded(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data: {synthetic: {n_train: 1000000000000}}\nmodels: [{name: m}]\n")
    assert_one_line_error(invoke("validate", path), "data.synthetic.n_train")


# -- row 8: a train split that fits in one batch ------------------------------------------------

@pytest.mark.parametrize("epochs", [1, 2, 5, 9, 10])
def test_few_optimizer_steps_train_without_error(epochs):
    torch.manual_seed(0)
    ds = torch.utils.data.TensorDataset(torch.randn(6, 3, 16, 16), torch.tensor([0, 1] * 3))
    hist = train_model(build_model("simple_cnn", 2), ds, np.zeros(6),
                       TrainConfig(epochs=epochs, batch_size=64), seed=0,
                       device=torch.device("cpu"))
    assert len(hist.loss) == epochs and all(np.isfinite(hist.loss))


def test_five_epochs_of_one_batch_through_the_cli(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest, report={"formats": []},
                           models=[{"name": "m", "train": {"epochs": 5, "batch_size": 64}}])
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert len(read_summary(tmp_path / "run")["training"]["m"]["history"]["loss"]) == 5


# -- the ANSI note: refused checkpoints say why, in one clean line ----------------------------

class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refused_checkpoint_has_no_ansi_and_no_weights_only_false_advice(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=2, n_test=2)
    torch.save({"w": torch.zeros(1), "evil": _Payload()}, tmp_path / "evil.pt")
    (tmp_path / "raw.pt").write_bytes(pickle.dumps({"evil": _Payload()}, protocol=2))
    for name in ("evil.pt", "raw.pt"):
        path = manifest_config(tmp_path / name.split(".")[0], manifest,
                               models=[{"name": "m", "checkpoint": str(tmp_path / name)}])
        result = invoke("run", path)
        line = assert_one_line_error(result, name, "refused")
        assert "\x1b" not in result.output and "[1m" not in result.output
        assert "weights_only=False" not in line and "weights_only` set to `False" not in line
        assert "pwned" not in result.output


def test_error_lines_carry_no_terminal_codes_or_markup(tmp_path):
    """Any error naming a file whose name holds escape codes or rich markup prints it inert."""
    path = tmp_path / "bad\x1b[31m[bold]name[red].yaml"
    path.write_text("name: [unclosed\n")
    result = invoke("run", path)
    line = assert_one_line_error(result, "[bold]name[red].yaml")
    assert "\x1b" not in result.output, line

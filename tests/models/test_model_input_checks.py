"""The model check's diagnoses: a TorchScript file traced at another input size, a model that
writes into its input, an output container holding the logits among other tensors."""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from torch import nn

from auditor.errors import ModelError
from auditor.models.torchscript import load_torchscript
from auditor.pipeline.model_check import check_output


class _ConvFlat(nn.Module):
    """conv -> flatten -> linear sized for ``side`` px: runs at that size only."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4 * side * side, 2)

    def forward(self, x):
        return self.head(self.body(x).flatten(1))


def _mlp(side: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * side * side, 16), nn.ReLU(),
                         nn.Linear(16, 2))


@pytest.mark.parametrize("make", [_ConvFlat, _mlp], ids=["conv_flatten", "mlp"])
def test_a_file_traced_at_another_size_is_one_line_without_torch_log_noise(tmp_path, capfd,
                                                                          make):
    """torch's fake-tensor pass logged ~17 lines of traceback to stderr, then the error said
    to use torch.jit.trace instead of torch.jit.script (it was traced)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(make(16).eval(), torch.rand(1, 3, 16, 16)),
                       str(tmp_path / "m.pt"))
    levels = {n: lg.level for n, lg in logging.Logger.manager.loggerDict.items()
              if n.startswith("torch") and isinstance(lg, logging.Logger)}
    capfd.readouterr()
    with pytest.raises(ModelError) as err:
        load_torchscript(tmp_path / "m.pt", torch.zeros(1, 3, 8, 8))
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'm.pt'}: the model fails on 8 px images "
                           "(RuntimeError: mat1 and mat2 shapes cannot be multiplied"), text
    assert "set data.image_size to the size the model was made for" in text
    assert "torch.jit.script" not in text and "TorchScript interpreter" not in text
    said = capfd.readouterr()
    assert "fake_tensor" not in said.err and "Traceback" not in said.err, said.err
    assert {n: logging.getLogger(n).level for n in levels} == levels  # restored
    # at its own size it loads and runs
    loaded = load_torchscript(tmp_path / "m.pt", torch.zeros(1, 3, 16, 16))
    assert loaded(torch.rand(2, 3, 16, 16)).shape == (2, 2)


class _Net(nn.Module):
    def __init__(self, mode: str = "") -> None:
        super().__init__()
        self.mode = mode
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 2)
        self.feat = nn.Linear(4, 8)

    def forward(self, x):
        if "inplace" in self.mode:
            x.mul_(2.0)
        z = self.body(x).mean((2, 3))
        if "random" in self.mode:
            z = nn.functional.dropout(z, 0.5, training=True)
        if self.mode == "dict":
            return {"feat": self.feat(z), "out": self.head(z)}
        if self.mode == "dict2":
            return {"a": self.head(z), "b": self.head(z) + 1}
        if self.mode == "tuple":
            return self.feat(z), self.head(z)
        return self.head(z)


def _check(mode: str) -> tuple[str, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    images = torch.rand(2, 3, 8, 8)
    kept = images.clone()
    with pytest.raises(ModelError) as err:
        check_output(_Net(mode), "models[m]", images, ["doctor", "nurse"])
    return str(err.value), images, kept


def test_a_model_changing_its_input_in_place_is_named_as_such():
    """It was "something random stays on (F.dropout...)": the second forward saw the doubled
    images of the first."""
    text, images, kept = _check("inplace")
    assert text.startswith("models[m]: the model changes its input tensor in place"), text
    assert "its scores are the same" in text and "random" not in text
    assert torch.equal(images, kept)  # each forward got its own copy
    text, _, _ = _check("inplace random")
    assert "changes its input tensor in place" in text
    assert "it gives other scores for the same images (by up to" in text
    text, _, _ = _check("random")
    assert "something random stays on" in text and "in place" not in text


@pytest.mark.parametrize("mode, needle", [
    ("dict", "a dict (keys: feat, out), not a logits tensor [N, classes]: wrap it in a module "
             "whose forward returns model(x)['out'] (its one output of 2 scores per image)"),
    ("tuple", "a tuple of 2 items, not a logits tensor [N, classes]: wrap it in a module whose "
              "forward returns model(x)[1] (its one output of 2 scores per image)"),
    ("dict2", "returns the logits among model(x)['a']/['b'] (each is [N, 2])"),
])
def test_a_container_output_suggests_the_entry_with_the_class_count(mode, needle):
    """It suggested model(x)['feat'] (the first key) for {"feat": [N, 8], "out": [N, 2]}."""
    text, _, _ = _check(mode)
    assert text.startswith("models[m]: the model returns ") and needle in text, text
    assert "['feat']" not in text and "[0]" not in text

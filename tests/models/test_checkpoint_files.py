"""Files given as ``checkpoint:`` that are not what torch.save writes, or that torch reads
with its own rules: each is one line naming the file and what it is, or loads as torch loads it."""

from __future__ import annotations

import json
import random
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import pytest
import torch
from torch import nn

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models import load_checkpoint
from auditor.models.build import build_configured


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))


def _refusal(path) -> str:
    """The one line ``simple_cnn`` with ``checkpoint: path`` fails with."""
    with pytest.raises(ModelError) as err:
        build_configured(ModelConfig(name="m", arch="simple_cnn", checkpoint=path), 2,
                         image_size=16)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"models[m].checkpoint: {path}")
    return line


def _zip(path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a model")


_LFS = ("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146140ac8fb8bb7f1d1a1e7"
        "d3c1c2f8a7e1f5d5b0a4c3e2d1f0a9b8c7d6\nsize 94371840\n")
FILES = {  # how it is written, what the line must say
    "empty": (lambda p: p.write_bytes(b""), "an empty file"),
    "lfs": (lambda p: p.write_text(_LFS), "a Git LFS pointer, not the weights: run git lfs pull"),
    "html": (lambda p: p.write_text("<!DOCTYPE html>\n<html><title>404</title></html>"),
             "a text file (an HTML page), not a PyTorch checkpoint"),
    "json": (lambda p: p.write_text(json.dumps({"lr": 0.1})), "a text file (JSON), not a"),
    "hello": (lambda p: p.write_text("hello"), "a text file, not a PyTorch checkpoint"),
    # "c" is pickle's GLOBAL opcode: read as a pickle, this named a class "fg.x"
    "config": (lambda p: p.write_text("cfg\nx\n."), "a text file, not a PyTorch checkpoint"),
    "random": (lambda p: p.write_bytes(random.Random(0).randbytes(512)),
               "not a PyTorch checkpoint (neither a zip archive"),
    "zip": (_zip, "a zip archive without a PyTorch checkpoint in it"),
}


@pytest.mark.parametrize("kind", list(FILES))
def test_a_file_that_is_not_a_checkpoint_says_what_it_is(tmp_path, kind):
    """torch's own lines read like a pickle needing code ("the file needs code to load:
    Unsupported operand 118"), or escaped as a traceback (KeyError: 101 for "hello")."""
    write, expected = FILES[kind]
    write(tmp_path / "w.pt")
    line = _refusal(tmp_path / "w.pt")
    assert expected in line
    assert "needs code" not in line and "Unsupported operand" not in line
    assert "pickled" not in line


def test_tensors_without_values_torch_cannot_load_are_one_line(tmp_path):
    """Meta-device tensors (Tensor.item() cannot be called on meta tensors), sparse and
    quantized ones (NotImplementedError ... SparseCPU): tracebacks before."""
    sd = _net().state_dict()
    cases = {
        "meta": (OrderedDict((k, v.to("meta")) for k, v in sd.items()),
                 r"tensor '0\.weight' is on the meta device and holds no values"),
        "sparse": ({**sd, "5.weight": sd["5.weight"].to_sparse()},
                   r"tensor '5\.weight' is stored sparse_coo, not as a dense"),
        "quantized": ({**sd, "5.weight": torch.quantize_per_tensor(sd["5.weight"], 0.1, 0,
                                                                   torch.qint8)},
                      r"tensor '5\.weight' is stored quantized"),
    }
    for name, (state, expected) in cases.items():
        torch.save(state, tmp_path / f"{name}.pt")
        with pytest.raises(ModelError, match=rf"{name}\.pt: {expected}"):
            load_checkpoint(_net(), tmp_path / f"{name}.pt")


def test_batchnorm_without_num_batches_tracked_loads_as_torch_loads_it(tmp_path):
    """Older or converted files lack BatchNorm's num_batches_tracked; torch's strict load takes
    a file without module versions so (the count starts at 0) and refuses one whose versions
    say it should have it: the same here (the first was refused as a missing key)."""
    trained = _net()
    trained.train()(torch.rand(2, 3, 8, 8))
    old = OrderedDict((k, v) for k, v in trained.state_dict().items()
                      if not k.endswith("num_batches_tracked"))
    torch.save(old, tmp_path / "old.pt")
    model = _net()
    load_checkpoint(model, tmp_path / "old.pt")
    reference = _net()
    reference.load_state_dict(torch.load(tmp_path / "old.pt"))  # strict
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert torch.equal(model[1].running_mean, trained[1].running_mean)

    versioned = trained.state_dict()
    del versioned["1.num_batches_tracked"]  # keeps _metadata: BatchNorm version 2
    torch.save(versioned, tmp_path / "v2.pt")
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        _net().load_state_dict(torch.load(tmp_path / "v2.pt"))
    with pytest.raises(ModelError, match=r"v2\.pt: missing key '1\.num_batches_tracked'"):
        load_checkpoint(_net(), tmp_path / "v2.pt")


def test_an_error_of_a_module_loader_is_one_line(tmp_path):
    class Picky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def _load_from_state_dict(self, *args, **kwargs):
            raise ValueError("version should be set to 1 or 2 instead of None")

    torch.save(Picky().state_dict(), tmp_path / "p.pt")
    with pytest.raises(ModelError, match=r"p\.pt: torch could not load it into the model "
                                         r"\(version should be set"):
        load_checkpoint(Picky(), tmp_path / "p.pt")


def _write_safetensors(state: dict, path) -> None:
    """The format by hand: little-endian u64 header length, JSON header, raw data."""
    header, blobs, offset = {}, [], 0
    for key, value in state.items():
        data = value.contiguous().numpy().tobytes()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[value.dtype]
        header[key] = {"dtype": dtype, "shape": list(value.shape),
                       "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


@pytest.mark.parametrize("name", ["w.safetensors", "w.pt"])
def test_safetensors_without_the_package_is_one_line_saying_to_install_it(tmp_path,
                                                                          monkeypatch, name):
    """torch's own line said "pip install safetensors" inside a refusal; a .safetensors file
    saved under another name is told by its header."""
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    _write_safetensors(_net().state_dict(), tmp_path / name)
    with pytest.raises(ModelError, match=rf"{name}: a \.safetensors file, which needs the "
                                         r"safetensors package: pip install safetensors"):
        load_checkpoint(_net(), tmp_path / name)


def test_safetensors_load_with_the_package(tmp_path, monkeypatch):
    """With the package importable, its load_file reads the file (a stand-in package here
    when the real one is not installed)."""
    sd = _net().state_dict()
    _write_safetensors(sd, tmp_path / "w.safetensors")
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        calls = []
        fake = types.ModuleType("safetensors.torch")

        def load_file(path, device="cpu"):
            calls.append(path)
            return {k: v.clone() for k, v in sd.items()}

        fake.load_file = load_file
        monkeypatch.setitem(sys.modules, "safetensors", types.ModuleType("safetensors"))
        monkeypatch.setitem(sys.modules, "safetensors.torch", fake)
    else:
        calls = [str(tmp_path / "w.safetensors")]
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    load_checkpoint(model, tmp_path / "w.safetensors")
    assert calls == [str(tmp_path / "w.safetensors")]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())


def test_a_pickle_not_written_by_torch_save_is_not_called_code(tmp_path):
    """pickle.dump's framing (protocol 4) is an opcode torch's reader lacks: "the file needs
    code to load: Unsupported operand 149" for a dict of floats."""
    import pickle

    with open(tmp_path / "p.pt", "wb") as fh:
        pickle.dump({"w": [0.5, 1.0]}, fh, protocol=4)
    with pytest.raises(ModelError) as err:
        load_checkpoint(_net(), tmp_path / "p.pt")
    assert "a pickle of protocol 4, not written by torch.save" in str(err.value)
    assert "needs code" not in str(err.value)


def test_the_weights_are_found_beside_an_optimizer_state_dict(tmp_path):
    """``{"state_dict": optimizer.state_dict(), "model": weights}``: the first usual key held
    the optimizer's state (nested dicts, no tensor at its top) and the file was refused."""
    from auditor.models.checkpoints import read_state_dict

    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(torch.rand(4, 3)).sum().backward()
    opt.step()
    torch.save({"state_dict": opt.state_dict(), "model": net.state_dict()}, tmp_path / "c.pt")
    got = read_state_dict(tmp_path / "c.pt")
    assert set(got) == {"weight", "bias"}
    torch.testing.assert_close(got["weight"], net.weight.detach())

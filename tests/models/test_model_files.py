"""Model files as users' own scripts write them: pickles saved from ``__main__``, checkpoint
layouts of training loops and libraries, TorchScript from deployment steps, torchvision
checkpoints with auxiliary heads."""

from __future__ import annotations

import sys

import pytest
import torch

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models.build import build_configured

NET_FILE = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class Net(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.body = nn.Sequential(Block(3, 4), Block(4, 4))
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))
'''


def _saved_from_main(tmp_path, monkeypatch, *, keep: tuple[str, ...]) -> ModelConfig:
    """``torch.save(Net())`` from a training script run as ``__main__``; the arch file given in
    the config defines the classes named in ``keep``."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(NET_FILE, "train.py", "exec"), namespace)  # noqa: S102  (the test's own code)
    main = sys.modules["__main__"]
    for name in ("Block", "Net"):
        monkeypatch.setattr(main, name, namespace[name], raising=False)
    torch.manual_seed(0)
    torch.save(namespace["Net"](), tmp_path / "whole.pt")
    for name in ("Block", "Net"):
        monkeypatch.delattr(main, name)
    # the arch file as the user kept it: Block renamed since the file was pickled, or not
    (tmp_path / "net_def.py").write_text(NET_FILE if "Block" in keep else
                                         NET_FILE.replace("Block", "Layer"))
    return ModelConfig(name="m", arch=f"{tmp_path}/net_def.py:Net",
                       checkpoint=tmp_path / "whole.pt", trust_pickle=True)


def test_a_pickle_saved_from_main_finds_every_class_of_the_arch_file(tmp_path, monkeypatch):
    """The model holds a custom Block: the unpickler gets every class the arch file defines,
    not only the arch class."""
    built = build_configured(_saved_from_main(tmp_path, monkeypatch, keep=("Block", "Net")), 2,
                             image_size=16)
    assert built.complete and type(built.model.body[0]).__name__ == "Block"
    assert built.model(torch.zeros(1, 3, 16, 16)).shape == (1, 2)


def test_a_class_the_arch_file_lacks_is_named(tmp_path, monkeypatch):
    mcfg = _saved_from_main(tmp_path, monkeypatch, keep=("Net",))
    with pytest.raises(ModelError, match=r"needs class __main__\.Block, .*not defined in the "
                                         r"arch's file \(it defines Layer, Net\)"):
        build_configured(mcfg, 2, image_size=16)

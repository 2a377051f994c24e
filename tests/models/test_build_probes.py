"""build_configured on models as users write and save them: a ``__getattr__`` that raises
something other than AttributeError, a whole model pickled inside a checkpoint dict."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models.build import build_configured
from auditor.models.registry import get_arch

CONFIG_GETATTR = '''
from torch import nn


class Net(nn.Module):
    """Unknown attributes are looked up in a config dict: KeyError, not AttributeError."""

    def __init__(self, num_classes=2):
        super().__init__()
        self.cfg = {"width": 4}
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, num_classes)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return self.__dict__["cfg"][name]

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))
'''


def test_a_getattr_raising_key_error_is_probed_safely(tmp_path):
    """getattr(model, "default_cfg", None) let the KeyError through: a traceback."""
    (tmp_path / "cfg_net.py").write_text(CONFIG_GETATTR)
    info = get_arch(f"{tmp_path}/cfg_net.py:Net")
    torch.manual_seed(0)
    trained = info.builder(2)
    torch.save(trained.state_dict(), tmp_path / "w.pt")
    built = build_configured(ModelConfig(name="m", arch=f"{tmp_path}/cfg_net.py:Net",
                                         checkpoint=tmp_path / "w.pt"), 2, image_size=16)
    assert built.complete and built.head == "head"
    assert torch.equal(built.model.head.weight, trained.head.weight)


def test_a_module_whose_getattr_raises_names_what_it_defines(tmp_path, monkeypatch):
    (tmp_path / "lazy_mod.py").write_text(
        "import torch\nclass Net(torch.nn.Linear):\n    pass\n\n\n"
        "def __getattr__(name):\n    return {}[name]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_mod", raising=False)
    with pytest.raises(ModelError, match=r"lazy_mod: no class or function 'Nett'; it defines: Net"):
        get_arch("lazy_mod:Nett")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


@pytest.mark.parametrize("key", ["model", "module", "net", "network"])
def test_a_trusted_checkpoint_dict_holding_the_model_uses_it(tmp_path, key):
    """{"model": model, "epoch": 3} was read as a state_dict: "unexpected key 'model'"."""
    saved = _net().train()
    torch.save({key: saved, "epoch": 3, "ema": _net()}, tmp_path / "c.pt")
    built = build_configured(ModelConfig(name="m", arch="simple_cnn",
                                         checkpoint=tmp_path / "c.pt", trust_pickle=True),
                             2, image_size=16)
    assert built.complete and built.notes["trust_pickle"] is True
    assert isinstance(built.model, nn.Sequential) and not built.model.training
    assert torch.equal(built.model[0].weight, saved[0].weight)


def test_a_checkpoint_dict_holding_two_models_names_both_keys(tmp_path):
    torch.save({"model": _net(), "net": _net()}, tmp_path / "c.pt")
    with pytest.raises(ModelError, match=r"models\[m\]\.checkpoint: .*c\.pt holds a model under "
                                         r"each of the keys model, net: save the one"):
        build_configured(ModelConfig(name="m", arch="simple_cnn", checkpoint=tmp_path / "c.pt",
                                     trust_pickle=True), 2, image_size=16)

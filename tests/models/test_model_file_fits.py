"""Model files that fit their model, or say in one line why not: keys read as torch reads them
(a submodule named ``module``), a pickled module's class against ``arch``, and the messages of
an input size a model cannot take, an empty state_dict, a TorchScript dict output and an arch
naming a method."""

from __future__ import annotations

import importlib
import sys
from collections import OrderedDict

import pytest
import torch
from torch import nn

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models.build import build_configured
from auditor.models.checkpoints import load_checkpoint
from auditor.models.hints import forward_hint

NET = '''
import torch
from torch import nn


class Plain(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))
'''


class Plain(nn.Module):
    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x):  # noqa: D102
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class Wrap(nn.Module):
    """A model whose own submodule is named ``module``: its keys start with ``module.``."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.module = Plain(num_classes)

    def forward(self, x):  # noqa: D102
        return self.module(x)


def _same(a: nn.Module, b: nn.Module) -> None:
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        torch.testing.assert_close(va, vb)


def test_a_submodule_named_module_keeps_its_keys(tmp_path):
    """Its state_dict was read with every leading ``module.`` stripped: "unexpected key
    'conv.weight'", though torch's strict load_state_dict takes the file."""
    torch.manual_seed(0)
    saved = Wrap()
    torch.save(saved.state_dict(), tmp_path / "wrap.pt")
    loaded = Wrap()
    load_checkpoint(loaded, tmp_path / "wrap.pt")
    _same(saved, loaded)


def test_a_dataparallel_prefix_is_still_read_off_where_the_model_lacks_it(tmp_path):
    torch.manual_seed(0)
    saved = Wrap()
    state = OrderedDict((f"module.{k}", v) for k, v in saved.state_dict().items())
    torch.save(state, tmp_path / "dp.pt")  # DataParallel(Wrap()): module.module.conv.weight
    loaded = Wrap()
    load_checkpoint(loaded, tmp_path / "dp.pt")
    _same(saved, loaded)
    plain = Plain()
    torch.save(OrderedDict((f"module.{k}", v) for k, v in plain.state_dict().items()),
               tmp_path / "plain.pt")
    again = Plain()
    load_checkpoint(again, tmp_path / "plain.pt")
    _same(plain, again)


@pytest.fixture
def pickled(tmp_path, monkeypatch):
    """A whole ``fits_net.Plain`` pickled to ``whole.pt``, its file ``fits_net.py``."""
    (tmp_path / "fits_net.py").write_text(NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fits_net", None)
    module = importlib.import_module("fits_net")
    torch.save(module.Plain(), tmp_path / "whole.pt")
    yield tmp_path
    sys.modules.pop("fits_net", None)


def test_a_pickled_module_of_another_class_than_arch_is_refused(pickled):
    """arch: resnet18 with a pickled fits_net.Plain: the run recorded resnet18."""
    mcfg = ModelConfig(name="m", arch="resnet18", checkpoint=pickled / "whole.pt",
                       trust_pickle=True)
    with pytest.raises(ModelError) as err:
        build_configured(mcfg, 2, image_size=32)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith("models[m].checkpoint holds a fits_net.Plain, but models[m].arch "
                           "is resnet18")
    assert "leave it out" in line


def test_a_pickled_module_records_its_class_when_arch_is_left_out(pickled):
    mcfg = ModelConfig(name="m", checkpoint=pickled / "whole.pt", trust_pickle=True)
    built = build_configured(mcfg, 2, image_size=32)
    assert built.complete and built.notes["arch"] == "fits_net.Plain"


def test_a_pickled_module_of_the_class_arch_names_loads(pickled):
    mcfg = ModelConfig(name="m", arch=f"{pickled / 'fits_net.py'}:Plain",
                       checkpoint=pickled / "whole.pt", trust_pickle=True)
    built = build_configured(mcfg, 2, image_size=32)
    assert built.complete and "arch" not in built.notes


def test_checkpoint_errors_name_the_config_key(tmp_path):
    torch.save(Plain().state_dict(), tmp_path / "other.pt")
    with pytest.raises(ModelError) as err:
        build_configured(ModelConfig(name="m", checkpoint=tmp_path / "other.pt"), 2,
                         image_size=16)
    assert str(err.value).startswith(f"models[m].checkpoint: {tmp_path / 'other.pt'}: "
                                     "unexpected key")


def test_an_empty_state_dict_is_named_so(tmp_path):
    """It read as "missing key 'conv.bias' (6 missing in all)"."""
    torch.save({}, tmp_path / "empty.pt")
    with pytest.raises(ModelError, match=r"empty\.pt: the file holds an empty state_dict"):
        load_checkpoint(Plain(), tmp_path / "empty.pt")


def test_maxvit_at_a_size_it_cannot_take_names_data_image_size_not_arch_kwargs():
    """"cannot build with arch_kwargs {}: Input size (8, 8) ... partition size 7"."""
    with pytest.raises(ModelError) as err:
        build_configured(ModelConfig(name="m", arch="maxvit_t"), 2, image_size=32)
    line = str(err.value)
    assert line.startswith("models[m]: maxvit_t")
    assert "data.image_size to a multiple of 224" in line and "arch_kwargs" not in line


def test_a_model_too_small_for_the_images_is_told_a_size_it_runs_on():
    """alexnet at 32 px: "the size the model was made for (traced or trained at)" of a model
    made for no size in particular."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.MaxPool2d(16), nn.Flatten(),
                          nn.Linear(4, 2))
    batch = torch.zeros(2, 3, 32, 32)
    with pytest.raises(RuntimeError) as err:
        model(batch)
    hint = forward_hint(model, err.value, batch)
    assert "it runs on 64 px images" in hint and "data.image_size" in hint


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):  # noqa: D102
        feat = self.conv(x).mean((2, 3))
        return {"logits": self.fc(feat), "feat": feat}


def test_a_torchscript_dict_output_says_to_export_it_again(tmp_path):
    """"wrap it in a module ... and give that class as arch": a TorchScript file has no class
    to give."""
    x = torch.zeros(1, 3, 16, 16)
    torch.jit.save(torch.jit.trace(DictOut().eval(), x, strict=False), tmp_path / "d.pt")
    mcfg = ModelConfig(name="m", arch="torchscript", checkpoint=tmp_path / "d.pt")
    with pytest.raises(ModelError) as err:
        build_configured(mcfg, 2, image_size=16)
    line = str(err.value)
    assert line.startswith(f"models[m].checkpoint: {tmp_path / 'd.pt'}: the model returns a dict")
    assert "save the TorchScript file again" in line and "model(x)['logits']" in line
    assert "give that class as arch" not in line


def test_an_arch_naming_a_method_says_so(tmp_path):
    (tmp_path / "nets.py").write_text(NET)
    mcfg = ModelConfig(name="m", arch=f"{tmp_path / 'nets.py'}:Plain.forward")
    with pytest.raises(ModelError) as err:
        build_configured(mcfg, 2, image_size=16)
    line = str(err.value)
    assert line.startswith("models[m].arch:") and "unknown architecture" not in line
    assert "not a class or function" in line and f'"{tmp_path / "nets.py"}:Plain"' in line

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


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(4, 2))


def test_checkpoint_layouts_of_training_loops_load(tmp_path):
    """PyTorch's "saving a general checkpoint" tutorial (model_state_dict) and a Lightning
    .ckpt (state_dict with every key under the LightningModule's "model." attribute)."""
    from auditor.models import load_checkpoint

    sd = _net().state_dict()
    torch.save({"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": {}},
               tmp_path / "general.pt")
    torch.save({"epoch": 3, "global_step": 9, "state_dict": {f"model.{k}": v
                                                             for k, v in sd.items()}},
               tmp_path / "lightning.ckpt")
    for name in ("general.pt", "lightning.ckpt"):
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                                    torch.nn.Flatten(), torch.nn.Linear(4, 2))
        load_checkpoint(model, tmp_path / name)
        assert torch.equal(model[0].weight, sd["0.weight"]), name


def test_other_layouts_list_what_the_file_holds_or_name_the_prefix(tmp_path):
    from auditor.models import load_checkpoint

    sd = _net().state_dict()
    torch.save({"epoch": 3, "weights": sd}, tmp_path / "nested.pt")
    with pytest.raises(ModelError, match=r"nested\.pt: expected a state_dict .* the file holds "
                                         r"a dict with keys epoch, weights \(a state_dict is "
                                         r"read from .* state_dict, model_state_dict, model\)"):
        load_checkpoint(_net(), tmp_path / "nested.pt")
    torch.save({f"net.{k}": v for k, v in list(sd.items())[:2]}, tmp_path / "prefixed.pt")
    with pytest.raises(ModelError, match=r"unexpected key 'net\.0\.weight' .*\(every key starts "
                                         r"with 'net\.', which no name of the model does"):
        load_checkpoint(torch.nn.Linear(2, 2), tmp_path / "prefixed.pt")


def test_googlenet_checkpoint_with_its_default_aux_heads_loads(tmp_path):
    """torchvision's googlenet keeps aux_logits=True by default, so a fine-tuned state_dict
    holds aux1.* and aux2.*; they only run in training and are dropped on load."""
    from torchvision.models import googlenet

    torch.manual_seed(0)
    trained = googlenet(num_classes=2, init_weights=False)
    assert any(k.startswith("aux1.") for k in trained.state_dict())
    torch.save(trained.state_dict(), tmp_path / "g.pt")
    built = build_configured(ModelConfig(name="m", arch="googlenet", checkpoint=tmp_path / "g.pt"),
                             2, image_size=64)
    assert built.complete and torch.equal(built.model.fc.weight, trained.fc.weight)
    assert not any(k.startswith("aux") for k in built.model.state_dict())


def test_inception_v3_below_75_px_names_data_image_size():
    with pytest.raises(ModelError, match=r"inception_v3 needs data\.image_size >= 75 \(got 64\)"):
        build_configured(ModelConfig(name="m", arch="inception_v3"), 2, image_size=64)


def test_a_trusted_checkpoint_dict_finds_its_state_dict_like_a_plain_one(tmp_path):
    """{'model_state_dict': sd, 'args': Namespace(...)}: the Namespace makes it a pickle that
    needs trust_pickle; the state_dict is then found under the same keys as in a plain file."""
    import argparse

    sd = _net().state_dict()
    torch.save({"model_state_dict": sd, "args": argparse.Namespace(lr=0.1)}, tmp_path / "c.pt")
    (tmp_path / "net.py").write_text(
        "import torch\ndef Net(num_classes):\n    return torch.nn.Sequential(torch.nn.Conv2d("
        "3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))\n")
    built = build_configured(ModelConfig(name="m", arch=f"{tmp_path}/net.py:Net",
                                         checkpoint=tmp_path / "c.pt", trust_pickle=True),
                             2, image_size=16)
    assert built.complete and torch.equal(built.model[0].weight, sd["0.weight"])


def _tiny_vit() -> torch.nn.Module:
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(image_size=16, patch_size=4, num_layers=1, num_heads=2,
                             hidden_dim=8, mlp_dim=16, num_classes=2).eval()


def test_a_vit_traced_under_no_grad_is_one_line_with_the_way_out(tmp_path):
    """The usual export (trace inside torch.no_grad()) records the fused attention, which has
    no derivative: the file is named with the way out, in validate and run alike."""
    import warnings

    from auditor.models.torchscript import load_torchscript

    x = torch.rand(1, 3, 16, 16)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(_tiny_vit(), x, check_trace=False), str(tmp_path / "v.pt"))
    with pytest.raises(ModelError, match=r"v\.pt: autograd cannot run back .*_native_multi_head_"
                                         r"attention.*trace it with gradients enabled.*state_dict"):
        load_torchscript(tmp_path / "v.pt", x)


def test_an_optimize_for_inference_file_is_not_called_not_torchscript(tmp_path):
    import warnings

    from auditor.models.torchscript import load_torchscript

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ofi = torch.jit.optimize_for_inference(torch.jit.script(_net().eval()))
        torch.jit.save(ofi, str(tmp_path / "ofi.pt"))
    with pytest.raises(ModelError) as err:
        load_torchscript(tmp_path / "ofi.pt", torch.rand(1, 3, 16, 16))
    line = str(err.value)
    assert "not a TorchScript file" not in line and "\n" not in line
    assert "TorchScript file torch cannot load back" in line
    assert "before that step" in line and "optimize_for_inference" in line


def test_a_vit_traced_with_gradients_audits_a_batch_of_one(tmp_path):
    """The way out of the no_grad trace: the converted graph asserted sizes that hold for its
    batch of two only, so the layer probe (one image) failed with a traceback."""
    import warnings

    from auditor.models.torchscript import load_torchscript
    from auditor.saliency.target_choice import choose_target_layer

    vit = _tiny_vit()
    torch.nn.init.normal_(vit.heads.head.weight)
    x = torch.rand(3, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(vit, x[:1], check_trace=False), str(tmp_path / "v.pt"))
    loaded = load_torchscript(tmp_path / "v.pt", x[:1])
    for n in (1, 3):
        torch.testing.assert_close(loaded(x[:n]), vit(x[:n]))
    assert choose_target_layer(loaded, "auto", x[:1]).map_size == (4, 4)

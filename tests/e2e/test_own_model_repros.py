"""The six reproductions of issue 14 ("bring your own model"), each ending well.

1. a user's own nn.Module class audits (arch: "file.py:Class", arch_kwargs, state_dict);
2. the same model as TorchScript (scripted or traced) audits;
3. a fully pickled module is refused in one readable line, and audits with trust_pickle: true
   (recorded in summary.json and the report);
4. the checkpoint key is documented (README "Your own model");
5. a resnet18 at 64 px: auto takes layer3; a named layer4 (2x2) warns and names layer3;
6. audit validate loads every checkpoint, so a wrong file fails there in one line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from helpers.own_models import save_random_checkpoint, tiny_config, write_user_model
from typer.testing import CliRunner

from auditor.cli import app
from auditor.models import state_dict_bytes
from auditor.models.external import import_user_object

ANSI = re.compile(r"\x1b\[")
README = Path(__file__).resolve().parents[2] / "README.md"


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _error_line(result) -> str:
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1, result.output  # one line, no traceback
    assert not ANSI.search(result.output)
    return lines[0]


@pytest.fixture()
def mynet(tmp_path):
    code = write_user_model(tmp_path / "code")
    cls = import_user_object(f"{code}:MyNet")
    torch.manual_seed(0)
    return tmp_path, cls(2, width=6).eval()


def test_1_own_class_from_a_file_with_arch_kwargs_audits(mynet):
    folder, model = mynet
    (folder / "mynet.pt").write_bytes(state_dict_bytes(model))
    cfg = tiny_config(folder, [{"name": "mine", "arch": "code/my_models.py:MyNet",
                                "arch_kwargs": {"width": 6}, "checkpoint": "mynet.pt"}],
                      size=32)
    assert _invoke("validate", cfg).exit_code == 0
    result = _invoke("run", cfg)
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["models"]["mine"]["target_layer"] == "body"
    assert summary["models"]["mine"]["map_size"] == [8, 8]


def test_1b_factory_from_an_importable_module_and_training(mynet, monkeypatch):
    folder, _ = mynet
    monkeypatch.syspath_prepend(str(folder / "code"))
    cfg = tiny_config(folder, [{"name": "built", "arch": "my_models:build",
                                "arch_kwargs": {"width": 4},
                                "train": {"epochs": 1, "batch_size": 8,
                                          "freeze": "backbone", "head_lr": 0.01}}], size=32)
    result = _invoke("run", cfg)
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["training"]["built"]["source"] == "trained"


@pytest.mark.parametrize("how", ["script", "trace"])
def test_2_the_same_model_as_torchscript_audits(mynet, how):
    folder, model = mynet
    ts = torch.jit.script(model) if how == "script" else \
        torch.jit.trace(model, torch.zeros(1, 3, 32, 32))
    torch.jit.save(ts, str(folder / "mynet_ts.pt"))
    cfg = tiny_config(folder, [{"name": "ts", "arch": "torchscript",
                                "checkpoint": "mynet_ts.pt"}], size=32)
    assert _invoke("validate", cfg).exit_code == 0
    result = _invoke("run", cfg)
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["models"]["ts"]["target_layer"].startswith("taps.")
    assert summary["models"]["ts"]["map_size"] == [8, 8]


def test_a_run_loads_each_model_file_once(mynet, monkeypatch):
    """The model check before training built every model from its file, and the run then
    built it again: a TorchScript file was converted twice, a large checkpoint read twice.
    A model complete from its file is now built once; one to train is built for training."""
    import auditor.models.build as build

    folder, model = mynet
    (folder / "mynet.pt").write_bytes(state_dict_bytes(model))
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 32, 32)),
                   str(folder / "mynet_ts.pt"))
    calls = []
    real = build.build_configured

    def counting(mcfg, *args, **kwargs):
        calls.append(mcfg.name)
        return real(mcfg, *args, **kwargs)

    monkeypatch.setattr("auditor.models.outputs.build_configured", counting)
    cfg = tiny_config(folder, [
        {"name": "mine", "arch": "code/my_models.py:MyNet", "arch_kwargs": {"width": 6},
         "checkpoint": "mynet.pt"},
        {"name": "ts", "arch": "torchscript", "checkpoint": "mynet_ts.pt"},
        {"name": "fresh", "arch": "code/my_models.py:MyNet",
         "train": {"epochs": 1, "batch_size": 8}}], size=32)
    result = _invoke("run", cfg)
    assert result.exit_code == 0, result.output
    assert sorted(calls) == ["fresh", "fresh", "mine", "ts"]
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["training"]["mine"]["source"] == "checkpoint"
    assert summary["training"]["ts"]["format"] == "torchscript"


def test_3_a_pickled_module_is_refused_readably_then_audits_with_trust_pickle(mynet):
    folder, model = mynet
    torch.save(model, folder / "whole.pt")
    entry = {"name": "pickled", "arch": "code/my_models.py:MyNet", "checkpoint": "whole.pt"}
    cfg = tiny_config(folder, [entry], size=32, report={"formats": ["html"]})
    line = _error_line(_invoke("validate", cfg))
    assert "whole.pt" in line and "MyNet" in line and "trust_pickle: true" in line
    assert line.rstrip().endswith("if you trust the file")  # not cut off
    cfg = tiny_config(folder, [{**entry, "trust_pickle": True}], size=32,
                      report={"formats": ["html"]})
    assert "trust_pickle" in _invoke("validate", cfg).output
    result = _invoke("run", cfg)
    assert result.exit_code == 0, result.output
    summary = json.loads((folder / "run" / "summary.json").read_text())
    assert summary["training"]["pickled"]["trust_pickle"] is True
    assert "trust_pickle: the file was fully unpickled" in \
        (folder / "run" / "report.html").read_text()


def test_4_checkpoint_is_documented_with_every_route():
    text = README.read_text()
    section = text[text.index("## Your own model"):]
    section = section[:section.index("\n## ", 5)]
    for needle in ("checkpoint:", "arch_kwargs", "torchscript", "timm:", "hf:", "trust_pickle",
                   "weights:", "freeze: backbone", "target_layer"):
        assert needle in section, needle
    for needle in ("FOLDER/<region>/<image>.png", "path,region,x,y,w,h"):
        assert needle in text, needle


def test_5_a_coarse_layer_warns_and_names_a_finer_one(tmp_path):
    save_random_checkpoint(tmp_path / "r18.pt", "resnet18", 64)
    models = [{"name": "r18", "arch": "resnet18", "checkpoint": "r18.pt"}]
    auto = tiny_config(tmp_path, models)
    out = _invoke("validate", auto)
    assert out.exit_code == 0 and "target layer layer3 (4x4 maps)" in out.output
    named = tiny_config(tmp_path, models, saliency={"target_layer": "layer4"},
                        report={"formats": ["html"]})
    out = _invoke("validate", named)
    assert out.exit_code == 0
    assert "layer4 gives 2x2 maps" in out.output and "target_layer: layer3 (4x4" in out.output
    result = _invoke("run", named)
    assert result.exit_code == 0, result.output
    block = json.loads((tmp_path / "run" / "summary.json").read_text())["models"]["r18"]
    assert block["target_layer"] == "layer4" and block["map_size"] == [2, 2]
    coarse = [f for f in block["findings"] if f["kind"] == "coarse_map"]
    assert coarse and coarse[0]["evidence"]["finer_layer"] == "layer3"
    assert "use saliency.target_layer: layer3" in (tmp_path / "run" / "report.html").read_text()


@pytest.mark.parametrize("bad", ["other_arch", "garbage", "torchscript_as_state_dict",
                                 "wrong_classes"])
def test_6_validate_loads_every_checkpoint(tmp_path, bad):
    path = tmp_path / "w.pt"
    arch = "resnet18"
    if bad == "other_arch":
        save_random_checkpoint(path, "mobilenet_v3_small", 32)
    elif bad == "garbage":
        path.write_bytes(b"\x00not a checkpoint" * 10)
    elif bad == "torchscript_as_state_dict":
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                                    torch.nn.Flatten(), torch.nn.Linear(4, 2))
        torch.jit.save(torch.jit.script(model), str(path))
    else:
        torch.manual_seed(0)
        path.write_bytes(state_dict_bytes(
            __import__("auditor.models", fromlist=["build_model"]).build_model("resnet18", 3)))
    cfg = tiny_config(tmp_path, [{"name": "m", "arch": arch, "checkpoint": "w.pt"}], size=32)
    line = _error_line(_invoke("validate", cfg))
    assert "w.pt" in line

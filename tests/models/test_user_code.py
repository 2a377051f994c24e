"""A user's model file is imported and built the way Python runs a script: its folder first on
``sys.path``, a command line of its own, and leaving through ``SystemExit`` is one line."""

from __future__ import annotations

import sys
import uuid

import pytest
from helpers.own_models import tiny_config
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import ModelError
from auditor.models.registry import get_arch

NET = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes=2):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))
'''

ARGPARSE_TOP = '''import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
args = parser.parse_args()
''' + NET


@pytest.fixture(autouse=True)
def _keep_interpreter_state(monkeypatch):
    """auditor's own command line, as the CLI sees it; both must come back unchanged."""
    monkeypatch.setattr(sys, "argv", ["audit", "validate", "config.yaml"])
    path = list(sys.path)
    yield
    assert sys.argv == ["audit", "validate", "config.yaml"] and sys.path == path


@pytest.mark.parametrize("top, said", [
    (ARGPARSE_TOP, r"SystemExit: 2 \(\"train\.py: error: the following arguments are "
                   r"required: --data\"\)"),
    ("import sys\nprint('nothing to do')\nsys.exit(0)\n" + NET, r"SystemExit: 0"),
    ("import sys\nsys.exit('this script needs a GPU')\n" + NET,
     r"SystemExit: this script needs a GPU"),
], ids=["argparse", "exit_0", "exit_message"])
def test_a_script_leaving_at_import_is_one_line_with_the_way_out(tmp_path, capsys, top, said):
    """SystemExit passed `except Exception`: argparse's usage was printed as if auditor's
    command line were wrong, and sys.exit(0) ended `audit validate` with status 0."""
    (tmp_path / "train.py").write_text(top)
    with pytest.raises(ModelError, match=rf"train\.py: importing it exited \({said}\): move the "
                                         r"script's command-line code .* under `if __name__ "
                                         r"== \"__main__\":`"):
        get_arch(f"{tmp_path}/train.py:Net")
    out = capsys.readouterr()
    assert out.out == out.err == ""


def test_a_module_level_parser_with_defaults_reads_a_command_line_of_its_own(tmp_path):
    """It read `validate config.yaml` (auditor's arguments): "unrecognized arguments"."""
    (tmp_path / "train.py").write_text(ARGPARSE_TOP.replace("required=True",
                                                            "default='data/'"))
    model = get_arch(f"{tmp_path}/train.py:Net").builder(2)
    assert model.head.out_features == 2


def test_a_constructor_or_module_leaving_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "cli_net.py").write_text(NET.replace(
        "super().__init__()", "super().__init__()\n        import argparse\n"
        "        parser = argparse.ArgumentParser()\n"
        "        parser.add_argument('--data', required=True)\n"
        "        parser.parse_args()"))
    with pytest.raises(ModelError, match=r"cli_net\.py:Net: building it exited \(SystemExit: 2 "
                                         r"\(.*required: --data\"\)\): move .* arch_kwargs"):
        get_arch(f"{tmp_path}/cli_net.py:Net").builder(2)
    name = f"exiting_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("raise SystemExit(3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelError, match=rf"importing '{name}' exited \(SystemExit: 3\)"):
        get_arch(f"{name}:Net")
    sys.path.remove(str(tmp_path))  # the fixture checks sys.path is as it found it


def test_keyboard_interrupt_is_not_swallowed(tmp_path):
    (tmp_path / "slow.py").write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        get_arch(f"{tmp_path}/slow.py:Net")


def test_a_file_importing_a_module_of_its_own_folder(tmp_path, monkeypatch):
    """`from nets import Net` next to my_net.py: "No module named 'nets'" before; also an
    import inside the constructor."""
    sibling = f"nets_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{sibling}.py").write_text(NET)
    (tmp_path / "lazy_part.py").write_text("WIDTH = 3\n")
    (tmp_path / "my_net.py").write_text(
        f"from {sibling} import Net\n\n\ndef build(num_classes):\n"
        "    from lazy_part import WIDTH\n    return Net(num_classes + WIDTH - 3)\n")
    for name in (sibling, "lazy_part"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert get_arch(f"{tmp_path}/my_net.py:Net").builder(2).head.out_features == 2
    assert get_arch(f"{tmp_path}/my_net.py:build").builder(2).head.out_features == 2
    for name in (sibling, "lazy_part"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_validate_names_the_file_instead_of_printing_its_usage(tmp_path):
    (tmp_path / "train.py").write_text(ARGPARSE_TOP)
    cfg = tiny_config(tmp_path, [{"name": "m", "arch": "train.py:Net"}], size=32)
    result = CliRunner().invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 1
    assert "usage:" not in result.output
    assert "train.py: importing it exited" in result.output

"""Every command's help shows its whole description (rich markup once ate "[scenes]" from
"pip install 'auditor[scenes]'") and every option says what it is."""

import re

import typer
from typer.testing import CliRunner

from auditor.cli import app


def _commands(group, path: tuple[str, ...] = ()):
    yield path, group
    if hasattr(group, "commands"):  # a group
        for name, cmd in group.commands.items():
            yield from _commands(cmd, (*path, name))


def _squash(text: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


def test_every_help_text_is_shown_whole():
    root = typer.main.get_command(app)
    seen = 0
    for path, cmd in _commands(root):
        out = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
        assert out.exit_code == 0, (path, out.output)
        text = (cmd.help or "").replace("\\[", "[")  # rich's escape of a literal bracket
        assert _squash(text) in _squash(out.output), (path, out.output)
        for param in cmd.params:
            if param.param_type_name == "option" and param.name not in ("help", "seed"):
                assert param.help, f"audit {' '.join(path)} --{param.name} has no help"
        seen += 1
    assert seen >= 12  # run, report, validate, methods, compare, rebalance, version, data ...
    scenes = CliRunner().invoke(app, ["data", "synth", "scenes", "--help"], terminal_width=100)
    assert "pip install 'auditor[scenes]'" in scenes.output

"""What ``models[i].arch`` may call, and a constructor that fails: one line naming the key.

``arch: "os:system"`` with ``arch_kwargs: {command: ...}`` ran the shell command during
``audit validate``; ``arch_kwargs: {width: -1}`` ended in a traceback."""

from __future__ import annotations

import warnings

import pytest
from torch import nn

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models.build import build_configured

FACTORIES = '''
import functools
import os
from os import system as build_system

from torch import nn


class NotAModel:
    def __init__(self, num_classes=2, path=None):
        open(path, "w").close()


def broken(num_classes=2):
    raise ValueError("first line of the problem\\n  second line\\n\\nthird line")


def net(num_classes=2):
    return nn.Linear(4, num_classes)


build_partial = functools.partial(os.system)
'''


def _build(arch: str, **arch_kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "Initializing zero-element tensors"
        return build_configured(ModelConfig(name="m", arch=arch, arch_kwargs=arch_kwargs), 2,
                                image_size=32)


@pytest.mark.parametrize("arch, kwargs, said", [
    ("simple_cnn", {"width": -1}, "RuntimeError: Trying to create tensor with negative "
                                  "dimension -1"),
    ("resnet50", {"width_per_group": -4}, "RuntimeError: Trying to create tensor with "
                                          "negative dimension -4"),
], ids=["builtin", "torchvision"])
def test_a_constructor_refusing_a_value_is_one_line_naming_arch_kwargs(arch, kwargs, said):
    """A RuntimeError from the constructor escaped as a traceback."""
    with pytest.raises(ModelError) as err:
        _build(arch, **kwargs)
    text = str(err.value)
    assert text.startswith(f"models[m].arch_kwargs: {arch}: building it with arch_kwargs "
                           f"{kwargs} failed: "), text
    assert said in text


def test_a_multi_line_error_of_the_users_factory_is_one_line_naming_arch(tmp_path):
    (tmp_path / "nets.py").write_text(FACTORIES)
    with pytest.raises(ModelError) as err:
        _build(f"{tmp_path}/nets.py:broken")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("models[m].arch: ")  # no arch_kwargs given: the arch is named
    assert text.endswith("ValueError: first line of the problem second line third line")


@pytest.mark.parametrize("name, what", [
    ("os:system", "a built-in function"),
    ("os:popen", "a function of Python's standard library (os.popen)"),
    ("subprocess:run", "a function of Python's standard library (subprocess.run)"),
    ("subprocess:Popen", "the class subprocess.Popen"),
    ("functools:partial", "the class functools.partial"),
    ("builtins:exec", "a built-in function (builtins.exec)"),
    ("nets.py:build_system", "a built-in function"),
    ("nets.py:build_partial", "a partial object"),
    ("nets.py:NotAModel", "the class auditor_user_nets_"),
])
def test_arch_refuses_what_is_not_a_model_class_or_function_before_calling_it(tmp_path, name,
                                                                              what):
    (tmp_path / "nets.py").write_text(FACTORIES)
    target = tmp_path / "pwned"
    arch = f"{tmp_path}/{name}" if name.startswith("nets.py") else name
    kwargs = {"path": str(target)} if name.endswith("NotAModel") else \
        {"command": f"touch {target}"} if "system" in name or "partial" in name else \
        {"args": f"touch {target}", "shell": True}
    with pytest.raises(ModelError) as err:
        _build(arch, **kwargs)
    text = str(err.value)
    assert text.startswith(f"models[m].arch: {arch!r} names "), text
    assert what in text and "refused without calling it" in text
    assert "subclass of torch.nn.Module or a Python function" in text
    assert not target.exists()  # nothing was run


def test_model_classes_and_functions_are_still_built(tmp_path):
    (tmp_path / "nets.py").write_text(FACTORIES)
    assert isinstance(_build(f"{tmp_path}/nets.py:net").model, nn.Linear)
    assert isinstance(_build("torch.nn:Identity").model, nn.Identity)

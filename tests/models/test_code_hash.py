"""The model-code fingerprint that resumed shards and reused checkpoints are keyed on: a
forward edited between an interrupted run and its resume ran other code on the same weights
(the resumed run mixed rows of both versions)."""

import importlib.util
import sys

import torch
import torchvision
from torch import nn

from auditor.models.code_hash import code_hash

NET = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return {sign}self.fc(x)
'''


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_a_user_file_edited_in_place_changes_the_hash(tmp_path):
    path = tmp_path / "net_under_test.py"
    path.write_text(NET.format(sign=""))
    model = _load(path, "net_under_test").Net()
    before = code_hash(model)
    assert code_hash(model) == before  # deterministic
    path.write_text(NET.format(sign="-"))  # the same class, weights and path; other code
    assert code_hash(model) != before
    del sys.modules["net_under_test"]


def test_torchscript_files_with_one_state_dict_but_other_code_differ():
    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    class B(A):
        def forward(self, x):
            return -self.fc(x)

    a, b = torch.jit.script(A()), torch.jit.script(B())
    b.load_state_dict(a.state_dict())
    assert code_hash(a) != code_hash(b)
    assert code_hash(a) == code_hash(torch.jit.script(A()))  # weights are hashed elsewhere


def test_installed_libraries_are_not_read():
    """torchvision's classes change only with its version (recorded in summary.json)."""
    h = code_hash(torchvision.models.resnet18(num_classes=2))
    assert h == code_hash(nn.Sequential(nn.Linear(2, 2)))


def test_the_same_code_elsewhere_hashes_the_same(tmp_path):
    """A project copied or moved (a run folder resumed from another checkout) is the same
    code: only the files' contents count."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"net_{folder}.py").write_text(NET.format(sign=""))
    a = _load(tmp_path / "a/net_a.py", "net_a").Net()
    b = _load(tmp_path / "b/net_b.py", "net_b").Net()
    assert code_hash(a) == code_hash(b)
    del sys.modules["net_a"], sys.modules["net_b"]

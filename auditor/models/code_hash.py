"""A fingerprint of the code that runs a model, beside the weights' (``model_hash``).

Resumed audit shards and a reused trained checkpoint must come from the same model. Weights
alone do not say so: a ``file.py`` whose ``forward`` changed, a module it imports, or another
TorchScript file with the same ``state_dict`` run differently on the same tensors. The
fingerprint covers, for TorchScript, the module's inlined graph (every op it runs); for any
other module, the source files of its modules' classes that are not part of an installed
package (the user's ``file.py``, the files it imports classes from, a ``package.module:Class``
of a project on ``PYTHONPATH``). Installed libraries (torch, torchvision, timm, auditor
itself when installed) change only with their version, which ``summary.json`` records.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch
from torch import nn

from auditor.models.external import python_roots, under

__all__ = ["code_hash"]


def _source_files(model: nn.Module) -> list[Path]:
    """The source files of the classes of ``model``'s modules outside installed packages."""
    roots = python_roots("stdlib", "platstdlib", "purelib", "platlib")
    files: set[Path] = set()
    for module_name in {type(m).__module__ for m in model.modules()}:  # each module once
        name = getattr(sys.modules.get(module_name), "__file__", None)
        if name and not under(Path(name), roots):
            files.add(Path(name).resolve())
    return sorted(files)


def code_hash(model: nn.Module) -> str:
    """sha256 of what runs ``model``: its inlined TorchScript graph, or the contents of the
    source files of its classes outside installed packages, wherever they lie (a file that
    cannot be read hashes as gone)."""
    h = hashlib.sha256()
    if isinstance(model, torch.jit.ScriptModule):
        h.update(str(model.inlined_graph).encode("utf-8"))
        return h.hexdigest()
    parts = []
    for path in _source_files(model):  # contents only: a project moved elsewhere is the same
        try:
            parts.append(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            parts.append(b"gone")
    for part in sorted(parts):
        h.update(part)
    return h.hexdigest()

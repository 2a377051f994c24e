"""Fully pickled models (``torch.save(model, path)``): named without running them, loaded only
when the config says ``models[i].trust_pickle: true``.

Unpickling an object runs code named by the file, so it is refused by default; the refusal names
the class the file holds (read from the pickle's opcodes, nothing executed) and the two ways out.
"""

from __future__ import annotations

import pickle
import pickletools
import types
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auditor.errors import ModelError
from auditor.models.file_kinds import is_safetensors, pickle_protocol

__all__ = ["load_pickled_module", "pickled_classes"]

# Globals a state_dict pickle may refer to (tensor and storage rebuilding, containers, numpy
# scalars); torch's own layers (torch.nn.modules) mean a pickled model.
_DATA_PREFIXES = ("torch.", "collections.", "builtins.", "numpy.", "_codecs.")
_MODEL_PREFIXES = ("torch.nn.modules.", "torch.jit.", "torch.fx.")


def _pickle_bytes(path: Path) -> bytes | None:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                name = next((n for n in zf.namelist() if n.endswith("/data.pkl")
                             or n == "data.pkl"), None)
                return zf.read(name) if name else None
        # torch.save writes pickles of protocol 2 or more, which open with PROTO; text read
        # as opcodes ("c..." is GLOBAL) would name classes no file holds
        if is_safetensors(path) or pickle_protocol(path) is None:
            return None
        return path.read_bytes()
    except (OSError, zipfile.BadZipFile):
        return None


def pickled_classes(path: Path) -> list[str]:
    """Classes and functions (``module.Name``) the pickle in ``path`` would import, beyond
    what a state_dict needs; ``[]`` for a plain state_dict or an unreadable file."""
    data = _pickle_bytes(Path(path))
    if not data:
        return []
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(str(arg))
            elif op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
    except (ValueError, pickle.UnpicklingError, EOFError):
        pass
    return [g for g in dict.fromkeys(found)
            if not g.startswith(_DATA_PREFIXES) or g.startswith(_MODEL_PREFIXES)]


def _unpickler_module(extra: dict[str, Any], missing: list[str]) -> types.ModuleType:
    """A pickle module whose Unpickler also finds ``extra`` classes by bare name (a model saved
    from ``__main__`` or another script, loaded with arch: "file.py:Class"); a class found
    nowhere is appended to ``missing``."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                if name in extra:
                    return extra[name]
                missing.append(f"{module}.{name}")
                raise

    mod = types.ModuleType("auditor_trusted_pickle")
    mod.Unpickler = Unpickler  # type: ignore[attr-defined]
    mod.load = lambda fh, **kw: Unpickler(fh, **kw).load()  # type: ignore[attr-defined]
    mod.__name__ = "pickle"  # torch.load checks for the standard module's name
    return mod


# where training loops keep the whole model inside a checkpoint dict ({"model": model,
# "epoch": 3}, YOLO's {"model": ..., "ema": ...})
_MODEL_KEYS = ("model", "module", "net", "network")


def _module_in(obj: dict, path: Path, where: str) -> nn.Module | None:
    """The one ``nn.Module`` a checkpoint dict holds under one of :data:`_MODEL_KEYS`."""
    found = [k for k in _MODEL_KEYS if isinstance(obj.get(k), nn.Module)]
    if len(found) > 1:
        raise ModelError(f"{where}: {path} holds a model under each of the keys "
                         f"{', '.join(found)}: save the one to audit alone (torch.save(model, "
                         "path)) or its state_dict")
    return obj[found[0]] if found else None


def load_pickled_module(path: Path, *, extra: dict[str, Any] | None = None,
                        where: str) -> nn.Module | dict:
    """Unpickle ``path`` fully (runs code from the file; only with ``trust_pickle: true``).

    Returns:
        The ``nn.Module`` it holds (itself, or the one of a checkpoint dict under ``model``,
        ``module``, ``net`` or ``network``), or else the dict (a state_dict or a dict of one).

    Raises:
        ModelError: one line: the file missing, a class it names not importable (say which and
            how to make it so), an object that is neither a module nor a state_dict, or a
            dict holding models under more than one of those keys.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{where}: {path} not found")
    missing: list[str] = []
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False,
                         pickle_module=_unpickler_module(extra or {}, missing))
    except (ImportError, AttributeError) as err:
        if extra and missing:
            raise ModelError(
                f"{where}: {path} needs class {missing[-1]}, which cannot be imported here "
                f"and is not defined in the arch's file (it defines "
                f"{', '.join(sorted(extra))}); define it there too") from None
        raise ModelError(
            f"{where}: {path} needs a class that cannot be imported here "
            f"({' '.join(str(err).split())}); set arch: \"path/to/file.py:ClassName\" to the "
            "file that defines it") from None
    except Exception as err:  # noqa: BLE001  (an arbitrary pickle can raise anything)
        text = " ".join(str(err).split()) or type(err).__name__
        raise ModelError(f"{where}: {path} could not be unpickled ({text})") from None
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict):
        return _module_in(obj, path, where) or obj
    raise ModelError(f"{where}: {path} holds a {type(obj).__name__}, not a model or state_dict")

"""Loading state_dict files safely (``weights_only=True``) with one-line errors."""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auditor.errors import ModelError, strip_controls

__all__ = ["load_checkpoint", "load_state_checked", "read_state_dict", "state_dict_bytes",
           "unnest_state_dict"]


_UNPICKLER = re.compile(r"WeightsUnpickler error:\s*([^\n]*)")
_ADVICE = re.compile(r"\s*Please use `torch\.serialization.*$|\s*Check the documentation.*$")


def _refusal(err: BaseException) -> str:
    """Why torch refused the file, in one line, without torch's advice to load it with
    ``weights_only=False`` (which would run the file's code) and without terminal codes."""
    text = strip_controls(str(err))
    found = _UNPICKLER.search(text)
    if found:
        reason = "the file needs code to load: " + _ADVICE.sub("", found.group(1)).strip()
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        reason = lines[0] if lines else type(err).__name__
        if "weights_only" in reason or "Weights only load failed" in reason:
            reason = "the file is not a plain weights-only state_dict"
    return reason[:200]


def _check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    for key, value in state.items():
        if value.is_floating_point() or value.is_complex():
            if not bool(torch.isfinite(value).all()):
                raise ModelError(f"{path}: tensor {key!r} holds NaN or infinite values; "
                                 "a checkpoint must hold finite weights")


# where training loops keep the state_dict inside a checkpoint dict (Lightning, PyTorch's
# "saving a general checkpoint" tutorial, many repositories)
_NESTED = ("state_dict", "model_state_dict", "model")


def unnest_state_dict(obj: Any) -> Any:
    """The state_dict a checkpoint dict holds under one of the usual keys, else ``obj``."""
    if isinstance(obj, dict):
        for key in _NESTED:
            if key in obj and isinstance(obj[key], dict):
                return obj[key]
    return obj


def _found(obj: Any) -> str:
    """What the file holds instead, for the refusal: its top-level keys or its type."""
    if not isinstance(obj, dict):
        return f"; the file holds a {type(obj).__name__}"
    keys = [strip_controls(str(k))[:40] for k in list(obj)[:8]]
    more = f" and {len(obj) - 8} more" if len(obj) > 8 else ""
    return (f"; the file holds a dict with keys {', '.join(keys) or 'none'}{more} (a state_dict "
            f"is read from the file itself or from one of its keys {', '.join(_NESTED)})")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from ``path`` without executing any pickled code.

    Accepts a bare state_dict or a dict holding one under ``state_dict``, ``model_state_dict``
    or ``model``.

    Raises:
        ModelError: missing file, not a checkpoint, a pickle that needs code to load, or a
            tensor holding NaN or infinity.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"{path}: checkpoint not found (give a state_dict saved with torch.save(model."
            "state_dict(), path); nothing is downloaded)"
        )
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError,
            ValueError, TypeError, AttributeError, MemoryError, RecursionError) as err:
        raise ModelError(
            f"{path}: not a loadable weights-only checkpoint (refused: {_refusal(err)})"
        ) from None
    obj = unnest_state_dict(obj)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path}: expected a state_dict (a mapping of names to tensors)"
                         f"{_found(obj)}")
    state = {str(k).removeprefix("module."): v for k, v in obj.items()}
    _check_finite(state, path)
    return state


def load_checkpoint(model: nn.Module, path: Path, *, skip_prefixes: tuple[str, ...] = (),
                    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
                    | None = None) -> None:
    """Load ``path`` into ``model`` in place, checking every name and shape first.

    Args:
        model: the freshly built architecture.
        path: a state_dict file.
        skip_prefixes: parameter-name prefixes to leave as they are (e.g. the head when
            loading a pretrained backbone for a different number of classes).
        adapt: applied to the file's state_dict before checking (drop or resize entries).

    Raises:
        ModelError: naming the file and the first missing, unexpected or mis-shaped key.
    """
    state = read_state_dict(path)
    load_state_checked(model, adapt(state) if adapt else state, path,
                       skip_prefixes=skip_prefixes)


def _shared_prefix(state: dict[str, Any], own: dict[str, Any]) -> str:
    """``"name."`` when every key of ``state`` starts with it and no key of the model does
    (a wrapper's attribute: Lightning's ``model.``), else ``""``."""
    firsts = {k.partition(".")[0] for k in state if "." in k}
    if len(firsts) != 1 or not all("." in k for k in state):
        return ""
    prefix = f"{firsts.pop()}."
    return "" if any(k.startswith(prefix) for k in own) else prefix


def load_state_checked(model: nn.Module, state: dict[str, Any], path: Path | str, *,
                       skip_prefixes: tuple[str, ...] = ()) -> None:
    """Load a state_dict already in memory; errors as :func:`load_checkpoint` (naming ``path``)."""
    own = model.state_dict()
    meta = getattr(state, "_metadata", None) or getattr(own, "_metadata", None)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    prefix = _shared_prefix(state, own)
    if prefix and {k.removeprefix(prefix) for k in state} <= set(own):
        state = {k.removeprefix(prefix): v for k, v in state.items()}  # Lightning's "model."
        prefix, meta = "", getattr(own, "_metadata", None)
    state = OrderedDict((k, v) for k, v in state.items()
                        if not k.startswith(skip_prefixes or ("\0",)))
    if meta is not None:  # module versions (MNASNet's loader needs them)
        state._metadata = meta  # type: ignore[attr-defined]
    own_needed = {k for k in own if not (skip_prefixes and k.startswith(skip_prefixes))}
    for key, value in state.items():
        if key not in own:
            hint = (f" (every key starts with {prefix!r}, which no name of the model does: "
                    "save the inner module's state_dict)") if prefix else ""
            raise ModelError(f"{path}: unexpected key {key!r} for this architecture{hint}")
        if not isinstance(value, torch.Tensor):
            raise ModelError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        if tuple(own[key].shape) != tuple(value.shape):
            raise ModelError(
                f"{path}: shape mismatch at {key!r}: checkpoint {tuple(value.shape)}, "
                f"model {tuple(own[key].shape)} (wrong arch or number of classes?)"
            )
    missing = sorted(own_needed - set(state))
    if missing:
        raise ModelError(f"{path}: missing key {missing[0]!r} ({len(missing)} missing in all)")
    model.load_state_dict(state, strict=not skip_prefixes)


def state_dict_bytes(model: nn.Module) -> bytes:
    """Serialise ``model``'s state_dict (CPU tensors) for an atomic write."""
    buf = io.BytesIO()
    state = model.state_dict()
    out = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    out._metadata = getattr(state, "_metadata", None)  # type: ignore[attr-defined]
    torch.save(out, buf)
    return buf.getvalue()

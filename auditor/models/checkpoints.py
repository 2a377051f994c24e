"""Loading state_dict files safely (``weights_only=True``) with one-line errors."""

from __future__ import annotations

import io
import re
import struct
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auditor.errors import ModelError, strip_controls
from auditor.models.file_kinds import (
    describe_unreadable,
    is_safetensors,
    pickle_protocol,
    read_safetensors,
)

__all__ = ["load_checkpoint", "load_state_checked", "read_state_dict", "state_dict_bytes",
           "unnest_state_dict"]


_UNPICKLER = re.compile(r"WeightsUnpickler error:\s*([^\n]*)")
_NOT_A_PICKLE = re.compile(r"^\s*Unsupported operand|invalid load key")
_ADVICE = re.compile(r"\s*Please use `torch\.serialization.*$|\s*Check the documentation.*$")


def _refusal(err: BaseException, path: Path) -> str:
    """Why torch refused the file, in one line, without torch's advice to load it with
    ``weights_only=False`` (which would run the file's code) and without terminal codes."""
    text = strip_controls(str(err))
    found = _UNPICKLER.search(text)
    if found and _NOT_A_PICKLE.search(found.group(1)):  # pickle.dump's framing (protocol 4)
        reason = (f"a pickle of protocol {pickle_protocol(path)}, not written by torch.save: "
                  "save the weights with torch.save(model.state_dict(), path)")
    elif found:
        reason = "the file needs code to load: " + _ADVICE.sub("", found.group(1)).strip()
    else:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        reason = lines[0] if lines else type(err).__name__
        if "weights_only" in reason or "Weights only load failed" in reason:
            reason = "the file is not a plain weights-only state_dict"
    return reason[:200]


def _unreadable(err: BaseException, path: Path) -> str | None:
    """What the file is when torch read bytes its weights-only reader does not know (an
    opcode, a key or character): its line reads like a pickle that needs code ("Unsupported
    operand 118", ``KeyError: 101``) for any file, checkpoint or not."""
    kind = describe_unreadable(path)  # a Git LFS pointer, a web page ...
    if kind is not None:
        return kind
    found = _UNPICKLER.search(str(err))
    if not (isinstance(err, (KeyError, IndexError, UnicodeDecodeError, struct.error))
            or _NOT_A_PICKLE.search(found.group(1) if found else str(err))):
        return None
    if pickle_protocol(path) is None:
        return "not a PyTorch checkpoint (neither a zip archive written by torch.save nor a " \
               "pickle)"
    return None


def _check_dense(key: str, value: torch.Tensor, path: Path) -> None:
    """A tensor torch can copy into a parameter: values present, dense, not quantized."""
    if value.is_meta:
        raise ModelError(f"{path}: tensor {key!r} is on the meta device and holds no values "
                         "(saved from a model built on the meta device before its weights "
                         "were loaded): save the state_dict of the model with its weights")
    if value.layout is not torch.strided or value.is_quantized:
        kind = "quantized" if value.is_quantized else str(value.layout).removeprefix("torch.")
        raise ModelError(f"{path}: tensor {key!r} is stored {kind}, not as a dense tensor, "
                         "and torch cannot load it into the model: save the "
                         "state_dict of the dense model (tensor.to_dense(), dequantize())")


def _check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    for key, value in state.items():
        _check_dense(key, value, path)
        if value.is_floating_point() or value.is_complex():
            if not bool(torch.isfinite(value).all()):
                raise ModelError(f"{path}: tensor {key!r} holds NaN or infinite values; "
                                 "a checkpoint must hold finite weights")


# where training loops keep the state_dict inside a checkpoint dict (Lightning, PyTorch's
# "saving a general checkpoint" tutorial, many repositories)
_NESTED = ("state_dict", "model_state_dict", "model")


def unnest_state_dict(obj: Any) -> Any:
    """The state_dict a checkpoint dict holds under one of the usual keys (the first of them
    holding tensors: ``state_dict`` may be an optimizer's, of nested dicts), else ``obj``."""
    if isinstance(obj, dict):
        nested = [obj[k] for k in _NESTED if k in obj and isinstance(obj[k], dict)]
        with_tensors = [d for d in nested if any(isinstance(v, torch.Tensor) for v in d.values())]
        if with_tensors or nested:
            return (with_tensors or nested)[0]
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
    or ``model``, and ``.safetensors`` files (with the optional ``safetensors`` package).

    Raises:
        ModelError: missing file, not a checkpoint (what it is when its first bytes tell), a
            pickle that needs code to load, a tensor without dense values (meta device,
            sparse, quantized) or holding NaN or infinity.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            f"{path}: checkpoint not found (give a state_dict saved with torch.save(model."
            "state_dict(), path); nothing is downloaded)"
        )
    if is_safetensors(path):
        obj: Any = read_safetensors(path)
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001  (torch raises any type on a foreign file:
            # UnpicklingError, KeyError for text, RuntimeError for a zip it did not write)
            kind = _unreadable(err, path)
            raise ModelError(f"{path}: {kind}" if kind else f"{path}: not a loadable "
                             f"weights-only checkpoint (refused: {_refusal(err, path)})") from None
    obj = unnest_state_dict(obj)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelError(f"{path}: expected a state_dict (a mapping of names to tensors)"
                         f"{_found(obj)}")
    # keys as saved: a wrapper's prefix (DataParallel's ``module.``) is read off only where
    # the model's own names are known (load_state_checked), as a submodule may be so named
    state = _with_metadata({str(k): v for k, v in obj.items()}, getattr(obj, "_metadata", None))
    _check_finite(state, path)
    return state


def _with_metadata(state: dict[str, Any], meta: Any) -> dict[str, Any]:
    """``state`` carrying the module versions ``meta`` (as ``model.state_dict()`` does)."""
    out = OrderedDict(state)
    if meta is not None:
        out._metadata = meta  # type: ignore[attr-defined]
    return out


def _strip_meta(meta: Any, name: str) -> Any:
    """Module versions keyed as in a model without the wrapper attribute ``name``
    (DataParallel's ``module``, Lightning's ``model``); ``meta`` itself when none is under it."""
    if meta is None or not any(k == name or k.startswith(f"{name}.") for k in meta):
        return meta
    return OrderedDict(("" if k == name else k[len(name) + 1:], v) for k, v in meta.items()
                       if k == name or k.startswith(f"{name}."))


def load_checkpoint(model: nn.Module, path: Path, *, skip_prefixes: tuple[str, ...] = (),
                    adapt: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]
                    | None = None) -> None:
    """Load ``path`` into ``model`` in place, checking every name and shape first.

    Args:
        model: the freshly built architecture.
        path: a state_dict file.
        skip_prefixes: parameter-name prefixes to leave as they are (e.g. the head when
            loading a pretrained backbone for a different number of classes).
        adapt: applied to the file's state_dict, keyed as the model names its entries, before
            checking (drop or resize entries).

    Raises:
        ModelError: naming the file and the first missing, unexpected or mis-shaped key.
    """
    load_state_checked(model, read_state_dict(path), path, skip_prefixes=skip_prefixes,
                       adapt=adapt)


def _shared_prefix(state: dict[str, Any], own: dict[str, Any]) -> str:
    """``"name."`` when every key of ``state`` starts with it and no key of the model does
    (a wrapper's attribute: Lightning's ``model.``), else ``""``."""
    firsts = {k.partition(".")[0] for k in state if "." in k}
    if len(firsts) != 1 or not all("." in k for k in state):
        return ""
    prefix = f"{firsts.pop()}."
    return "" if any(k.startswith(prefix) for k in own) else prefix


def fit_keys(state: dict[str, Any], own: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
    """``state`` keyed as the model (whose state_dict is ``own``) names its entries.

    The keys as saved are kept unless reading off a wrapper's prefix makes more of them the
    model's: DataParallel's ``module.``, or one name every key starts with and no name of the
    model does (Lightning's ``model.``), or both. A model whose own submodule is named
    ``module`` keeps its keys, as torch's strict ``load_state_dict`` does.

    Returns:
        The state, its module versions (renamed alike; None when the file has none) and the
        shared prefix left on the keys, if any (for the error's hint).
    """
    meta = getattr(state, "_metadata", None)
    options: list[tuple[dict[str, Any], Any]] = [(dict(state), meta)]
    if any(k.startswith("module.") for k in state):
        options.append(({k.removeprefix("module."): v for k, v in state.items()},
                        _strip_meta(meta, "module")))
    for keyed, versions in list(options):
        prefix = _shared_prefix(keyed, own)
        if prefix:
            options.append(({k.removeprefix(prefix): v for k, v in keyed.items()},
                            _strip_meta(versions, prefix[:-1])))
    # the first of the best: the keys as saved win a tie
    best = max(options, key=lambda option: sum(k in own for k in option[0]))
    return best[0], best[1], _shared_prefix(best[0], own)


def load_state_checked(model: nn.Module, state: dict[str, Any], path: Path | str, *,
                       skip_prefixes: tuple[str, ...] = (),
                       adapt: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
    """Load a state_dict already in memory; errors as :func:`load_checkpoint` (naming ``path``)."""
    own = model.state_dict()
    if not state and own:
        raise ModelError(f"{path}: the file holds an empty state_dict (no tensors): save the "
                         "trained model's weights with torch.save(model.state_dict(), path)")
    state, meta, prefix = fit_keys(state, own)
    if adapt is not None:
        state = adapt(state)
        meta = getattr(state, "_metadata", None) or meta
    if meta is None:  # a file saved without module versions
        meta = _versionless_norms(model, own)
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
    try:
        # torch decides what may be missing: its modules fill in what older files lack
        # (BatchNorm's num_batches_tracked before its version 2)
        result = model.load_state_dict(state, strict=False)
    except Exception as err:  # noqa: BLE001  (a module's own loader can raise anything)
        raise ModelError(f"{path}: torch could not load it into the model "
                         f"({_refusal_line(err)})") from None
    missing = sorted(set(result.missing_keys) & own_needed)
    if missing:
        raise ModelError(f"{path}: missing key {missing[0]!r} ({len(missing)} missing in all)")


def _refusal_line(err: BaseException) -> str:
    lines = [" ".join(ln.split()) for ln in strip_controls(str(err)).splitlines() if ln.strip()]
    return (" ".join(lines[:2]) if lines else type(err).__name__)[:200]


def _versionless_norms(model: nn.Module, own: dict[str, Any]) -> Any:
    """The model's own module versions, for a file saved without them (MNASNet's loader needs
    one), except the normalisation layers': torch loads a file without versions as an old
    one, whose BatchNorm may lack ``num_batches_tracked``."""
    meta = getattr(own, "_metadata", None)
    if meta is None:
        return None
    out = OrderedDict((k, dict(v)) for k, v in meta.items())
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and name in out:
            out[name].pop("version", None)
    return out


def state_dict_bytes(model: nn.Module) -> bytes:
    """Serialise ``model``'s state_dict (CPU tensors) for an atomic write."""
    buf = io.BytesIO()
    state = model.state_dict()
    out = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    out._metadata = getattr(state, "_metadata", None)  # type: ignore[attr-defined]
    torch.save(out, buf)
    return buf.getvalue()

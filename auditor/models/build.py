"""One configured model, built by whichever route its ``arch`` names, weights loaded.

Used by the models stage (:mod:`auditor.models.prepare`) and by ``audit validate``, so a wrong
file fails the same way, in one line, in both.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models.checkpoints import load_checkpoint, load_state_checked, unnest_state_dict
from auditor.models.heads import find_head, probe_attr
from auditor.models.pickled import load_pickled_module, pickled_classes
from auditor.models.registry import (
    ArchInfo,
    SimpleCNN,
    arch_kwargs_problem,
    build_model,
    get_arch,
)
from auditor.models.torchvision_zoo import adapt_pretrained_state, drop_aux_heads, weights_info

__all__ = ["BuiltModel", "build_configured", "load_pretrained"]


@dataclass
class BuiltModel:
    """A model as built for one ``models[i]`` entry.

    Attributes:
        model: the network (CPU).
        head: dotted name of its classification layer (``""`` when unknown).
        info: the resolved architecture.
        complete: True when the checkpoint made it ready to audit (no training).
        notes: facts the run records (``trust_pickle``, ``weights``).
    """

    model: nn.Module
    head: str
    info: ArchInfo
    complete: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


def _arch(mcfg: ModelConfig) -> ArchInfo:
    try:
        return get_arch(mcfg.arch)
    except ModelError as err:
        raise ModelError(f"models[{mcfg.name}].arch: {err}") from None


def _head_of(model: nn.Module, info: ArchInfo, num_classes: int) -> str:
    if info.head:
        return info.head
    timm_head = probe_attr(model, "default_cfg") or probe_attr(model, "pretrained_cfg")
    if isinstance(timm_head, dict) and isinstance(timm_head.get("classifier"), str):
        name = timm_head["classifier"]
        try:
            model.get_submodule(name)
            return name
        except Exception:  # noqa: BLE001  (AttributeError, or a user's __getattr__'s error)
            pass
    return find_head(model, num_classes)


def _user_classes(info: ArchInfo) -> dict[str, Any]:
    """Every class the arch's file (or module) defines, by bare name, for unpickling a model
    saved from another script (``__main__``): the arch class and the submodules it holds."""
    if info.family != "user":
        return {}
    import sys

    from auditor.models.external import import_user_object

    obj = import_user_object(info.name)
    module = sys.modules.get(getattr(obj, "__module__", ""))
    found = {k: v for k, v in vars(module).items()
             if inspect.isclass(v) and v.__module__ == module.__name__} if module else {}
    return {**found, getattr(obj, "__name__", ""): obj}


@contextlib.contextmanager
def _naming(key: str) -> Iterator[None]:
    """A file's error (``path: unexpected key ...``) names the config key that gave it too."""
    try:
        yield
    except ModelError as err:
        raise ModelError(f"{key}: {err}") from None


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _arch_class(mcfg: ModelConfig, info: ArchInfo, num_classes: int,
                image_size: int) -> type | None:
    """The class ``arch`` builds: the class it names, or the class of the model built on the
    meta device (no weights); None when unknown (a user's function is not called for it)."""
    if info.family == "user":
        from auditor.models.external import import_user_object

        obj = import_user_object(info.name)
        return obj if inspect.isclass(obj) else None
    try:
        with torch.device("meta"):
            return type(build_model(mcfg.arch, num_classes, image_size=image_size,
                                    **mcfg.arch_kwargs))
    except Exception:  # noqa: BLE001  (a constructor that needs real tensors: not checked)
        return None


def _pickled_arch(mcfg: ModelConfig, info: ArchInfo, model: nn.Module, num_classes: int,
                  image_size: int) -> dict[str, str]:
    """What the run records of a fully pickled module's architecture: ``arch`` left out (the
    default) records the module's own class; an ``arch`` naming another class is refused, as
    the report would name an architecture the file does not hold."""
    held = type(model)
    if mcfg.arch == ModelConfig.model_fields["arch"].default:
        return {} if isinstance(model, SimpleCNN) else {"arch": _class_name(held)}
    expected = _arch_class(mcfg, info, num_classes, image_size)
    if expected is None or isinstance(model, expected) or \
            (held.__qualname__, held.__name__) == (expected.__qualname__, expected.__name__):
        return {}
    where = f"models[{mcfg.name}]"
    raise ModelError(f"{where}.checkpoint holds a {_class_name(held)}, but {where}.arch is "
                     f"{mcfg.arch} (a {_class_name(expected)}): set arch to match, or leave "
                     "it out")


def build_configured(mcfg: ModelConfig, num_classes: int, *, image_size: int) -> BuiltModel:
    """Build ``models[i]`` and load its ``checkpoint`` when it has one.

    Args:
        mcfg: the model's config entry.
        num_classes: classes of the data.
        image_size: the input side (ViT input sizes; TorchScript conversion example).

    Raises:
        ModelError: one line naming the model, key or file.
    """
    info = _arch(mcfg)
    where = f"models[{mcfg.name}]"
    if info.family == "torchscript" or mcfg.arch == "torchscript":
        if mcfg.checkpoint is None:
            raise ModelError(f"{where}: arch: torchscript needs checkpoint: path/to/model.pt "
                             "(the TorchScript file is the model)")
        from auditor.models.torchscript import load_torchscript

        with _naming(f"{where}.checkpoint"):
            model = load_torchscript(mcfg.checkpoint, torch.zeros(1, 3, image_size, image_size),
                                     num_classes)
        return BuiltModel(model, find_head(model, num_classes), info, complete=True,
                          notes={"format": "torchscript"})
    held = pickled_classes(mcfg.checkpoint) if mcfg.checkpoint is not None else []
    if held and not mcfg.trust_pickle:
        raise ModelError(
            f"{mcfg.checkpoint}: holds a fully pickled {held[0]} object, not a state_dict; "
            "loading it would run code from the file, so it is refused: save "
            "model.state_dict() instead, or set "
            f"{where}.trust_pickle: true if you trust the file")
    if held:
        obj = load_pickled_module(mcfg.checkpoint, extra=_user_classes(info),
                                  where=f"{where}.checkpoint")
        if isinstance(obj, nn.Module):
            model = obj.cpu().eval()
            notes = {"trust_pickle": True, "format": "pickled module",
                     **_pickled_arch(mcfg, info, model, num_classes, image_size)}
            return BuiltModel(model, find_head(model, num_classes), info, complete=True,
                              notes=notes)
    problem = arch_kwargs_problem(info, mcfg.arch_kwargs)
    if problem:
        raise ModelError(f"{where}.arch_kwargs.{problem[0]}: {problem[1]}")
    try:
        model = build_model(mcfg.arch, num_classes, image_size=image_size, **mcfg.arch_kwargs)
    except ModelError as err:  # every route's constructor error names the key to change
        key = "" if "data.image_size" in str(err) else \
            ".arch_kwargs" if mcfg.arch_kwargs else ".arch"
        raise ModelError(f"{where}{key}: {err}") from None
    built = BuiltModel(model, _head_of(model, info, num_classes), info)
    if mcfg.checkpoint is not None:
        def adapt(state: dict) -> dict:
            return drop_aux_heads(mcfg.arch, state, model)

        with _naming(f"{where}.checkpoint"):
            if held:  # a trusted pickle holding a state_dict among other objects
                load_state_checked(model, unnest_state_dict(obj), mcfg.checkpoint, adapt=adapt)
                built.notes["trust_pickle"] = True
            else:
                load_checkpoint(model, mcfg.checkpoint, adapt=adapt)
        built.complete = True
    return built


def load_pretrained(built: BuiltModel, mcfg: ModelConfig) -> str | None:
    """Load ``weights`` (torchvision's local cache) or ``pretrained`` (a file) into the backbone.

    Returns:
        What was loaded (recorded in the run's metadata), or None.

    Raises:
        ModelError: file missing (naming where to put it), or keys that do not fit.
    """
    where = f"models[{mcfg.name}]"
    if mcfg.weights is not None:
        info = weights_info(mcfg.arch, mcfg.weights, f"{where}.weights")
        path = info.local_file(f"{where}.weights")
        label = info.name
    elif mcfg.pretrained is not None:
        path, label = mcfg.pretrained, str(mcfg.pretrained)
    else:
        return None
    head = built.head
    if built.info.family in ("torchvision", "registered") and built.info.name != "simple_cnn":
        def adapt(state: dict) -> dict:
            return adapt_pretrained_state(mcfg.arch, state, built.model, head)
    else:
        def adapt(state: dict) -> dict:
            return {k: v for k, v in state.items() if not (head and k.startswith(head + "."))}
    with _naming(f"{where}.{'weights' if mcfg.weights is not None else 'pretrained'}"):
        load_checkpoint(built.model, path, adapt=adapt,
                        skip_prefixes=(head + ".",) if head else ())
    built.notes["weights"] = label
    return label

"""What a model file's outputs mean: ``models[i].classes`` and ``models[i].output``.

A model trained elsewhere may order its classes otherwise than auditor (the data's class names
sorted), know more classes than the data holds (an ImageNet model audited on ten of its
classes), or end in a softmax. The model's ``forward`` is then followed, on the instance, by
the adaptation to what the audit reads: the logarithm of probabilities (logits whose softmax is
the model's probabilities) and the outputs of the data's classes, in the data's order. Module
names, hooks, parameters and ``state_dict`` keys stay those of the model (the target layer is
named as in the user's code), and a deep copy (the sanity check's) adapts its own outputs.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from auditor.config import ModelConfig
from auditor.errors import ModelError
from auditor.models.build import BuiltModel, build_configured

__all__ = ["OutputSpec", "build_for_data", "output_spec", "raw_forward"]

_ATTR = "_auditor_outputs"


@dataclass(frozen=True)
class OutputSpec:
    """``index``: the model's output of each data class, in the data's order (None: as is);
    ``probabilities``: the model returns probabilities (their logarithm is audited)."""

    index: tuple[int, ...] | None
    probabilities: bool


def _adapted_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    out = type(self).forward(self, *args, **kwargs)
    spec: OutputSpec = getattr(self, _ATTR)
    if not isinstance(out, Tensor) or out.dim() < 1:
        return out  # the model check names what came back
    if spec.probabilities:
        out = torch.log(out.clamp_min(torch.finfo(out.dtype).tiny))
    if spec.index is not None:
        out = out.index_select(-1, torch.as_tensor(spec.index, device=out.device))
    return out


def output_spec(model: nn.Module) -> OutputSpec | None:
    """The adaptation applied to ``model``'s outputs (None: none)."""
    spec = model.__dict__.get(_ATTR)
    return spec if isinstance(spec, OutputSpec) else None


def raw_forward(model: nn.Module, x: Tensor) -> Any:
    """The model's own output, before the adaptation."""
    return type(model).forward(model, x) if output_spec(model) else model(x)


def build_for_data(mcfg: ModelConfig, classes: list[str], *, image_size: int) -> BuiltModel:
    """:func:`~auditor.models.build.build_configured` for the data's ``classes`` (sorted names),
    with the model's outputs adapted as ``mcfg.classes`` and ``mcfg.output`` say.

    Raises:
        ModelError: a data class the model does not know, or a model of another class count.
    """
    where = f"models[{mcfg.name}]"
    own = list(mcfg.classes) if mcfg.classes else list(classes)
    built = build_configured(mcfg, len(own), image_size=image_size)
    missing = [c for c in classes if c not in own]
    if missing:
        raise ModelError(f"{where}.classes: the data's class(es) {', '.join(missing)} are not "
                         f"among the model's ({', '.join(own[:12])}"
                         f"{', ...' if len(own) > 12 else ''}): list the class of each output "
                         "of the model, in order")
    index = tuple(own.index(c) for c in classes)
    spec = OutputSpec(None if index == tuple(range(len(own))) else index,
                      mcfg.output == "probabilities")
    if spec.index is not None or spec.probabilities:
        setattr(built.model, _ATTR, spec)
        built.model.forward = types.MethodType(_adapted_forward, built.model)
    return built

"""The target layer of one model, resolved once per run: its name, map size and a finer option.

``"auto"`` takes the last layer whose map is at least ``MIN_MAP_SIDE`` on each side at the
audit's input size (see :func:`auditor.saliency.layers.probe_layers`). When the layer used is
coarser than that (a named layer, or a model with no finer layer), :attr:`TargetChoice.note`
says so and names the finer layer to use, if the model has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.models.state import frozen
from auditor.saliency.layers import (
    MIN_MAP_SIDE,
    LayerProbe,
    capture_activation,
    grid_shape,
    not_logits,
    probe_layers,
    resolve_target_layer,
)

__all__ = ["TargetChoice", "choose_target_layer"]


@dataclass(frozen=True)
class TargetChoice:
    """The layer the maps of one model come from.

    Attributes:
        name: dotted module name.
        map_size: ``(h, w)`` of its maps before upsampling.
        image_size: the input side it was measured at.
        finer: the last layer with maps of at least ``MIN_MAP_SIDE`` a side, when ``name`` is
            coarser and such a layer exists.
        finer_size: its map size.
    """

    name: str
    map_size: tuple[int, int]
    image_size: int
    finer: str | None = None
    finer_size: tuple[int, int] | None = None

    @property
    def coarse(self) -> bool:
        """The maps are coarser than ``MIN_MAP_SIDE`` x ``MIN_MAP_SIDE``."""
        return min(self.map_size) < MIN_MAP_SIDE

    @property
    def note(self) -> str | None:
        """One line for ``audit validate`` and the report when the maps are too coarse."""
        if not self.coarse:
            return None
        h, w = self.map_size
        head = (f"target layer {self.name} gives {h}x{w} maps at {self.image_size} px, coarser "
                f"than {MIN_MAP_SIDE}x{MIN_MAP_SIDE}: region masses and the sanity check "
                "cannot be trusted")
        if self.finer and self.finer_size:
            fh, fw = self.finer_size
            return f"{head}; use saliency.target_layer: {self.finer} ({fh}x{fw} maps)"
        return (f"{head}; this model has no finer layer at this size: raise data.image_size "
                f"(to {self.image_size * MIN_MAP_SIDE // max(min(self.map_size), 1)} px or more)")


def _measured_size(model: nn.Module, name: str, layer: nn.Module,
                   example: Tensor) -> tuple[int, int]:
    """The grid of the named layer; it must be called and reach the logits through autograd,
    as ``auto`` requires of the layers it probes."""
    with frozen(model), capture_activation(layer, grad=True) as cap, torch.enable_grad():
        logits = model(example[:1])
        problem = not_logits(logits)
        if problem:
            raise SaliencyError(problem)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        if cap.leaf is None:
            raise SaliencyError(f"target layer {name} was not called during the forward pass")
        if cap.calls > 1:
            raise SaliencyError(f"target layer {name} runs {cap.calls} times per forward (a "
                                "module the model reuses): its maps would show only its last "
                                "call; name a module that runs once (target_layer: auto "
                                "takes one)")
        grad = None
        if isinstance(logits, Tensor) and logits.requires_grad:
            (grad,) = torch.autograd.grad(logits.float().sum(), cap.leaf, allow_unused=True)
    if grad is None:
        raise SaliencyError(f"target layer {name} does not reach the logits through autograd "
                            "(does the forward go through numpy, .detach(), .item() or "
                            "torch.no_grad() after it?): saliency needs gradients from the "
                            "logits back to it")
    hw = grid_shape(cap.leaf.shape, cap.channels_last)
    if hw is None:
        raise SaliencyError(f"target layer {name} outputs shape {tuple(cap.leaf.shape)}; need "
                            "[N,C,H,W] or transformer tokens [N,T,D]")
    return hw


def choose_target_layer(model: nn.Module, spec: str, example: Tensor) -> TargetChoice:
    """Resolve ``spec`` (``"auto"`` or a dotted name) on ``example`` (``[N, 3, S, S]``).

    A named layer is measured on its own; the model is probed for other layers only to name a
    finer one when it is coarse.

    Raises:
        SaliencyError: unknown layer name (with close names), no usable layer, or an output
            that is not logits (a dict).
    """
    probe: LayerProbe | None = None
    if spec == "auto":
        probe = probe_layers(model, example)
        name = probe.auto
        size = probe.size(name)
    else:
        name, layer = resolve_target_layer(model, spec)
        size = _measured_size(model, name, layer, example)
    assert size is not None
    finer = None
    if min(size) < MIN_MAP_SIDE:
        if probe is None:
            try:
                probe = probe_layers(model, example)
            except SaliencyError:
                probe = None  # no other layer to suggest; the named one is used as is
        finer = probe.finest_fine_enough() if probe else None
    return TargetChoice(name, (int(size[0]), int(size[1])), int(example.shape[-1]), finer,
                        probe.size(finer) if probe and finer else None)

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
    capture_activation,
    grid_shape,
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


def _measured_size(model: nn.Module, layer: nn.Module, example: Tensor) -> tuple[int, int]:
    with frozen(model), capture_activation(layer, grad=False) as cap, torch.no_grad():
        model(example[:1])
    if cap.leaf is None:
        raise SaliencyError("the target layer was not called during the forward pass")
    hw = grid_shape(cap.leaf.shape)
    if hw is None:
        raise SaliencyError(f"target layer output has shape {tuple(cap.leaf.shape)}; need "
                            "[N,C,H,W] or transformer tokens [N,T,D]")
    return hw


def choose_target_layer(model: nn.Module, spec: str, example: Tensor) -> TargetChoice:
    """Resolve ``spec`` (``"auto"`` or a dotted name) on ``example`` (``[N, 3, S, S]``).

    Raises:
        SaliencyError: unknown layer name (with close names) or no usable layer.
    """
    probe = probe_layers(model, example)
    name = probe.auto if spec == "auto" else resolve_target_layer(model, spec)[0]
    size = probe.size(name) or _measured_size(model, model.get_submodule(name), example)
    finer = probe.finest_fine_enough() if min(size) < MIN_MAP_SIDE else None
    return TargetChoice(name, (int(size[0]), int(size[1])), int(example.shape[-1]), finer,
                        probe.size(finer) if finer else None)

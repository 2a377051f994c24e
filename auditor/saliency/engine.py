"""CamEngine: one forward + one backward to the target activation serve every CAM method.

    engine = CamEngine(model, target_layer="layer4", methods=["gradcam", "gradcam++"])
    out = engine(images, targets=None)        # None = predicted class
    out.maps        # [N, M, H, W] >= 0, input resolution, not min-max normalised
    out.logits      # [N, C]
    out.embeddings  # [N, K] global-average-pooled target activation

Gradients go to the target activation only: parameters are frozen for the call and the input
does not require grad (pixel-space methods run their own passes to the input).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.models.state import frozen
from auditor.saliency import pixel
from auditor.saliency.layers import (
    capture_activation,
    resolve_target_layer,
    tokens_to_grid,
)
from auditor.saliency.methods import CamContext, get_method, resolve_options

__all__ = ["CamEngine", "CamOutput", "normalize"]

logger = logging.getLogger(__name__)

_AUTOCAST = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
             "fp16": torch.float16, "float16": torch.float16}


@dataclass
class CamOutput:
    """Result of one engine call (all tensors on the input's device).

    Attributes:
        maps: ``[N, M, H, W]`` float32, non-negative, input resolution, not normalised.
        logits: ``[N, C]`` float32.
        embeddings: ``[N, K]`` global-average-pooled target activation.
        methods: the ``M`` method names, in the order of ``maps``' second axis.
        targets: ``[N]`` the class each map explains.
        target_layer: dotted name of the target layer.
        activations: ``[N, K, h, w]`` the target activation, on the model's device (for
            concept discovery; not moved to the input's device).
    """

    maps: Tensor
    logits: Tensor
    embeddings: Tensor
    methods: list[str]
    targets: Tensor
    target_layer: str
    activations: Tensor | None = None


def normalize(maps: Tensor, eps: float = 1e-12) -> Tensor:
    """Per-map min-max scaling to ``[0, 1]`` over the last two axes (for display).

    Args:
        maps: ``[..., H, W]``.

    Returns:
        Same shape; constant maps become all zeros.
    """
    flat = maps.flatten(-2)
    lo = flat.min(dim=-1, keepdim=True).values
    span = flat.max(dim=-1, keepdim=True).values - lo
    out = torch.where(span > eps, (flat - lo) / span.clamp(min=eps), torch.zeros_like(flat))
    return out.reshape(maps.shape)


def _device_of(model: nn.Module, fallback: torch.device) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return fallback


def _combine(weights: Tensor, acts: Tensor) -> Tensor:
    """A method's weighting of ``A`` -> low-resolution map ``[N, h, w]`` (see the registry)."""
    if weights.dim() == 2:
        return torch.einsum("nk,nkhw->nhw", weights.float(), acts)
    if weights.dim() == 4:
        return (weights.float() * acts).sum(dim=1)
    if weights.dim() == 3:
        return weights.float()
    raise SaliencyError(f"a saliency method returned shape {tuple(weights.shape)}")


class CamEngine:
    """Batched, device-native saliency for a classifier.

    Args:
        model: the classifier (any device); it is left exactly as it was after each call.
        target_layer: ``"auto"`` (last spatial layer before global pooling, found by a dry
            forward on the first call), a dotted module name or the module itself.
        methods: method names (see :func:`auditor.saliency.list_methods`).
        chunk_size: most images per extra forward (score-cam, occlusion, noisy copies).
        autocast: ``None``, ``"bf16"`` or ``"fp16"`` (or a torch dtype); used on CUDA only.
        options: per-method options, e.g. ``{"occlusion": {"window": 8, "stride": 4}}``.
        seed: seed of the noise-based methods (smoothgrad, smoothgradcam++).

    Raises:
        SaliencyError: unknown method, option or target layer.
    """

    def __init__(
        self,
        model: nn.Module,
        target_layer: str | nn.Module = "auto",
        methods: Sequence[str] = ("gradcam", "gradcam++"),
        *,
        chunk_size: int = 64,
        autocast: str | torch.dtype | None = None,
        options: Mapping[str, Mapping[str, Any]] | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(methods, str):
            methods = [methods]
        methods = list(methods)
        if not methods:
            raise SaliencyError("no saliency methods requested")
        dupes = sorted({m for m in methods if methods.count(m) > 1})
        if dupes:
            raise SaliencyError(f"saliency methods repeated: {', '.join(dupes)}")
        self.infos = [get_method(m) for m in methods]
        options = dict(options or {})
        stray = sorted(set(options) - set(methods))
        if stray:
            raise SaliencyError(f"options given for methods not requested: {', '.join(stray)}")
        self.options = {m: resolve_options(m, options.get(m)) for m in methods}
        if chunk_size < 1:
            raise SaliencyError(f"chunk_size must be >= 1, got {chunk_size}")
        if isinstance(autocast, str):
            if autocast not in _AUTOCAST:
                raise SaliencyError(f"autocast must be bf16 or fp16, got {autocast!r}")
            autocast = _AUTOCAST[autocast]
        self.model = model
        self.methods = methods
        self.chunk_size = int(chunk_size)
        self.autocast_dtype = autocast
        self.seed = seed
        self._spec = target_layer
        self._layer: tuple[str, nn.Module] | None = None
        if not (isinstance(target_layer, str) and target_layer == "auto"):
            self._layer = resolve_target_layer(model, target_layer)
        self.need_grad = any(i.needs_grad for i in self.infos)

    @property
    def target_layer(self) -> str | None:
        """Dotted name of the target layer (``None`` until ``"auto"`` has seen a batch)."""
        return self._layer[0] if self._layer else None

    def _amp(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None or device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.autocast_dtype)

    def _scores(self, logits: Tensor, targets: Tensor) -> Tensor:
        return logits.float().gather(1, targets[:, None]).sum()

    def _forward(self, x: Tensor) -> Tensor:
        with torch.no_grad(), self._amp(x.device):
            return self.model(x).float()

    def _activation_grad(self, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        assert self._layer is not None
        with capture_activation(self._layer[1], grad=True) as cap:
            with torch.enable_grad(), self._amp(x.device):
                logits = self.model(x)
                score = self._scores(logits, targets)
        grads = self._grad_to(score, cap.leaf, cap.channels_last)
        return cap.grid.detach().float(), grads

    def _grad_to(self, score: Tensor, leaf: Tensor | None,
                 channels_last: bool | None) -> Tensor:
        if leaf is None:
            raise SaliencyError(f"target layer {self.target_layer!r} was not called in forward")
        if not score.requires_grad:  # forward through numpy / .detach() / no_grad
            raise SaliencyError(f"target layer {self.target_layer!r} does not reach the logits "
                                "through autograd (the forward detaches them)")
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(score, leaf, allow_unused=True)
        if grad is None:
            raise SaliencyError(f"target layer {self.target_layer!r} does not reach the logits")
        return tokens_to_grid(grad, channels_last).float()

    def _input_grad(self, x: Tensor, targets: Tensor, guided: bool) -> Tensor:
        x = x.detach().requires_grad_(True)
        guide = pixel.guided_relus(self.model) if guided else contextlib.nullcontext()
        with guide, torch.enable_grad(), self._amp(x.device):
            logits = self.model(x)
            (grad,) = torch.autograd.grad(self._scores(logits, targets), x)
        return grad.float()

    def _targets(self, targets: Tensor | Sequence[int] | None, logits: Tensor,
                 n: int | None = None) -> Tensor:
        if not isinstance(logits, Tensor) or logits.dim() != 2 or (
                n is not None and logits.shape[0] != n):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise SaliencyError(f"the model returned {shape} for a batch of {n or '?'} images; "
                                "it must return one row of class scores per image [N, classes] "
                                "for every batch size (a .squeeze() drops N for one image)")
        if targets is None:
            return logits.argmax(dim=1)
        t = torch.as_tensor(targets, device=logits.device).long().reshape(-1)
        if t.shape[0] != logits.shape[0]:
            raise SaliencyError(f"targets has {t.shape[0]} entries for {logits.shape[0]} images")
        if t.numel() and (t.min() < 0 or t.max() >= logits.shape[1]):
            raise SaliencyError(f"targets must lie in [0, {logits.shape[1] - 1}]")
        return t

    def __call__(self, images: Tensor, targets: Tensor | Sequence[int] | None = None) -> CamOutput:
        """Compute every requested map for ``images``.

        Args:
            images: ``[N, C, H, W]`` float.
            targets: ``[N]`` class indices, or ``None`` for the predicted classes.

        Returns:
            :class:`CamOutput` on ``images``' device.
        """
        if not isinstance(images, Tensor) or images.dim() != 4 or not images.is_floating_point():
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise SaliencyError(f"images must be a float tensor [N, C, H, W], got {shape}")
        device = _device_of(self.model, images.device)
        x = images.detach().to(device)
        with frozen(self.model):
            if self._layer is None:
                self._layer = resolve_target_layer(self.model, self._spec, x[:1])
            with capture_activation(self._layer[1], grad=self.need_grad) as cap:
                grad_mode = torch.enable_grad() if self.need_grad else torch.no_grad()
                with grad_mode, self._amp(device):
                    logits = self.model(x)
                    t = self._targets(targets, logits, len(x))
                    score = self._scores(logits, t)
            grads = (self._grad_to(score, cap.leaf, cap.channels_last) if self.need_grad
                     else None)
            acts = cap.grid.detach().float()
            logits = logits.detach().float()
            del cap
            generator = torch.Generator(device=device).manual_seed(self.seed)
            maps, cache = [], {}
            for info in self.infos:
                ctx = CamContext(
                    model=self.model, layer=self._layer[1], images=x, targets=t, logits=logits,
                    activations=acts, grads=grads, options=self.options[info.name],
                    chunk_size=self.chunk_size, generator=generator, forward=self._forward,
                    activation_grad=self._activation_grad, input_grad=self._input_grad,
                    cache=cache,
                )
                maps.append(self._finish(info.space, info.fn(ctx), acts, x.shape[-2:]))
        out_dev = images.device
        return CamOutput(
            maps=torch.stack(maps, dim=1).to(out_dev),
            logits=logits.to(out_dev),
            embeddings=acts.mean(dim=(2, 3)).to(out_dev),
            methods=list(self.methods),
            targets=t.to(out_dev),
            target_layer=self._layer[0],
            activations=acts,
        )

    @staticmethod
    def _finish(space: str, result: Tensor, acts: Tensor, size: torch.Size) -> Tensor:
        if space == "pixel":
            return result.float().clamp(min=0)
        low = _combine(result, acts).clamp(min=0)
        return F.interpolate(low[:, None], size=tuple(size), mode="bilinear",
                             align_corners=False)[:, 0]

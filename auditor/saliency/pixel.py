"""Pixel-space saliency: input gradients, SmoothGrad, guided backprop, guided Grad-CAM, occlusion.

Each returns a non-negative ``[N, H, W]`` map at input resolution from its own passes; they run
inside the same engine call as the CAM methods (same frozen model, same targets).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.saliency.layers import registered_hooks
from auditor.saliency.methods.gradient import gradcam_weights
from auditor.saliency.methods.registry import CamContext, number_option, register_method
from auditor.saliency.methods.smooth import check_noise_options, noise_std, noisy_samples

__all__ = ["guided_relus", "occlusion_windows"]


@contextlib.contextmanager
def guided_relus(model: nn.Module) -> Iterator[int]:
    """Make every ``nn.ReLU`` pass back only positive gradients (guided backpropagation).

    A forward hook puts a tensor hook ``g -> ReLU(g)`` on each ReLU output, so the ReLU's own
    backward then gives ``(x > 0) * ReLU(g)`` (Springenberg et al. 2015). Works with
    ``inplace=True`` ReLUs and with ReLU modules called several times. Hooks are removed on exit.
    Functional ``F.relu`` calls cannot be hooked. Yields the number of hooked modules.

    Raises:
        SaliencyError: the model has no ``nn.ReLU`` (or ``nn.ReLU6``) module: its guided maps
            would silently be the plain gradient (GELU, SiLU and functional ReLUs).
    """

    def fwd(_m: nn.Module, _inp: object, out: Tensor) -> None:
        if isinstance(out, Tensor) and out.requires_grad:
            out.register_hook(lambda g: g.clamp(min=0))

    relus = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    if not relus:
        raise SaliencyError(f"saliency.methods: guided backpropagation needs nn.ReLU modules to "
                            f"guide; the model ({type(model).__name__}) has none (functional "
                            "relu, GELU or SiLU), so its maps would be the plain gradient: use "
                            "gradient or smoothgrad")
    with registered_hooks() as handles:
        for m in relus:
            handles.append(m.register_forward_hook(fwd))
        yield len(handles)


def _chunked_input_grad(ctx: CamContext, guided: bool) -> Tensor:
    out = []
    for start in range(0, ctx.images.shape[0], ctx.chunk_size):
        sl = slice(start, start + ctx.chunk_size)
        out.append(ctx.input_grad(ctx.images[sl], ctx.targets[sl], guided))
    return torch.cat(out)


@register_method("gradient", space="pixel", needs_input_grad=True,
                 passes="1 fwd+bwd to the input",
                 description="vanilla gradient: |d score / d pixel|, max over colour channels")
def gradient(ctx: CamContext) -> Tensor:
    """Saliency maps (Simonyan et al., ICLR-W 2014): ``max_c |dY^c / dx_c,ij|``."""
    return _chunked_input_grad(ctx, guided=False).abs().amax(dim=1)


@register_method("smoothgrad", space="pixel", needs_input_grad=True,
                 passes="n fwd+bwd (n noisy copies)",
                 defaults={"n": 16, "noise": 0.15, "stdev": None}, check=check_noise_options,
                 description="SmoothGrad: |gradient| averaged over noisy copies of the image")
def smoothgrad(ctx: CamContext) -> Tensor:
    """SmoothGrad (Smilkov et al. 2017): ``max_c 1/n sum_m |dY^c / dx (x + e_m)|``,
    ``e_m ~ N(0, sigma^2)``, ``sigma = noise * (max(x) - min(x))`` or the absolute ``stdev``.
    Same as captum's ``NoiseTunnel(Saliency)`` (``nt_type="smoothgrad"``) then max over channels.
    """
    images, targets = ctx.images, ctx.targets
    n = int(ctx.options["n"])
    std = noise_std(images, float(ctx.options["noise"]), ctx.options["stdev"])
    total = torch.zeros(images.shape, device=images.device, dtype=torch.float32)
    for idx, noisy in noisy_samples(images, n, std, ctx.generator, ctx.chunk_size):
        total.index_add_(0, idx, ctx.input_grad(noisy, targets[idx], False).abs())
    return (total / n).amax(dim=1)


def _guided(ctx: CamContext) -> Tensor:
    if "guided" not in ctx.cache:
        ctx.cache["guided"] = _chunked_input_grad(ctx, guided=True)
    return ctx.cache["guided"]


@register_method("guided-backprop", space="pixel", needs_input_grad=True,
                 passes="1 guided fwd+bwd to the input",
                 description="guided backpropagation: only positive gradients pass each ReLU")
def guided_backprop(ctx: CamContext) -> Tensor:
    """Guided backpropagation (Springenberg et al., ICLR-W 2015): ``max_c |guided dY^c/dx_c|``."""
    return _guided(ctx).abs().amax(dim=1)


@register_method("guided-gradcam", space="pixel", needs_grad=True, needs_input_grad=True,
                 passes="shared fwd+bwd + 1 guided fwd+bwd",
                 description="guided Grad-CAM: guided backprop x upsampled Grad-CAM")
def guided_gradcam(ctx: CamContext) -> Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017): ``max_c |guided dY^c/dx_c| * Up(Grad-CAM)`` with
    bilinear upsampling (captum's ``GuidedGradCam(interpolate_mode="bilinear")``)."""
    assert ctx.grads is not None
    cam = (gradcam_weights(ctx.grads)[:, :, None, None] * ctx.activations).sum(1).clamp(min=0)
    up = F.interpolate(cam[:, None], size=ctx.images.shape[-2:], mode="bilinear",
                       align_corners=False)[:, 0]
    return _guided(ctx).abs().amax(dim=1) * up


def occlusion_windows(size: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Start/stop of each window along one axis: starts ``0, s, 2s, ...`` up to
    ``ceil((size - window) / stride)`` steps, the last clipped at the border (as captum)."""
    if not 1 <= window <= size or stride < 1:
        raise SaliencyError(f"occlusion needs 1 <= window <= {size} and stride >= 1, got "
                            f"window={window}, stride={stride}")
    steps = -(-(size - window) // stride) + 1
    return [(i * stride, min(i * stride + window, size)) for i in range(steps)]


def _check_occlusion(options: Mapping[str, Any], image_size: int | None) -> None:
    """``window`` and ``stride``: integers from 1 to the image side (null: the defaults below);
    ``baseline``: the value the window is filled with, any finite number."""
    side = float(image_size) if image_size else None
    for key in ("window", "stride"):
        number_option(options, key, low=1, high=side, integer=True, optional=True,
                      bound="data.image_size" if side else "")
    number_option(options, "baseline", low=-1000, high=1000)


@register_method("occlusion", space="pixel", passes="1 fwd per window position, batched",
                 defaults={"window": None, "stride": None, "baseline": 0.0},
                 check=_check_occlusion,
                 description="occlusion: score drop when a sliding window is blanked out")
def occlusion(ctx: CamContext) -> Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, ECCV 2014): each pixel gets the mean score drop
    ``Y^c(x) - Y^c(x with window -> baseline)`` over the windows covering it, then ``ReLU``.
    Windows cover all channels; defaults ``window = H // 8``, ``stride = window // 2``.
    Matches captum's ``Occlusion`` with ``sliding_window_shapes=(3, w, w)``.
    """
    images, targets = ctx.images, ctx.targets
    n, _, h, w = images.shape
    window = int(ctx.options["window"] or max(1, min(h, w) // 8))
    stride = int(ctx.options["stride"] or max(1, window // 2))
    boxes = [(r, c) for r in occlusion_windows(h, window, stride)
             for c in occlusion_windows(w, window, stride)]
    masks = torch.zeros((len(boxes), h, w), device=images.device, dtype=torch.float32)
    for b, ((r0, r1), (c0, c1)) in enumerate(boxes):
        masks[b, r0:r1, c0:c1] = 1.0
    count = masks.sum(dim=0)
    base = ctx.logits.gather(1, targets[:, None])[:, 0]
    baseline = float(ctx.options["baseline"])
    total = torch.zeros((n, h, w), device=images.device, dtype=torch.float32)
    for start in range(0, n * len(boxes), ctx.chunk_size):
        flat = torch.arange(start, min(start + ctx.chunk_size, n * len(boxes)),
                            device=images.device)
        img, box = flat // len(boxes), flat % len(boxes)
        m = masks[box][:, None].to(images.dtype)
        scores = ctx.forward(images[img] * (1 - m) + baseline * m)
        drop = base[img] - scores.gather(1, targets[img, None])[:, 0]
        total.index_add_(0, img, drop[:, None, None] * masks[box])
    return (total / count).clamp(min=0)

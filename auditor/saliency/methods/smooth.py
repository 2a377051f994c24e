"""Smooth Grad-CAM++ and the noisy-copy sampler shared with SmoothGrad."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from auditor.errors import SaliencyError
from auditor.saliency.methods.registry import CamContext, number_option, register_method


def noise_std(images: Tensor, noise: float, stdev: float | None) -> Tensor:
    """Per-image noise std ``[N]``: ``stdev`` if given, else ``noise * (max - min)`` of the image
    (SmoothGrad's "noise level", Smilkov et al. 2017)."""
    if stdev is not None:
        return torch.full((images.shape[0],), float(stdev), device=images.device)
    flat = images.flatten(1)
    return noise * (flat.max(dim=1).values - flat.min(dim=1).values)


def check_noise_options(options: Mapping[str, Any], image_size: int | None) -> None:
    """The options of the noise-averaged methods: ``n`` copies (1-10,000), ``noise`` (a share
    of the image's value range, 0-10) or an absolute ``stdev`` (0 and up, 0 being no noise;
    null for ``noise``)."""
    number_option(options, "n", low=1, high=10_000, integer=True)
    number_option(options, "noise", low=0, high=10)
    number_option(options, "stdev", low=0, optional=True)


def noisy_samples(
    images: Tensor, n: int, std: Tensor, generator: torch.Generator, chunk_size: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """Yield ``(image index [B], noisy images [B, 3, H, W])`` chunks, ``n`` copies per image.

    Image-major order (image 0's ``n`` copies first) with noise drawn per image as
    ``torch.normal(0, std_i)`` -- the same draws as captum's ``NoiseTunnel`` for the same seed.
    """
    if n < 1:
        raise SaliencyError(f"noise-averaged methods need n >= 1 samples, got {n}")
    rows: list[Tensor] = []
    owners: list[Tensor] = []
    pending = 0
    for i in range(images.shape[0]):
        scale = std[i].expand(n, *images.shape[1:]).float()
        rows.append(images[i] + torch.normal(0.0, scale, generator=generator).to(images.dtype))
        owners.append(torch.full((n,), i, device=images.device, dtype=torch.long))
        pending += n
        while pending >= chunk_size or (i == images.shape[0] - 1 and pending):
            batch, idx = torch.cat(rows), torch.cat(owners)
            yield idx[:chunk_size], batch[:chunk_size]
            rows, owners = [batch[chunk_size:]], [idx[chunk_size:]]
            pending = max(0, pending - chunk_size)


@register_method("smoothgradcam++", passes="n fwd+bwd (n noisy copies)",
                 needs_grad=False, defaults={"n": 8, "noise": 0.15, "stdev": None},
                 check=check_noise_options,
                 description="Smooth Grad-CAM++: Grad-CAM++ with noise-averaged gradient powers")
def smoothgradcampp(ctx: CamContext) -> Tensor:
    """Smooth Grad-CAM++ (Omeiza et al. 2019): the Grad-CAM++ closed form with the 1st, 2nd and
    3rd gradient powers averaged over ``n`` noisy copies ``x + N(0, sigma^2)``:
    ``alpha = E[g^2] / (2 E[g^2] + sum_ab A_ab E[g^3])``, ``w_k = sum_ij alpha ReLU(E[g])``,
    with ``A`` from the clean image. (torch-cam instead uses the last sample's gradient in
    ``ReLU(.)`` and ``sum_ab A g^3`` in the denominator; we follow the paper.)
    """
    acts, images, targets = ctx.activations, ctx.images, ctx.targets
    n = int(ctx.options["n"])
    std = noise_std(images, float(ctx.options["noise"]), ctx.options["stdev"])
    g1, g2, g3 = (torch.zeros_like(acts) for _ in range(3))
    for idx, noisy in noisy_samples(images, n, std, ctx.generator, ctx.chunk_size):
        _, grads = ctx.activation_grad(noisy, targets[idx])
        g1.index_add_(0, idx, grads)
        g2.index_add_(0, idx, grads.pow(2))
        g3.index_add_(0, idx, grads.pow(3))
    g1, g2, g3 = g1 / n, g2 / n, g3 / n
    alpha = g2 / (2 * g2 + acts.sum(dim=(2, 3), keepdim=True) * g3 + 1e-6)
    alpha = torch.where(g2 != 0, alpha, torch.zeros_like(alpha))
    return (alpha * g1.clamp(min=0)).sum(dim=(2, 3))

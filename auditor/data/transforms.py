"""Resizing images and region masks identically, then normalising the image.

Three modes (``data.resize``), all producing a ``size x size`` square:

- ``stretch``: resize both sides to ``size`` (aspect ratio not kept);
- ``center_crop``: cut the centre square of the original (side: its shorter side), resize it
  to ``size`` (the same picture as resizing first, with work bounded by the output);
- ``letterbox``: resize the longer side to ``size``, pad the rest with black. Padded pixels
  belong to no annotated region, so they count as ``background``.

One :class:`~auditor.data.plan.Geometry` is planned per image from its original size
(:mod:`auditor.data.plan`, no torch) and applied here to the image (bilinear, antialiased) and
to its masks (``nearest-exact``), so a mask pixel lands exactly where its image pixel lands.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from auditor.data.plan import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Geometry,
    normalize_stats,
    plan_geometry,
)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Geometry", "apply_image", "apply_masks",
           "normalize_image", "normalize_stats", "plan_geometry"]

def _cut(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    if geo.crop is None:
        return x
    top, left, h, w = geo.crop
    return x[..., top:top + h, left:left + w]


def _place(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    if geo.mode == "letterbox":
        out = x.new_zeros((*x.shape[:-2], geo.size, geo.size))
        h, w = geo.resized
        out[..., geo.top:geo.top + h, geo.left:geo.left + w] = x
        return out
    return x


def apply_image(image: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """Resize an image.

    Args:
        image: ``uint8 [3, H, W]``.
        geo: from :func:`plan_geometry` for this ``H, W``.

    Returns:
        ``uint8 [3, size, size]``.
    """
    image = _cut(image, geo)
    if tuple(image.shape[-2:]) != geo.resized:
        image = TF.resize(image, list(geo.resized), interpolation=InterpolationMode.BILINEAR,
                          antialias=True)
    return _place(image, geo).contiguous()


def apply_masks(masks: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """Resize region masks exactly like :func:`apply_image` resizes the image.

    Args:
        masks: ``bool [R, H, W]``.
        geo: the image's geometry.

    Returns:
        ``bool [R, size, size]``.
    """
    if masks.shape[0] == 0:
        return torch.zeros((0, geo.size, geo.size), dtype=torch.bool)
    m = _cut(masks, geo).to(torch.uint8)
    if tuple(m.shape[-2:]) != geo.resized:
        m = TF.resize(m, list(geo.resized), interpolation=InterpolationMode.NEAREST_EXACT)
    return _place(m, geo).bool().contiguous()


def normalize_image(image: torch.Tensor, mean: tuple[float, ...],
                    std: tuple[float, ...]) -> torch.Tensor:
    """``uint8 [..., 3, S, S]`` -> ``float32 [..., 3, S, S]``: scale to 0..1, subtract mean,
    divide std, on the image's device."""
    x = image.to(torch.float32) / 255.0
    m = torch.tensor(mean, dtype=torch.float32, device=image.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=image.device).view(3, 1, 1)
    return (x - m) / s

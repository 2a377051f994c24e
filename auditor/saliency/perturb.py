"""Perturbations of images inside region masks (used by the audit pass's reliance test).

``occlude_regions`` replaces one region of every image with a fill: ``blur`` (a heavy Gaussian
blur of the image pasted inside the mask) or ``mean`` (the image's mean colour).
``swap_region`` builds counterfactuals: a region of another image (the donor) pasted into this
one, with this image's own copy of the region filled and, optionally, some pixels kept as they
are (the expected regions, when a spurious region is swapped). ``lead_paste`` pastes a region
from any other image and fills the hole the donor's object leaves with the *donor's own*
region smoothed over it, or, as its control, leaves the image's region and fills the same hole
with the image's own region smoothed over it: the two differ only in whose region shows. Pure
tensor functions: no model is run here.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["Fill", "fill_image", "grow", "lead_paste", "occlude_regions", "region_core",
           "region_margin", "region_smooth", "swap_region"]

Fill = Literal["blur", "mean"]


def _blur(images: torch.Tensor) -> torch.Tensor:
    """Heavy Gaussian blur: sigma = 1/8 of the image side, kernel up to 3 sigma each side."""
    h, w = images.shape[-2:]
    sigma = max(h, w) / 8.0
    limit = 2 * min(h, w) - 1  # reflect padding needs kernel // 2 < side
    k = min(2 * math.ceil(3 * sigma) + 1, limit if limit % 2 else limit - 1)
    k = max(k, 1)
    # Separable: two 1-D passes equal torchvision's 2-D kernel (the Gaussian factorises)
    # at 2k instead of k^2 multiply-adds per pixel.
    x = torch.arange(k, dtype=images.dtype, device=images.device) - k // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    c, pad = images.shape[1], k // 2
    out = F.pad(images, (pad, pad, 0, 0), mode="reflect")
    out = F.conv2d(out, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    out = F.pad(out, (0, 0, pad, pad), mode="reflect")
    return F.conv2d(out, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def occlude_regions(images: torch.Tensor, masks: torch.Tensor, region_index: int,
                    fill: Fill = "blur", *, filler: torch.Tensor | None = None) -> torch.Tensor:
    """Replace one region of every image.

    Args:
        images: ``[N, C, H, W]`` float (normalised or not; the fill is computed in the same
            space).
        masks: ``[N, R, H, W]`` bool region masks at the images' resolution.
        region_index: which of the R regions to occlude.
        fill: ``"blur"`` (heavy Gaussian blur of the image inside the mask) or ``"mean"``
            (the image's mean colour per channel).
        filler: the precomputed fill image ``[N, C, H, W]`` (see :func:`fill_image`), to
            share one blur between several regions.

    Returns:
        ``[N, C, H, W]`` new tensor; pixels outside the region are unchanged.
    """
    if images.dim() != 4 or masks.dim() != 4:
        raise ValueError("images must be [N, C, H, W] and masks [N, R, H, W]")
    if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"images {tuple(images.shape)} and masks {tuple(masks.shape)} differ "
                         "in samples or size")
    region = masks[:, region_index : region_index + 1].to(images.device).bool()  # [N,1,H,W]
    if filler is None:
        filler = fill_image(images, fill)
    return torch.where(region, filler, images)


def fill_image(images: torch.Tensor, fill: Fill) -> torch.Tensor:
    """What occluded pixels are replaced with: ``[N, C, H, W]`` like ``images``."""
    if fill == "blur":
        return _blur(images)
    if fill == "mean":
        return images.mean(dim=(-2, -1), keepdim=True).expand_as(images)
    raise ValueError(f"fill must be 'blur' or 'mean', not {fill!r}")


def swap_region(images: torch.Tensor, region: torch.Tensor, donor: torch.Tensor, *,
                keep: torch.Tensor | None = None, filler: torch.Tensor) -> torch.Tensor:
    """Paste each donor's copy of a region into an image (a counterfactual swap).

    Pixel ``p`` of image ``i`` (donor ``d = donor[i]``) becomes: the image's own pixel where
    ``keep[i]`` holds; else the donor's pixel where the donor's region ``region[d]`` holds;
    else the fill where the image's own region ``region[i]`` holds (its copy is removed);
    else the image's own pixel.

    Args:
        images: ``[N, C, H, W]``.
        region: ``[N, H, W]`` bool, the swapped region of every image.
        donor: ``[N]`` long, the image each one takes the region from.
        keep: ``[N, H, W]`` bool pixels never replaced (e.g. the expected regions), or None.
        filler: ``[N, C, H, W]`` what the image's own region is replaced with
            (see :func:`fill_image`).

    Returns:
        ``[N, C, H, W]`` new tensor.
    """
    own, theirs, donor = _own_and_theirs(images, region, donor)
    out = torch.where(theirs, images[donor], torch.where(own, filler, images))
    return _kept(out, images, keep)


def _own_and_theirs(images: torch.Tensor, region: torch.Tensor, donor: torch.Tensor, *,
                    margin: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(own, theirs, donor)`` of a paste: each image's region and its donor's (without the
    donor's outer ring ``margin`` pixels wide), ``[N, 1, H, W]`` bool, and ``donor`` on the
    images' device."""
    if images.dim() != 4 or region.dim() != 3 or donor.shape != (images.shape[0],):
        raise ValueError("images must be [N, C, H, W], region [N, H, W] and donor [N]")
    region = region.to(images.device).bool()
    donor = donor.to(images.device)
    core = region_core(region, margin) if margin > 0 else region
    return region.unsqueeze(1), core[donor].unsqueeze(1), donor


def _kept(out: torch.Tensor, images: torch.Tensor, keep: torch.Tensor | None, margin: int = 0
          ) -> torch.Tensor:
    """``out`` with the images' own pixels back where ``keep`` (grown by ``margin``) holds."""
    if keep is None:
        return out
    kept = grow(keep.to(images.device).bool(), margin).unsqueeze(1)
    return torch.where(kept, images, out)


def region_smooth(images: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Each image's region smoothed over the whole frame: the heavy blur of :func:`_blur`
    over the region's pixels alone (normalised convolution), so a hole in the region is
    filled with the colours of the region around it and nothing of what lies outside it.
    It is computed at a resolution of about 16 pixels a side and scaled back up (a fill for
    holes needs no more, and the blur costs a fraction). Pixels too far from the region to
    get any of it take the plain blur.

    Args:
        images: ``[N, C, H, W]``.
        region: ``[N, H, W]`` bool.

    Returns:
        ``[N, C, H, W]``.
    """
    h, w = images.shape[-2:]
    weight = region.to(images.device, images.dtype).unsqueeze(1)
    both = torch.cat([images * weight, weight], dim=1)
    factor = max(1, min(h, w) // 16)
    if factor > 1:
        both = F.avg_pool2d(both, factor, ceil_mode=True)
    both = _blur(both)
    if factor > 1:
        both = F.interpolate(both, size=(h, w), mode="bilinear", align_corners=False)
    num, den = both[:, :-1], both[:, -1:]
    out = num / den.clamp_min(1e-3)
    empty = den <= 1e-3
    return torch.where(empty, _blur(images), out) if bool(empty.any()) else out


def region_margin(size: int) -> int:
    """Pixels an annotation may be off by at an image side of ``size``: a region's outer
    ring this wide may still hold the object's edge (anti-aliasing, polygons drawn a pixel
    apart from how they are rasterised, loose masks)."""
    return max(1, math.ceil(size / 24))


def grow(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """``[N, H, W]`` bool ``mask`` dilated by ``pixels`` (a square neighbourhood)."""
    if pixels <= 0:
        return mask.bool()
    k = 2 * pixels + 1
    return F.max_pool2d(mask.float().unsqueeze(1), k, stride=1, padding=pixels).squeeze(1) > 0


def lead_paste(images: torch.Tensor, region: torch.Tensor, donor: torch.Tensor, *,
               keep: torch.Tensor | None = None, margin: int = 0, smooth: torch.Tensor,
               hole_only: bool = False) -> torch.Tensor:
    """Paste each donor's copy of a region into an image, leaving no trace of the donor's
    object; or (``hole_only``) the control that makes the same hole in the image's own region.

    A region's *core* is the region without its outer ring ``margin`` pixels wide, where the
    edge of the object next to it may still show. The *hole* of image ``i`` (donor ``d``) is
    where the image's region holds but the donor's core does not: the donor's object and its
    ring. Pixel ``p`` becomes the image's own pixel where ``keep[i]`` grown by ``margin``
    holds (the image's object and its edge); else, in the hole, the donor's core smoothed over
    it (``smooth[d]``; ``hole_only``: the image's own, ``smooth[i]``); else the donor's pixel
    where the donor's core holds (``hole_only``: the image's own); else the image's own pixel.
    The hole's shape is the donor object's outline in both, and both fill it alike, so a
    model that reads the outline is moved alike by both; only a model that reads what the
    donor's region shows is moved by the paste alone.

    Args:
        images: ``[N, C, H, W]``.
        region: ``[N, H, W]`` bool, the pasted region of every image.
        donor: ``[N]`` long, the image each one takes the region from.
        keep: ``[N, H, W]`` bool pixels never replaced (the expected regions), or None.
        margin: the ring's width in pixels (:func:`region_margin`).
        smooth: ``[N, C, H, W]`` :func:`region_smooth` of ``images`` over each core.
        hole_only: build the control instead of the paste.

    Returns:
        ``[N, C, H, W]`` new tensor.
    """
    own, theirs, donor = _own_and_theirs(images, region, donor, margin=margin)
    if hole_only:
        out = torch.where(own & ~theirs, smooth, images)
    else:
        out = torch.where(theirs, images[donor], torch.where(own, smooth[donor], images))
    return _kept(out, images, keep, margin)


def region_core(region: torch.Tensor, margin: int) -> torch.Tensor:
    """``[N, H, W]`` bool: ``region`` without its outer ring ``margin`` pixels wide (see
    :func:`lead_paste`)."""
    return ~grow(~region.bool(), margin)

"""Region metrics of saliency maps: attention mass, region area, pointing game, lift.

Pure torch functions, batched over samples (and optionally over methods). They run on the
device of their inputs, so the saliency engine can hand over maps without a copy.

* ``mass``  = share of a map's total (non-negative) mass that falls inside a region;
* ``area``  = share of the image the region covers;
* ``lift``  = mass / area (1.0 = no preference for the region, NaN where the area is 0);
* ``pointing`` = whether the map's maximum pixel lies inside the region (Zhang et al. 2016).

Maps are expected non-negative (the CAM engine clamps them); negative values are clamped to 0
here as well so a stray negative pixel cannot produce a mass outside [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["attention_mass", "lift", "pointing_game", "region_area"]


def _check(maps: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Bring maps to ``[N, M, H, W]`` at the masks' resolution.

    Returns:
        (maps [N, M, H, W] float >= 0, masks [N, R, H, W] float, squeeze) where ``squeeze``
        says the caller passed ``[N, H, W]`` maps and expects ``[N, R]`` back.
    """
    if masks.dim() != 4:
        raise ValueError(f"masks must be [N, R, H, W], got shape {tuple(masks.shape)}")
    squeeze = maps.dim() == 3
    if squeeze:
        maps = maps.unsqueeze(1)
    if maps.dim() != 4:
        raise ValueError(f"maps must be [N, H, W] or [N, M, H, W], got shape {tuple(maps.shape)}")
    if maps.shape[0] != masks.shape[0]:
        raise ValueError(f"maps have {maps.shape[0]} samples but masks have {masks.shape[0]}")
    maps = maps.float().clamp_min(0)
    if maps.shape[-2:] != masks.shape[-2:]:
        maps = F.interpolate(maps, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        maps = maps.clamp_min(0)
    return maps, masks.to(device=maps.device, dtype=maps.dtype), squeeze


def attention_mass(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of each map's total mass inside each region.

    Args:
        maps: ``[N, H, W]`` or ``[N, M, H, W]`` non-negative saliency maps (M methods). Maps at
            another resolution than the masks are resized bilinearly to the masks' size.
        masks: ``[N, R, H, W]`` bool region masks.

    Returns:
        ``[N, R]`` (or ``[N, M, R]``) float in [0, 1]. A map whose total mass is 0 gives 0 for
        every region (never NaN). When the regions partition the image (annotated regions plus
        ``background``) the masses of a non-zero map sum to 1.
    """
    maps, m, squeeze = _check(maps, masks)
    inside = torch.einsum("nmhw,nrhw->nmr", maps, m)
    total = maps.sum(dim=(-2, -1)).unsqueeze(-1)
    out = torch.where(total > 0, inside / total.clamp_min(torch.finfo(maps.dtype).tiny),
                      torch.zeros_like(inside))
    return out.squeeze(1) if squeeze else out


def region_area(masks: torch.Tensor) -> torch.Tensor:
    """Share of the image each region covers.

    Args:
        masks: ``[N, R, H, W]`` bool.

    Returns:
        ``[N, R]`` float in [0, 1].
    """
    if masks.dim() != 4:
        raise ValueError(f"masks must be [N, R, H, W], got shape {tuple(masks.shape)}")
    return masks.float().mean(dim=(-2, -1))


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Whether the maximum pixel of each map lies inside each region.

    Ties go to the first maximal pixel in row-major order (``torch.argmax``). A map whose
    total mass is 0 points nowhere: every region gets ``False``.

    Args:
        maps: ``[N, H, W]`` or ``[N, M, H, W]`` non-negative maps.
        masks: ``[N, R, H, W]`` bool region masks.

    Returns:
        ``[N, R]`` (or ``[N, M, R]``) bool.
    """
    maps, m, squeeze = _check(maps, masks)
    n, n_methods, h, w = maps.shape
    flat = maps.reshape(n, n_methods, h * w)
    idx = flat.argmax(dim=-1)  # [N, M]
    mflat = m.reshape(n, m.shape[1], h * w)  # [N, R, HW]
    gathered = torch.gather(mflat, 2, idx.unsqueeze(1).expand(n, m.shape[1], n_methods))
    hit = gathered.transpose(1, 2) > 0.5  # [N, M, R]
    nonzero = (flat.sum(dim=-1) > 0).unsqueeze(-1)
    hit = hit & nonzero
    return hit.squeeze(1) if squeeze else hit


def relevance_rank_accuracy(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Relevance rank accuracy (Arras, Osman & Samek, 2022, "CLEVR-XAI").

    For a region of K pixels: the share of the map's K highest pixels that lie inside it,
    ``|top_K(map) ∩ region| / K``. 1.0 = the map's top K pixels are exactly the region. Ties
    are broken by row-major position (a stable sort). An empty region or an all-zero map
    gives ``NaN`` (no ranking to judge).

    Args:
        maps: ``[N, H, W]`` or ``[N, M, H, W]`` non-negative maps.
        masks: ``[N, R, H, W]`` bool region masks.

    Returns:
        ``[N, R]`` (or ``[N, M, R]``) float.
    """
    maps, m, squeeze = _check(maps, masks)
    n, n_methods, h, w = maps.shape
    flat = maps.reshape(n, n_methods, h * w).float()
    order = torch.sort(flat, dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(h * w, device=flat.device).expand_as(order))
    mflat = m.reshape(n, m.shape[1], h * w) > 0.5  # [N, R, HW] bool
    k = mflat.sum(dim=-1)  # [N, R]
    # inside[n, m, r] = number of region-r pixels whose rank (under method m) is below K_r
    top = rank.unsqueeze(2) < k.unsqueeze(1).unsqueeze(-1)  # [N, M, R, HW] bool
    inside = (top & mflat.unsqueeze(1)).sum(dim=-1).float()
    out = inside / k.unsqueeze(1).clamp(min=1).float()
    bad = (k.unsqueeze(1) == 0) | (flat.sum(dim=-1) <= 0).unsqueeze(-1)
    out = out.masked_fill(bad, float("nan"))
    return out.squeeze(1) if squeeze else out


def lift(mass: torch.Tensor | np.ndarray | float, area: torch.Tensor | np.ndarray | float):
    """Attention lift = mass / area, NaN where the area is 0.

    Args:
        mass: tensor, array or number (any shape).
        area: same shape as ``mass`` (or broadcastable).

    Returns:
        The same kind as ``mass``: a tensor for tensors, a float array for arrays, a float for
        numbers. 1.0 means the map attends to the region in proportion to its size.
    """
    if isinstance(mass, torch.Tensor) or isinstance(area, torch.Tensor):
        mass_t = torch.as_tensor(mass, dtype=torch.float32)
        area_t = torch.as_tensor(area, dtype=torch.float32, device=mass_t.device)
        nan = torch.full_like(mass_t * area_t, float("nan"))
        return torch.where(area_t > 0, mass_t / torch.where(area_t > 0, area_t, 1.0), nan)
    mass_a = np.asarray(mass, dtype=float)
    area_a = np.asarray(area, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(area_a > 0, mass_a / np.where(area_a > 0, area_a, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out

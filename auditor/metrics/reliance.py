"""Causal reliance test: does the prediction change when a region is removed?

Attention maps say where a model looks; occluding a region says whether the decision depends
on it. For every region the region's pixels are replaced (``blur``: a heavy Gaussian blur of
the image pasted inside the mask; ``mean``: the image's mean colour) and the model is run
again. Per sample we record whether the predicted class flipped and how much the softmax
probability of the original prediction dropped. The pipeline stores them as the columns
``flip_<region>`` and ``conf_drop_<region>`` of the per-sample table, and
:func:`reliance_summary` aggregates them with intervals and counts.

The test runs under ``torch.no_grad()`` with the model in eval mode; :func:`eval_mode`
restores every module's training flag afterwards, even on error. Images and masks may be
passed in pieces (per batch) and the per-sample results concatenated: every number is
per sample.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from auditor.metrics.groups import attribute_values
from auditor.metrics.stats import bootstrap_mean_ci, json_float, wilson_ci

__all__ = ["eval_mode", "occlude_regions", "reliance_summary", "reliance_test"]

Fill = Literal["blur", "mean"]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; restore each module's ``training`` flag on exit."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


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


def reliance_test(model: nn.Module, images: torch.Tensor, masks: torch.Tensor,
                  regions: Sequence[str], *, fill: Fill = "blur", batch_size: int = 64,
                  logits: torch.Tensor | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Occlude each region in turn and measure how the prediction changes.

    Args:
        model: classifier returning logits ``[B, K]``; the batches are moved to the device of
            the model's first parameter (or stay where they are for a parameter-free model).
        images: ``[N, C, H, W]`` model-ready images.
        masks: ``[N, R, H, W]`` bool masks, ordered as ``regions``.
        regions: the R region names.
        fill: see :func:`occlude_regions`.
        batch_size: samples per forward pass.
        logits: ``[N, K]`` the model's logits on ``images`` when already computed (saves
            one forward pass per batch).

    Returns:
        ``{REGION: {"flip": bool [N], "conf_drop": float [N]}}``: ``flip`` = the predicted
        class changed; ``conf_drop`` = softmax probability of the original prediction before
        minus after (positive = less confident).
    """
    if masks.shape[1] != len(regions):
        raise ValueError(f"masks have {masks.shape[1]} regions but {len(regions)} names given")
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else images.device
    n = images.shape[0]
    flips = {r: np.zeros(n, dtype=bool) for r in regions}
    drops = {r: np.zeros(n, dtype=np.float32) for r in regions}
    with eval_mode(model), torch.no_grad():
        for start in range(0, n, batch_size):
            sl = slice(start, min(n, start + batch_size))
            x = images[sl].to(device)
            m = masks[sl].to(device)
            base = logits[sl].to(device) if logits is not None else model(x)
            prob = torch.softmax(base.float(), dim=1)
            conf, pred = prob.max(dim=1)
            filler = fill_image(x, fill)
            for j, region in enumerate(regions):
                occluded = occlude_regions(x, m, j, fill, filler=filler)
                prob_o = torch.softmax(model(occluded).float(), dim=1)
                flips[region][sl] = (prob_o.argmax(dim=1) != pred).cpu().numpy()
                after = prob_o.gather(1, pred.unsqueeze(1)).squeeze(1)
                drops[region][sl] = (conf - after).cpu().numpy()
    return {r: {"flip": flips[r], "conf_drop": drops[r]} for r in regions}


def _stats(sub: pd.DataFrame, region: str, level: float, n_boot: int, seed: int
           ) -> dict[str, Any]:
    fcol, dcol, acol = f"flip_{region}", f"conf_drop_{region}", f"area_{region}"
    if acol in sub.columns:  # occluding an empty region is no test
        sub = sub[sub[acol].to_numpy(dtype=float) > 0]
    flips = sub[fcol].dropna().astype(bool)
    k, n = int(flips.sum()), int(len(flips))
    out: dict[str, Any] = {"flip_rate": json_float(k / n) if n else None,
                           "ci": [json_float(v) for v in wilson_ci(k, n, level)], "n": n}
    if dcol in sub.columns:
        mean, lo, hi = bootstrap_mean_ci(sub[dcol].to_numpy(dtype=float), n_boot=n_boot,
                                         level=level, seed=seed)
        out["conf_drop"] = json_float(mean)
        out["conf_drop_ci"] = [json_float(lo), json_float(hi)]
    return out


def reliance_summary(df: pd.DataFrame, regions: Sequence[str], attributes: Sequence[str] = (),
                     *, level: float = 0.95, n_boot: int = 1000, seed: int = 0
                     ) -> dict[str, dict[str, Any]]:
    """Flip rates and confidence drops per region, overall, per class and per attribute value.

    Samples whose region is empty (``area_<region>`` == 0) are left out of that region's
    numbers. Regions without a ``flip_<region>`` column are skipped.

    Args:
        df: per-sample table of ONE model with ``flip_<region>`` (bool) and
            ``conf_drop_<region>`` (float) columns, ``label`` and the attribute columns.
        regions: region names.
        attributes: attribute columns for the per-group breakdown.
        level, n_boot, seed: interval settings (Wilson for flip rates, bootstrap for drops).

    Returns:
        ``{REGION: {flip_rate, ci, n, conf_drop, conf_drop_ci,
        by_class: {CLASS: {...}}, by_group: {ATTR: {VALUE: {...}}}}}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for region in regions:
        if f"flip_{region}" not in df.columns:
            continue
        entry = _stats(df, region, level, n_boot, seed)
        if "label" in df.columns:
            labels = df["label"].astype(str)
            entry["by_class"] = {c: _stats(df[labels == c], region, level, n_boot, seed)
                                 for c in sorted(labels.unique())}
        entry["by_group"] = {}
        for attr in attributes:
            values = attribute_values(df, attr)
            entry["by_group"][attr] = {v: _stats(df[values == v], region, level, n_boot, seed)
                                       for v in sorted(values.unique())}
        out[region] = entry
    return out

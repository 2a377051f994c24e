"""Causal reliance test: does the prediction change when a region is removed?

Attention maps say where a model looks; occluding a region says whether the decision depends
on it. For every region the region's pixels are replaced (see
:func:`auditor.saliency.perturb.occlude_regions`) and the model is run again. Per sample we
record whether the predicted class flipped and how much the softmax probability of the
original prediction dropped. The audit pass stores them as the columns ``flip_<region>`` and
``conf_drop_<region>`` of the per-sample table, and
:func:`auditor.metrics.reliance.reliance_summary` aggregates them with intervals and counts.

The test runs under ``torch.no_grad()`` with the model in eval mode
(:func:`auditor.models.state.eval_mode` restores every module's training flag afterwards, even
on error). Images and masks may be passed in pieces (per batch) and the per-sample results
concatenated: every number is per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from auditor.models.state import eval_mode
from auditor.saliency.perturb import Fill, fill_image, occlude_regions

__all__ = ["reliance_test"]


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

"""Causal reliance test: does the prediction change when a region is removed?

Attention maps say where a model looks; occluding a region says whether the decision depends
on it. For every region the region's pixels are replaced (see
:func:`auditor.saliency.perturb.occlude_regions`) and the model is run again. Per sample we
record whether the predicted class flipped and how much the softmax probability of the
original prediction dropped. The audit pass stores them as the columns ``flip_<region>`` and
``conf_drop_<region>`` of the per-sample table, and
:func:`auditor.metrics.reliance.reliance_summary` aggregates them with intervals and counts.

:func:`swap_test` runs the counterfactual swaps of a :class:`SwapPlan`: each spurious region
pasted in from a sample with another value of an attribute (the expected regions kept), and
the expected regions pasted in from a sample of another class. Each context swap has a
*placebo*: the same region pasted in from a sample with the **same** attribute value, which
disrupts the image as much but carries no other context, so the two predictions of one image
can be compared. A *lead paste* (:func:`~auditor.saliency.perturb.lead_paste`) pastes each
spurious region from any other image, with its hole control on the same donor: whatever the
attributes, the prediction it gets can be compared with the class the model gives the donor
(a background shortcut nobody recorded the scene of). Donors are drawn inside the batch,
seeded by the batch number, so a resumed run draws the same ones.

The tests run under ``torch.no_grad()`` with the model in eval mode
(:func:`auditor.models.state.eval_mode` restores every module's training flag afterwards, even
on error). Images and masks may be passed in pieces (per batch) and the per-sample results
concatenated: every number is per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from auditor.models.state import eval_mode
from auditor.saliency.perturb import (
    Fill,
    fill_image,
    lead_paste,
    occlude_regions,
    region_core,
    region_margin,
    region_smooth,
    swap_region,
)

__all__ = ["OBJECT_SWAP", "Swap", "SwapPlan", "build_swap_plan", "pick_donors", "reliance_test",
           "swap_test"]

#: Name of the swap that pastes the expected regions of a sample of another class.
OBJECT_SWAP = "object"


@dataclass(frozen=True)
class Swap:
    """One counterfactual swap: ``name`` is ``OBJECT_SWAP``, ``<attribute>:<region>`` or, for
    a lead paste (``lead``), the region's own name; ``placebo``: the donors share the image's
    attribute value instead of differing in it (a lead paste's: its hole control, on the
    lead paste's own donors)."""

    name: str
    region: int | None  # index of the swapped spurious region (None: the expected regions)
    attribute: str | None  # donors differ in this attribute (None: in class, or any donor)
    placebo: bool = False
    lead: bool = False


@dataclass
class SwapPlan:
    """Which swaps to run and what donors are chosen by.

    Attributes:
        swaps: the swaps, in column order.
        expected: indices of the expected regions in the mask stack.
        codes: ``{ATTR: int [len(table)]}`` attribute value codes by table row.
        labels: ``int [len(table)]`` class index by table row.
        seed: donor draws are seeded by ``(seed, batch number)``.
    """

    swaps: list[Swap]
    expected: list[int]
    codes: dict[str, np.ndarray]
    labels: np.ndarray
    seed: int = 0


def build_swap_plan(table: pd.DataFrame, regions: Sequence[str], attributes: Sequence[str], *,
                    expected: Sequence[str], swapped: Sequence[str], seed: int
                    ) -> SwapPlan | None:
    """The swaps of a run: the expected regions from another class, and each region of
    ``swapped`` (the spurious ones) from another value of each attribute, each followed by
    its placebo (the region from a sample with the same value); last, each region of
    ``swapped`` as a lead paste from any other sample, followed by its hole control (last, so
    the donors of the swaps before them are drawn as they were before lead pastes existed).

    Returns:
        None when no expected region is configured (nothing to keep or paste).
    """
    regions = list(regions)
    exp = [regions.index(r) for r in expected if r in regions]
    if not exp:
        return None
    swaps = [Swap(OBJECT_SWAP, None, None)]
    swaps += [Swap(f"{a}:{r}", regions.index(r), a, placebo) for a in attributes
              for r in swapped if r in regions and r not in expected
              for placebo in (False, True)]
    swaps += [Swap(r, regions.index(r), None, placebo, lead=True) for r in swapped
              if r in regions and r not in expected for placebo in (False, True)]
    codes = {a: pd.factorize(table[a].astype(str))[0] for a in attributes}
    return SwapPlan(swaps, exp, codes, table["label"].to_numpy().astype(np.int64), seed)


def pick_donors(keys: np.ndarray, usable: np.ndarray, rng: np.random.Generator, *,
                same: bool = False) -> np.ndarray:
    """For each item, a random other item with a different key (``same``: with the same key;
    a placebo donor), ``-1`` when there is none.

    Args:
        keys: ``[N]`` attribute codes or class indices.
        usable: ``[N]`` bool: items that may serve as donors and get one.
        rng: the draw.
        same: draw donors with the item's own key (never the item itself).

    Returns:
        ``int [N]`` donor positions.
    """
    out = np.full(len(keys), -1, dtype=np.int64)
    index = np.arange(len(keys))
    for i in np.flatnonzero(usable):
        match = (keys == keys[i]) & (index != i) if same else keys != keys[i]
        cand = np.flatnonzero(usable & match)
        if len(cand):
            out[i] = int(rng.choice(cand))
    return out


def reliance_test(model: nn.Module, images: torch.Tensor, masks: torch.Tensor,
                  regions: Sequence[str], *, fill: Fill = "blur", batch_size: int = 64,
                  logits: torch.Tensor | None = None, filler: torch.Tensor | None = None
                  ) -> dict[str, dict[str, np.ndarray]]:
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
        filler: ``[N, C, H, W]`` :func:`fill_image` of ``images`` when already computed (the
            swaps use the same one).

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
            filled = (filler[sl].to(device) if filler is not None else fill_image(x, fill))
            for j, region in enumerate(regions):
                occluded = occlude_regions(x, m, j, fill, filler=filled)
                prob_o = torch.softmax(model(occluded).float(), dim=1)
                flips[region][sl] = (prob_o.argmax(dim=1) != pred).cpu().numpy()
                after = prob_o.gather(1, pred.unsqueeze(1)).squeeze(1)
                drops[region][sl] = (conf - after).cpu().numpy()
    return {r: {"flip": flips[r], "conf_drop": drops[r]} for r in regions}


def swap_test(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, rows: np.ndarray,
              plan: SwapPlan, *, batch_number: int, fill: Fill = "blur",
              filler: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Run every swap of ``plan`` on one batch and record the new predictions.

    Args:
        model: classifier returning logits ``[B, K]``.
        images: ``[N, C, H, W]`` model-ready images (one batch).
        masks: ``[N, R, H, W]`` bool region masks.
        rows: ``[N]`` table rows of the images (to look up attribute values and classes).
        plan: the swaps.
        batch_number: seeds the donor draw.
        fill, filler: what an image's own copy of a swapped region is replaced with.

    Returns:
        ``(pred, donor)``, both ``int [N, S]``: the predicted class after swap ``s`` and the
        table row of the donor (``-1`` and ``-1`` when the image got no donor: no sample in
        the batch differs in the attribute / class, or the image or donor lacks the
        expected region).
    """
    n, s = images.shape[0], len(plan.swaps)
    pred = np.full((n, s), -1, dtype=np.int64)
    donor_rows = np.full((n, s), -1, dtype=np.int64)
    if not s or not plan.expected:
        return pred, donor_rows
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else images.device
    x, m = images.to(device), masks.to(device)
    expected = m[:, plan.expected].any(dim=1)  # [N, H, W]
    has_expected = expected.flatten(1).any(dim=1).cpu().numpy()
    if filler is None:
        filler = fill_image(x, fill)
    rng = np.random.default_rng([plan.seed, batch_number])
    lead_donors: dict[str, np.ndarray] = {}  # a lead paste's donors, for its hole control
    smooth: dict[str, torch.Tensor] = {}  # region_smooth per lead-pasted region
    with eval_mode(model), torch.no_grad():
        for k, swap in enumerate(plan.swaps):
            if swap.lead:
                region, keep = m[:, swap.region], expected
                if swap.placebo:
                    donors = lead_donors.get(swap.name, np.full(n, -1, dtype=np.int64))
                else:
                    donors = pick_donors(np.zeros(n, dtype=np.int64), has_expected, rng,
                                         same=True)
                    lead_donors[swap.name] = donors
            else:
                if swap.attribute is None:
                    keys, region, keep = plan.labels[rows], expected, None
                else:
                    keys, region = plan.codes[swap.attribute][rows], m[:, swap.region]
                    keep = expected
                donors = pick_donors(keys, has_expected, rng, same=swap.placebo)
            ok = donors >= 0
            if not ok.any():
                continue
            idx = torch.as_tensor(np.where(ok, donors, np.arange(n)), device=device)
            if swap.lead:
                margin = region_margin(min(x.shape[-2:]))
                if swap.name not in smooth:
                    smooth[swap.name] = region_smooth(x, region_core(region, margin))
                swapped = lead_paste(x, region, idx, keep=keep, margin=margin,
                                     smooth=smooth[swap.name], hole_only=swap.placebo)
            else:
                swapped = swap_region(x, region, idx, keep=keep, filler=filler)
            out = model(swapped[torch.as_tensor(ok, device=device)]).argmax(dim=1)
            pred[ok, k] = out.cpu().numpy()
            donor_rows[ok, k] = rows[donors[ok]]
    return pred, donor_rows

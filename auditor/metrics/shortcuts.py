"""Causal evidence of shortcuts, and the ``ignored_region`` finding.

Attention says where a model looks; the reliance test and the counterfactual swaps say what
its decision depends on (columns of the per-sample table, see :mod:`auditor.metrics.reliance`):

* ``flip_<region>``: the prediction changed when the region was masked;
* ``swap_pred_<attr>:<region>`` / ``swap_to_<attr>:<region>``: the region pasted in from a
  sample with another value of ``attr`` (expected regions kept), and the class that value
  goes with in training;
* ``swap_pred_object`` / ``swap_to_object``: the expected regions pasted in from a sample of
  another class, and that class.

:func:`causal_evidence` finds, for one spurious region, the cell (all samples, a class, or a
class x attribute value with at least ``min_group_size`` samples) where masking flips the
most predictions and the cell where swapping sends the most predictions to the class the
swapped-in content goes with (largest lower Wilson bound). The spurious-cue finding
(:mod:`auditor.metrics.spurious`) reads it whatever the region's lift, so a background that
covers 90% of the image is caught as well as a small patch; the ``ignored_region`` finding
(:mod:`auditor.metrics.ignored`) reads the same cells for the expected regions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.common.thresholds import RELIANCE_THRESHOLD
from auditor.metrics.columns import area_column, flip_column
from auditor.metrics.conflict import conflict_gap
from auditor.metrics.groups import attribute_values, group_name
from auditor.metrics.reliance import lead_rates, swap_pred_column, swap_rates
from auditor.metrics.stats import json_float, newcombe_diff_ci, wilson_ci

__all__ = ["OBJECT", "Cell", "CausalEvidence", "causal_evidence", "cells", "flip_stats",
           "lead_beats_controls", "swap_names"]

OBJECT = "object"

Cell = tuple[dict[str, str], np.ndarray]


def cells(df: pd.DataFrame, attributes: Sequence[str], min_size: int) -> list[Cell]:
    """All samples, each class and each (class, attribute value), with ``>= min_size`` rows.

    Returns:
        ``[(features, bool [N] rows)]``; features ``{}``, ``{"label": c}`` or
        ``{"label": c, ATTR: v}``.
    """
    labels = df["label"].astype(str).to_numpy()
    out: list[Cell] = [({}, np.ones(len(df), dtype=bool))]
    for cls in sorted(set(labels.tolist())):
        in_cls = labels == cls
        out.append(({"label": cls}, in_cls))
        for attr in attributes:
            values = attribute_values(df, attr).to_numpy()
            for v in sorted(set(values[in_cls].tolist())):
                out.append(({"label": cls, attr: v}, in_cls & (values == v)))
    return [(f, m) for f, m in out if m.sum() >= min_size]


def swap_names(df: pd.DataFrame, attributes: Sequence[str], region: str
               ) -> list[tuple[str, str]]:
    """The context swaps of ``region`` that the table has columns for, as ``(name,
    attribute)`` (an attribute name may itself contain ``:``; never parse it back)."""
    return [(f"{a}:{region}", a) for a in attributes
            if swap_pred_column(f"{a}:{region}") in df.columns]


def flip_stats(df: pd.DataFrame, rows: np.ndarray, region: str, level: float
               ) -> tuple[int, int, list[float | None]]:
    """``(k, n, ci)`` of ``flip_<region>`` over ``rows`` where the region is not empty
    (``(0, 0, [None, None])`` without the column)."""
    if flip_column(region) not in df.columns:
        return 0, 0, [None, None]
    keep = rows.copy()
    if area_column(region) in df.columns:
        keep &= df[area_column(region)].to_numpy(dtype=float) > 0
    flips = df.loc[keep, flip_column(region)].dropna().astype(bool)
    k, n = int(flips.sum()), int(len(flips))
    return k, n, [json_float(v) for v in wilson_ci(k, n, level)]


def lead_beats_controls(r: dict[str, Any]) -> bool:
    """The follow rate of :func:`~auditor.metrics.reliance.lead_rates` ``r`` (lower bound)
    beats both its controls (upper bounds): the hole control's follow rate and the paste's
    change rate on same-class donors."""
    if r.get("follow_rate") is None:
        return False
    lo = r["follow_ci"][0] or 0.0
    return all(lo > (1.0 if ci[1] is None else ci[1]) for ci in (r["hole_ci"], r["control_ci"]))


@dataclass
class CausalEvidence:
    """The strongest masking and swap evidence for one region.

    Attributes:
        mask: ``{group, features, n, rate, ci}`` of the cell whose masking flip rate has the
            largest lower bound, or None without ``flip_<region>``.
        swap: ``{swap, attribute, group, features, n, flip_rate, follow_rate, follow_ci,
            n_follow, to_values}`` of the cell whose follow rate has the largest lower bound,
            or None without swap columns.
        threshold: the reliance threshold the lower bounds are held against.
        lead: :func:`~auditor.metrics.reliance.lead_rates` (plus ``group``, ``features``) of
            the cell whose lead-paste excess has the largest lower bound among those beating
            both controls (else among all), or None without lead columns.
        conflict: :func:`~auditor.metrics.conflict.conflict_gap` of the swap's attribute
            (accuracy where the image's own value goes with its class minus where it goes
            with another), or None.
        gap_threshold: the smallest accuracy difference worth a finding
            (``analysis.gap_threshold``), the bar of :attr:`conflict_confirms`.
    """

    mask: dict[str, Any] | None
    swap: dict[str, Any] | None
    threshold: float
    lead: dict[str, Any] | None = None
    conflict: dict[str, Any] | None = None
    gap_threshold: float = 0.10

    @property
    def masking_flips(self) -> bool:
        """Masking changes more than ``threshold`` of a cell's predictions (lower bound), and
        is not mere disruption (:attr:`masking_disrupts_only`)."""
        return (self.mask is not None and (self.mask["ci"][0] or 0.0) > self.threshold
                and not self.masking_disrupts_only)

    @property
    def masking_disrupts_only(self) -> bool:
        """Masking changes more than ``threshold`` of the cell's predictions, but pasting the
        region in from samples whose content points elsewhere (the lead paste on the same
        cell, from donors the model gives another class: the share it sends to that class;
        before the lead paste existed, the context swap or placebo that changes the most)
        moves significantly fewer (the lower bound of masking's rate minus the paste's,
        ``natural_paste["difference_ci"]``, Newcombe's interval, above 0; without it, the
        paste's upper bound under masking's lower bound) and at most half as many: what the
        region shows matters little; the fill itself (a blurred 90% of the image) throws the
        model off. Null data with a noisy background do this; it is no shortcut. A model
        that reads the region's content follows such a paste about as often as masking
        changes it. (Donors the model gives the same class are left out: their
        region points where the prediction already is, so counting them would halve a real
        cue's rate: the demo's face, 88% followed, read as 48% of all pastes.)"""
        m = self.mask
        nat = None if m is None else m.get("natural_paste")
        if nat is None:
            return False
        lo = m["ci"][0] or 0.0
        diff_lo = (nat.get("difference_ci") or [None])[0]
        fewer = diff_lo > 0 if diff_lo is not None else (nat["ci"][1] or 0.0) < lo
        return lo > self.threshold and fewer and (nat["rate"] or 0.0) <= (m["rate"] or 0.0) / 2

    @property
    def swap_follows(self) -> bool:
        """Swapping sends more than ``threshold`` of a cell's predictions to the class the
        swapped-in content goes with (lower bound), and more than the placebo: the swap's
        flip rate where the swapped-in content already points to the prediction (upper
        bound; in a two-class task every disrupted prediction lands on that class)."""
        if self.swap is None:
            return False
        lo = self.swap["follow_ci"][0] or 0.0
        placebo = self.swap.get("placebo_ci", [None, None])[1]
        return lo > self.threshold and (placebo is None or lo > placebo)

    @property
    def swap_leans(self) -> bool:
        """Weaker following: the follow rate itself reaches ``threshold`` and its lower bound
        lies above the placebo's upper bound (significantly more than disruption), but the
        lower bound does not clear ``threshold``. High only when masking agrees in the same
        cell (:attr:`masking_agrees`)."""
        if self.swap is None or self.swap.get("follow_rate") is None:
            return False
        placebo = self.swap.get("placebo_ci", [None, None])[1]
        if placebo is None:
            return self.swap_follows
        lo = self.swap["follow_ci"][0] or 0.0
        return self.swap["follow_rate"] >= self.threshold and lo > placebo

    @property
    def swap_beyond_placebo(self) -> bool:
        """The follow rate's lower bound lies above the same-value placebo's upper bound and
        the rate reaches half of ``threshold``: a real but small reliance (medium evidence)."""
        s = self.swap
        if s is None or s.get("placebo") != "same_value" or s.get("follow_rate") is None:
            return False
        hi = (s.get("placebo_ci") or [None, None])[1]
        return (hi is not None and (s["follow_ci"][0] or 0.0) > hi
                and s["follow_rate"] >= self.threshold / 2)

    @property
    def masking_agrees(self) -> bool:
        """Masking the region changes more than ``threshold`` of the predictions of the very
        cell the swap was measured in (lower bound): two interventions on the same samples."""
        m = (self.swap or {}).get("masking")
        return m is not None and (m["ci"][0] or 0.0) > self.threshold

    @property
    def swap_flips(self) -> bool:
        """Swapping changes more than ``threshold`` of a cell's predictions (lower bound), and
        more than the same-value placebo changes (its upper bound), when it ran."""
        if self.swap is None:
            return False
        lo = self.swap["flip_ci"][0] or 0.0
        placebo = (self.swap.get("placebo_flip_ci") or [None, None])[1]
        return lo > self.threshold and (placebo is None or lo > placebo)

    def _lead_beats_controls(self) -> bool:
        return self.lead is not None and lead_beats_controls(self.lead)

    @property
    def lead_follows(self) -> bool:
        """Pasting the region from another image sends a cell's predictions to the class the
        model gives that image beyond both controls, by more than ``threshold`` (the excess's
        lower bound): the model reads what the region shows, whether or not an attribute
        records it (a background shortcut nobody recorded the scene of)."""
        return (self._lead_beats_controls()
                and (self.lead["excess_ci"][0] or 0.0) > self.threshold)

    @property
    def lead_beyond_controls(self) -> bool:
        """Weaker: beyond both controls, by at least half of ``threshold`` (the excess
        itself; medium evidence). A model that overfits any background detail follows a
        pasted background somewhat more than a same-class one changes it; a shortcut
        follows it by far."""
        return (self._lead_beats_controls()
                and (self.lead["excess"] or 0.0) >= self.threshold / 2)

    @property
    def conflict_confirms(self) -> bool:
        """A swap under the high bar that still beats its placebo (:attr:`swap_leans`,
        :attr:`swap_beyond_placebo`), and images whose value goes with another class answered
        worse than those whose value goes with their own by at least ``gap_threshold`` (lower
        bound of the conflict gap): the swap says the region carries the value, the labels
        say how much accuracy the value decides. Two kinds of evidence agreeing."""
        c = self.conflict
        return (c is not None and (c["gap_ci"][0] or 0.0) >= self.gap_threshold - 1e-9
                and (self.swap_leans or self.swap_beyond_placebo) and not self.swap_follows)

    @property
    def causal(self) -> bool:
        return (self.masking_flips or self.swap_follows or self.swap_leans or self.swap_flips
                or self.swap_beyond_placebo or self.lead_beyond_controls)

    def to_dict(self) -> dict[str, Any]:
        return {"masking": self.mask, "swap": self.swap, "lead": self.lead,
                "conflict": self.conflict, "reliance_threshold": self.threshold}


def causal_evidence(df: pd.DataFrame, region: str, cell_list: Sequence[Cell],
                    attributes: Sequence[str], *, threshold: float = RELIANCE_THRESHOLD,
                    level: float = 0.95, min_follow: int = 10,
                    gap_threshold: float = 0.10) -> CausalEvidence:
    """The cells with the strongest masking and swap evidence for ``region``.

    The swap's cell (all samples, a class, or a class and a value of the swap's own attribute)
    is the one whose follow rate has the largest lower bound among those where that bound
    beats the upper bound of the same-value placebo on the same rows (else among all),
    counting only cells with at least ``min_follow`` rows the swap could move
    (:func:`~auditor.metrics.reliance.swap_rates`). Where no cell has that many (the value
    goes with no class), the cell whose flip rate has the largest lower bound, preferring
    those where it beats the placebo's flip rate."""
    mask = None
    mask_cell = -1  # the cell masking's evidence is read in
    masked: list[tuple[int, int, list[float | None]]] = []  # flip_stats per cell
    if flip_column(region) in df.columns:
        for i, (feats, rows) in enumerate(cell_list):
            k, n, ci = flip_stats(df, rows, region, level)
            masked.append((k, n, ci))
            if n and (mask is None or (ci[0] or 0.0) > (mask["ci"][0] or 0.0)):
                mask = {"group": group_name(feats) if feats else "all", "features": dict(feats),
                        "n": n, "rate": json_float(k / n), "ci": ci}
                mask_cell = i
    in_mask_cell: dict[str, dict[str, Any]] = {}  # swap_rates of each swap there
    swap = None
    best_key: tuple[bool, bool, float] | None = None
    swap_cell = 0
    for name, attribute in swap_names(df, attributes, region):
        for i, (feats, rows) in enumerate(cell_list):
            r = swap_rates(df[rows], name, level)
            if not r["n"]:
                continue
            if i == mask_cell:
                in_mask_cell[name] = r
            if any(k not in ("label", attribute) for k in feats):
                continue  # a cell of another attribute: not the one this swap exchanges
            followable = r["n_follow"] >= max(min_follow, 1)
            if followable:
                lo, placebo_hi = r["follow_ci"][0] or 0.0, r["placebo_ci"][1]
                beats = r["placebo"] == "same_value" and placebo_hi is not None \
                    and lo > placebo_hi
            else:  # nothing to follow (the value goes with no class): judge the changes
                lo, placebo_hi = r["ci"][0] or 0.0, (r.get("placebo_flip_ci") or [None])[-1]
                beats = placebo_hi is not None and lo > placebo_hi
            key = (followable, beats, lo)
            if best_key is None or key > best_key:
                best_key, swap_cell = key, i
                swap = {"swap": name, "attribute": attribute,
                        "group": group_name(feats) if feats else "all",
                        "features": dict(feats), "n": r["n"],
                        "flip_rate": r["flip_rate"], "flip_ci": r["ci"],
                        "placebo_flip_rate": r.get("placebo_flip_rate"),
                        "placebo_flip_ci": r.get("placebo_flip_ci"),
                        # too few rows to judge following: only the changes count
                        "follow_rate": r["follow_rate"] if followable else None,
                        "follow_ci": r["follow_ci"] if followable else [None, None],
                        "n_follow": r["n_follow"] if followable else 0,
                        "n_movable": r["n_movable"], "n_corrections": r["n_corrections"],
                        "placebo": r["placebo"], "placebo_rate": r["placebo_rate"],
                        "placebo_ci": r["placebo_ci"], "n_placebo": r["n_placebo"],
                        "to_classes": r["to_classes"]}
    if swap is not None and masked:  # masking in the swap's own cell
        k, n, ci = masked[swap_cell]
        swap["masking"] = {"rate": json_float(k / n), "ci": ci, "n": n} if n else None
    leads = [lead_rates(df[rows], region, level) for _, rows in cell_list]  # None: no pastes
    if mask is not None:
        lead_there = leads[mask_cell]
        mask["natural_paste"] = nat = (_lead_as_natural_paste(lead_there)
                                       if lead_there and lead_there["n_follow"]
                                       else _natural_paste(in_mask_cell))
        if nat is not None and nat["n"] and mask["n"] and None not in (nat["rate"],
                                                                        mask["rate"]):
            # masking's rate minus the paste's (a small paste sample is not "as many")
            nat["difference_ci"] = [json_float(v) for v in newcombe_diff_ci(
                round(mask["rate"] * mask["n"]), mask["n"], round(nat["rate"] * nat["n"]),
                nat["n"], level)]
    lead = _lead_evidence(leads, cell_list, max(min_follow, 1))
    conflict = conflict_gap(df, swap["swap"], level) if swap is not None else None
    return CausalEvidence(mask, swap, threshold, lead, conflict, gap_threshold)


def _lead_evidence(leads: Sequence[dict[str, Any] | None], cell_list: Sequence[Cell],
                   min_rows: int) -> dict[str, Any] | None:
    """Of the :func:`~auditor.metrics.reliance.lead_rates` ``leads`` of each cell, the one whose
    lead-paste excess over the larger control has the largest lower bound (what the grading
    reads), preferring those whose follow rate beats both controls (upper bounds); cells with
    fewer than ``min_rows`` rows whose donor the model gives another class are not read."""
    best, best_key = None, None
    for r, (feats, _) in zip(leads, cell_list, strict=True):
        if r is None or r["n_follow"] < min_rows:
            continue
        lo = r["excess_ci"][0]
        beats = lead_beats_controls(r)
        if best_key is None or (beats, -1.0 if lo is None else lo) > best_key:
            best_key = (beats, -1.0 if lo is None else lo)
            best = {**r, "group": group_name(feats) if feats else "all",
                    "features": dict(feats)}
    return best


def _lead_as_natural_paste(r: dict[str, Any]) -> dict[str, Any]:
    """The lead paste on masking's cell as its natural paste: the region from another sample
    the model gives another class, with no trace of that sample's object (a context swap
    fills the donor object's place with a blur of the image, a disruption of its own); its
    rate is the share of those ``n_follow`` rows the paste sends to the donor's class."""
    return {"swap": "lead", "placebo": False, "n": r["n_follow"], "rate": r["follow_rate"],
            "ci": list(r["follow_ci"])}


def _natural_paste(rates: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Of the :func:`~auditor.metrics.reliance.swap_rates` of each context swap on masking's
    cell, the paste (the swap or its placebo) that changes the most predictions (largest upper
    bound), as ``{swap, placebo, n, rate, ci}``; None when no swap of the region ran there
    (tables written before the lead paste existed: it is the natural paste when it ran)."""
    best = None
    for name, r in rates.items():
        for placebo, rate, ci in ((False, r["flip_rate"], r["ci"]),
                                  (True, r.get("placebo_flip_rate"), r.get("placebo_flip_ci"))):
            if rate is None or ci is None:
                continue
            if best is None or (ci[1] or 0.0) > (best["ci"][1] or 0.0):
                best = {"swap": name, "placebo": placebo, "n": r["n"], "rate": rate,
                        "ci": list(ci)}
    return best

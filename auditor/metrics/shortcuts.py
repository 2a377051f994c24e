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
covers 90% of the image is caught as well as a small patch.

:func:`ignored_region_findings` raises ``ignored_region`` for an expected region the model
does not use, in a cell where it is above chance:

* ``high`` — pasting in another class's expected region sends fewer than
  :data:`IGNORED_FLIP` of the predictions to that class (upper Wilson bound); without the
  swap, masking the region changes fewer than :data:`IGNORED_FLIP` of them;
* ``medium`` — only the attention says so: the lift's whole interval lies at or below 1.

A cell where that causal test moves more than the reliance threshold of the predictions
(lower bound) reads the region and is never flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.common.thresholds import IGNORED_FLIP, RELIANCE_THRESHOLD
from auditor.metrics.base import Finding, describe_group, method_label, pct
from auditor.metrics.columns import area_column, flip_column, mass_column
from auditor.metrics.groups import attribute_values, group_name
from auditor.metrics.reliance import swap_pred_column, swap_rates, swap_to_column
from auditor.metrics.stats import bootstrap_ratio_ci, json_float, wilson_ci

__all__ = ["Cell", "CausalEvidence", "causal_evidence", "causal_sentence", "cells", "flip_stats",
           "ignored_region_findings", "swap_names"]

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


def swap_names(df: pd.DataFrame, attributes: Sequence[str], region: str) -> list[str]:
    """The context swaps of ``region`` that the table has columns for."""
    return [f"{a}:{region}" for a in attributes
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
    """

    mask: dict[str, Any] | None
    swap: dict[str, Any] | None
    threshold: float

    @property
    def masking_flips(self) -> bool:
        """Masking changes more than ``threshold`` of a cell's predictions (lower bound)."""
        return self.mask is not None and (self.mask["ci"][0] or 0.0) > self.threshold

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
        lower bound does not clear ``threshold``. High only when masking agrees."""
        if self.swap is None or self.swap.get("follow_rate") is None:
            return False
        placebo = self.swap.get("placebo_ci", [None, None])[1]
        if placebo is None:
            return self.swap_follows
        lo = self.swap["follow_ci"][0] or 0.0
        return self.swap["follow_rate"] >= self.threshold and lo > placebo

    @property
    def swap_flips(self) -> bool:
        """Swapping changes more than ``threshold`` of a cell's predictions (lower bound)."""
        return self.swap is not None and (self.swap["flip_ci"][0] or 0.0) > self.threshold

    @property
    def causal(self) -> bool:
        return self.masking_flips or self.swap_follows or self.swap_leans or self.swap_flips

    def to_dict(self) -> dict[str, Any]:
        return {"masking": self.mask, "swap": self.swap, "reliance_threshold": self.threshold}


def causal_evidence(df: pd.DataFrame, region: str, cell_list: Sequence[Cell],
                    attributes: Sequence[str], *, threshold: float = RELIANCE_THRESHOLD,
                    level: float = 0.95) -> CausalEvidence:
    """The cells with the strongest masking and swap evidence for ``region``."""
    mask = None
    if flip_column(region) in df.columns:
        best = None
        for feats, rows in cell_list:
            k, n, ci = flip_stats(df, rows, region, level)
            if n and (best is None or (ci[0] or 0.0) > (best["ci"][0] or 0.0)):
                best = {"group": group_name(feats) if feats else "all", "features": dict(feats),
                        "n": n, "rate": json_float(k / n), "ci": ci}
        mask = best
    swap = None
    for name in swap_names(df, attributes, region):
        for feats, rows in cell_list:
            r = swap_rates(df[rows], name, level)
            if not r["n_follow"]:
                continue
            if swap is None or (r["follow_ci"][0] or 0.0) > (swap["follow_ci"][0] or 0.0):
                sub = df[rows]
                to = sub[swap_to_column(name)].dropna().astype(str)
                to = to[to != sub.loc[to.index, "label"].astype(str)]  # where it could pull
                swap = {"swap": name, "attribute": name.split(":", 1)[0],
                        "group": group_name(feats) if feats else "all",
                        "features": dict(feats), "n": r["n"],
                        "flip_rate": r["flip_rate"], "flip_ci": r["ci"],
                        "follow_rate": r["follow_rate"], "follow_ci": r["follow_ci"],
                        "n_follow": r["n_follow"], "placebo_flip_rate": r["placebo_flip_rate"],
                        "placebo_ci": r["placebo_ci"], "n_placebo": r["n_placebo"],
                        "to_classes": sorted(set(to.tolist()))}
    return CausalEvidence(mask, swap, threshold)


def causal_sentence(region: str, ev: CausalEvidence, level: float) -> str:
    """The causal part of a title, strongest evidence first ('' when there is none)."""
    parts = []
    if ev.swap is not None and (ev.swap_follows or ev.swap_leans or ev.swap_flips):
        s = ev.swap
        goes = f"the class the swapped-in {s['attribute']} goes with in training"
        to = f"{s['to_classes'][0]}, {goes}" if len(s["to_classes"]) == 1 else goes
        where = f" for {describe_group(s['features'])}" if s["features"] else ""
        if ev.swap_follows or ev.swap_leans:
            parts.append(
                f"Swapping in the {region} of a sample with another {s['attribute']} sends "
                f"{pct(s['follow_rate'])} of predictions{where} to {to} ({level:.0%} CI "
                f"{pct(s['follow_ci'][0])}–{pct(s['follow_ci'][1])}, n={s['n_follow']})")
        else:
            parts.append(
                f"Swapping in the {region} of a sample with another {s['attribute']} changes "
                f"{pct(s['flip_rate'])} of predictions{where} ({level:.0%} CI "
                f"{pct(s['flip_ci'][0])}–{pct(s['flip_ci'][1])}, n={s['n']})")
    if ev.mask is not None and ev.masking_flips:
        m = ev.mask
        where = f" for {describe_group(m['features'])}" if m["features"] else ""
        parts.append(f"{'hiding' if parts else 'Hiding'} the {region} changes "
                     f"{pct(m['rate'])} of predictions{where} ({level:.0%} CI "
                     f"{pct(m['ci'][0])}–{pct(m['ci'][1])}, n={m['n']})")
    return "; ".join(parts)


def _above_chance(df: pd.DataFrame, rows: np.ndarray, n_classes: int, level: float) -> bool:
    correct = df.loc[rows, "correct"].astype(bool)
    lo, _ = wilson_ci(int(correct.sum()), int(len(correct)), level)
    return bool(np.isfinite(lo) and lo > 1.0 / max(n_classes, 2))


def _ignored_cell(df: pd.DataFrame, region: str, feats: dict[str, str], rows: np.ndarray,
                  method: str | None, *, swap: bool, level: float, n_boot: int, seed: int
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {"group": group_name(feats) if feats else "all",
                           "features": dict(feats), "n": int(rows.sum())}
    if flip_column(region) in df.columns:
        k, n, ci = flip_stats(df, rows, region, level)
        out["masking"] = {"rate": json_float(k / n) if n else None, "ci": ci, "n": n}
    if swap:
        r = swap_rates(df[rows], OBJECT, level)
        out["swap"] = {"follow_rate": r["follow_rate"], "follow_ci": r["follow_ci"],
                       "n": r["n_follow"]}
    if method is not None and mass_column(method, region) in df.columns:
        lift, lo, hi = bootstrap_ratio_ci(df.loc[rows, mass_column(method, region)].to_numpy(float),
                                          df.loc[rows, area_column(region)].to_numpy(float),
                                          n_boot=n_boot, level=level, seed=seed)
        out["lift"] = {"lift": json_float(lift), "ci": [json_float(lo), json_float(hi)]}
    return out


def _ignored_signals(cell: dict[str, Any]) -> tuple[list[str], bool]:
    """``(signals, read)``: which tests say the region is ignored, and whether a causal test
    shows it is read (then nothing is flagged). The swap, when it ran, outranks masking: a
    blurred object can keep the colours a model reads it by."""
    sig = []
    m, s, li = cell.get("masking"), cell.get("swap"), cell.get("lift")
    causal = s if s and s["n"] else None
    if causal is not None:
        lo, hi = causal["follow_ci"]
    elif m and m["n"]:
        lo, hi = m["ci"]
    else:
        lo = hi = None
    if lo is not None and lo > RELIANCE_THRESHOLD:
        return [], True
    if hi is not None and hi < IGNORED_FLIP:
        sig.append("swap" if causal is not None else "masking")
        if causal is not None and m and m["n"] and m["ci"][1] is not None \
                and m["ci"][1] < IGNORED_FLIP:
            sig.append("masking")
    if li and li["ci"][1] is not None and li["ci"][1] <= 1.0:
        sig.append("lift")
    return sig, False


def _ignored_title(region: str, cell: dict[str, Any], method: str | None, level: float) -> str:
    where = describe_group(cell["features"]) if cell["features"] else "all samples"
    parts = []
    s, m, li = cell.get("swap"), cell.get("masking"), cell.get("lift")
    if s and s["n"]:
        parts.append(f"pasting in another class's {region} moves only {pct(s['follow_rate'])} "
                     f"of predictions to that class ({level:.0%} CI {pct(s['follow_ci'][0])}–"
                     f"{pct(s['follow_ci'][1])}, n={s['n']})")
    if m and m["n"]:
        parts.append(f"hiding it changes {pct(m['rate'])} ({level:.0%} CI {pct(m['ci'][0])}–"
                     f"{pct(m['ci'][1])}, n={m['n']})")
    if li and li["lift"] is not None and method is not None:
        parts.append(f"its {method_label(method)} lift is {li['lift']:.2f} ({level:.0%} CI "
                     f"{li['ci'][0]:.2f}–{li['ci'][1]:.2f})")
    return (f"The model ignores the {region} for {where}: " + "; ".join(parts) + ".")


def ignored_region_findings(df: pd.DataFrame, expected: Sequence[str], attributes: Sequence[str],
                            *, method: str | None, min_group_size: int = 10,
                            n_classes: int | None = None, level: float = 0.95,
                            n_boot: int = 1000, seed: int = 0) -> list[Finding]:
    """``ignored_region`` findings: at most one per expected region (module docstring).

    Args:
        df: per-sample table of ONE model (``label``, ``correct``, attribute columns, and
            any of ``flip_<region>``, ``swap_pred_object``/``swap_to_object``,
            ``mass_<method>_<region>``/``area_<region>``).
        expected: the expected regions.
        attributes: attribute columns of the class x value cells.
        method: the primary saliency method (None: attention is not used).
        min_group_size: smallest cell tested.
        n_classes: number of classes (chance = 1 / n_classes); default: classes in ``df``.
        level, n_boot, seed: interval settings.
    """
    k = n_classes or int(df["label"].astype(str).nunique())
    swap = swap_pred_column(OBJECT) in df.columns and len(expected) == 1
    out = []
    for region in expected:
        if area_column(region) not in df.columns:
            continue
        best = None
        for feats, rows in cells(df, attributes, min_group_size):
            if not _above_chance(df, rows, k, level):
                continue
            cell = _ignored_cell(df, region, feats, rows, method, swap=swap, level=level,
                                 n_boot=n_boot, seed=seed)
            sig, _ = _ignored_signals(cell)
            if not sig:
                continue
            high = any(x != "lift" for x in sig)
            key = (high, len(sig), cell["n"])
            if best is None or key > best[0]:
                best = (key, cell, sig, high)
        if best is None:
            continue
        _, cell, sig, high = best
        out.append(Finding("ignored_region", "high" if high else "medium",
                           _ignored_title(region, cell, method, level),
                           {"region": region, "method": method, **cell, "signals": sig,
                            "ignored_flip": IGNORED_FLIP}))
    return out

"""The ``ignored_region`` finding: an expected region the model does not read.

:func:`ignored_region_findings` raises ``ignored_region`` for an expected region the model
does not use, in a cell (see :func:`auditor.metrics.shortcuts.cells`) where it is above
chance:

* ``high`` — pasting in another class's expected region sends fewer than
  :data:`IGNORED_FLIP` of the predictions to that class (upper Wilson bound); without the
  swap, masking the region changes fewer than :data:`IGNORED_FLIP` of them;
* ``medium`` — only the attention says so: the lift's whole interval lies at or below 1.

A cell where that causal test moves more than the reliance threshold of the predictions
(lower bound) reads the region and is never flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.common.thresholds import IGNORED_FLIP, RELIANCE_THRESHOLD
from auditor.metrics.base import Finding, describe_group, method_label, pct
from auditor.metrics.columns import area_column, flip_column, mass_column
from auditor.metrics.groups import group_name
from auditor.metrics.reliance import swap_pred_column, swap_rates
from auditor.metrics.shortcuts import OBJECT, cells, flip_stats
from auditor.metrics.stats import bootstrap_ratio_ci, json_float, wilson_ci

__all__ = ["ignored_region_findings"]


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

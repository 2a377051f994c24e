"""Empty saliency maps: a method that gives an all-zero map says nothing about where the
model looks.

Grad-CAM keeps only the positive evidence (a ReLU of the weighted activations), so a model
whose gradients at the target layer all point against its prediction (a collapsed model, a
head of negative weights, a saturated layer) gets a map of zeros. Its region masses are then
0 everywhere, which the attention statistics would read as "looks nowhere": an expected
region "ignored", a sanity check "passed" with nothing compared. This module counts them
from the per-sample table: a map is empty when its masses over every region (background
included: the regions cover the image) are all 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from auditor.metrics.base import Finding, method_label, pct
from auditor.metrics.columns import mass_column
from auditor.metrics.stats import json_float, wilson_ci

__all__ = ["EMPTY_HIGH", "EMPTY_MEDIUM_LOWER", "empty_map_counts", "empty_map_findings",
           "mostly_empty"]

#: A method whose maps are empty for at least this share of the images gets a high finding.
EMPTY_HIGH = 0.5
#: ... a medium one when the lower Wilson bound of that share reaches this.
EMPTY_MEDIUM_LOWER = 0.05


def empty_map_counts(df: pd.DataFrame, method: str, regions: Sequence[str]) -> tuple[int, int]:
    """``(empty, n)``: maps of ``method`` whose masses are 0 in every region, of ``n`` maps;
    ``(0, 0)`` when the table lacks one of the method's mass columns.

    Args:
        df: per-sample table with ``mass_<method>_<region>`` for every region of ``regions``
            (``background`` included).
    """
    columns = [mass_column(method, r) for r in regions]
    if any(c not in df.columns for c in columns):
        return 0, 0
    values = df[columns].to_numpy(dtype=float)
    values = values[np.isfinite(values).all(axis=1)]
    return int((values.sum(axis=1) == 0).sum()), int(len(values))


def empty_map_findings(df: pd.DataFrame, methods: Sequence[str], regions: Sequence[str], *,
                       level: float = 0.95) -> list[Finding]:
    """``unreliable_saliency`` for each method with many empty maps: ``high`` when at least
    :data:`EMPTY_HIGH` of them are empty, ``medium`` when the lower Wilson bound of the share
    reaches :data:`EMPTY_MEDIUM_LOWER`."""
    out = []
    for method in methods:
        k, n = empty_map_counts(df, method, regions)
        if not k:
            continue
        lo, hi = wilson_ci(k, n, level)
        severity = ("high" if k / n >= EMPTY_HIGH else
                    "medium" if lo >= EMPTY_MEDIUM_LOWER else None)
        if severity is None:
            continue
        out.append(Finding(
            "unreliable_saliency", severity,
            f"{method_label(method)} gives an empty (all-zero) map for {k} of {n} images "
            f"({pct(k / n)}, {level:.0%} CI {pct(lo)}–{pct(hi)}): for those images it cannot "
            "show where the model looks, and the attention numbers count them as looking "
            "nowhere. Try another method (layercam, scorecam) or an earlier target layer.",
            {"method": method, "test": "empty_maps", "empty_maps": k, "n": n,
             "rate": json_float(k / n), "ci": [json_float(lo), json_float(hi)]}))
    return out


def mostly_empty(df: pd.DataFrame, method: str, regions: Sequence[str]) -> bool:
    """Whether at least :data:`EMPTY_HIGH` of ``method``'s maps are empty (its attention
    statistics then describe the empty maps, not the model)."""
    k, n = empty_map_counts(df, method, regions)
    return bool(n) and k / n >= EMPTY_HIGH

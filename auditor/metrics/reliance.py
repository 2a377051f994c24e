"""Reliance summaries: flip rates and confidence drops per region, class and subgroup.

The audit pass (:mod:`auditor.pipeline.reliance_pass`) occludes each region and stores per
sample ``flip_<region>`` (the predicted class changed) and ``conf_drop_<region>`` (softmax
probability of the original prediction before minus after). :func:`reliance_summary`
aggregates those columns with Wilson intervals (flip rates) and bootstrap intervals (drops).
Pure pandas: no model is run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from auditor.metrics.columns import area_column, conf_drop_column, flip_column
from auditor.metrics.groups import attribute_values
from auditor.metrics.stats import bootstrap_mean_ci, json_float, wilson_ci

__all__ = ["reliance_summary"]


def _stats(sub: pd.DataFrame, region: str, level: float, n_boot: int, seed: int
           ) -> dict[str, Any]:
    fcol, dcol, acol = flip_column(region), conf_drop_column(region), area_column(region)
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
        if flip_column(region) not in df.columns:
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

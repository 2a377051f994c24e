"""Aggregate per-sample attention masses into the summary.json attention blocks.

Input is the per-sample table of ONE model with columns ``mass_<method>_<region>`` and
``area_<region>`` (and optionally ``point_<method>_<region>``, a bool pointing-game hit).
For every cell (all samples, a class, an attribute value, a class x attribute value, correct /
incorrect answers) and every method and region it reports

* ``mass``  — mean attention mass over the cell's samples, ``ci`` its bootstrap interval;
* ``area``  — mean region area;
* ``lift``  — mean(mass) / mean(area), ``lift_ci`` its bootstrap interval (samples resampled
  jointly for mass and area; one resample drawn per cell and shared by all columns);
* ``n``     — samples in the cell; ``pointing`` (+ ``pointing_ci``, Wilson) when a pointing
  column exists.

Rows with a NaN in any mass/area column used are left out of that cell (``n`` counts them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics.columns import area_column, mass_column, point_column, rank_column
from auditor.metrics.groups import attribute_values
from auditor.metrics.stats import bootstrap_mean_ci, bootstrap_means, json_float, wilson_ci

__all__ = ["attention_summary", "cell_attention", "mass_column", "area_column", "point_column"]


def _ci(lo: float, hi: float) -> list[float | None]:
    return [json_float(lo), json_float(hi)]


def _quantiles(x: np.ndarray, level: float) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(x, [a, 1.0 - a])
    return float(lo), float(hi)


def cell_attention(sub: pd.DataFrame, methods: Sequence[str], regions: Sequence[str], *,
                   n_boot: int = 1000, level: float = 0.95, seed: int = 0
                   ) -> dict[str, dict[str, dict[str, Any]]]:
    """Attention statistics of one cell (a subset of rows) for every method and region.

    Args:
        sub: rows of the per-sample table.
        methods, regions: names; their ``mass_*`` / ``area_*`` columns must exist.
        n_boot, level, seed: bootstrap settings (one seeded resample shared by all columns).

    Returns:
        ``{METHOD: {REGION: {mass, area, lift, ci, lift_ci, n[, pointing, pointing_ci]
        [, rank_accuracy, rank_accuracy_ci, rank_accuracy_n]}}}`` (pointing game and
        relevance rank accuracy when the table has ``point_*`` / ``rank_*`` columns).
    """
    mcols = [mass_column(m, r) for m in methods for r in regions]
    acols = [area_column(r) for r in regions]
    missing = [c for c in mcols + acols if c not in sub.columns]
    if missing:
        raise ValueError(f"sample table lacks column(s): {', '.join(missing[:4])}")
    values = sub[mcols + acols].to_numpy(dtype=float)
    values = values[np.isfinite(values).all(axis=1)]
    n = len(values)
    nm, nr = len(mcols), len(regions)
    means = values.mean(axis=0) if n else np.full(nm + nr, np.nan)
    boot = bootstrap_means(values, n_boot=n_boot, seed=seed) if n >= 2 else None
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for i, method in enumerate(methods):
        out[method] = {}
        for j, region in enumerate(regions):
            col, acol = i * nr + j, nm + j
            mass, area = means[col], means[acol]
            lift = mass / area if area > 0 else float("nan")
            ci = lift_ci = (float("nan"), float("nan"))
            if boot is not None:
                ci = _quantiles(boot[:, col], level)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratios = np.where(boot[:, acol] > 0, boot[:, col] / boot[:, acol], np.nan)
                lift_ci = _quantiles(ratios, level)
            entry: dict[str, Any] = {"mass": json_float(mass), "area": json_float(area),
                                     "lift": json_float(lift), "ci": _ci(*ci),
                                     "lift_ci": _ci(*lift_ci), "n": int(n)}
            pcol = point_column(method, region)
            if pcol in sub.columns:
                hits = sub[pcol].dropna().astype(bool)
                k, m = int(hits.sum()), int(len(hits))
                entry["pointing"] = json_float(k / m) if m else None
                entry["pointing_ci"] = _ci(*wilson_ci(k, m, level))
            rcol = rank_column(method, region)
            if rcol in sub.columns:
                ranks = sub[rcol].to_numpy(dtype=float)
                ranks = ranks[np.isfinite(ranks)]
                mean, lo, hi = bootstrap_mean_ci(ranks, n_boot=n_boot, level=level, seed=seed)
                entry["rank_accuracy"] = json_float(mean) if len(ranks) else None
                entry["rank_accuracy_ci"] = _ci(lo, hi)
                entry["rank_accuracy_n"] = int(len(ranks))
            out[method][region] = entry
    return out


def _by(df: pd.DataFrame, keys: pd.Series, methods, regions, **kw) -> dict[str, dict[str, Any]]:
    """``{METHOD: {KEY: {REGION: entry}}}`` for each value of ``keys`` (sorted)."""
    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for key in sorted(keys.unique()):
        cell = cell_attention(df[keys.to_numpy() == key], methods, regions, **kw)
        for m in methods:
            out[m][str(key)] = cell[m]
    return out


def attention_summary(df: pd.DataFrame, methods: Sequence[str], regions: Sequence[str], *,
                      attributes: Sequence[str] = (), n_boot: int = 1000, level: float = 0.95,
                      seed: int = 0) -> dict[str, Any]:
    """All attention blocks of one model.

    Args:
        df: per-sample table of ONE model (``label`` class names, ``correct`` bool,
            attribute columns, ``mass_<method>_<region>``, ``area_<region>``).
        methods: saliency method names, in the engine's order.
        regions: region names including ``background``.
        attributes: attribute columns for the by-group blocks.
        n_boot, level, seed: bootstrap settings.

    Returns:
        A dict with the blocks

        * ``attention``: ``{METHOD: {REGION: entry}}``
        * ``attention_by_class``: ``{METHOD: {CLASS: {REGION: entry}}}``
        * ``attention_by_group``: ``{METHOD: {ATTR: {VALUE: {REGION: entry}}}}``
        * ``attention_by_class_group``: ``{METHOD: {CLASS: {ATTR: {VALUE: {REGION: entry}}}}}``
        * ``attention_by_correctness``: ``{METHOD: {"correct"|"incorrect": {REGION: entry}}}``

        where ``entry`` = ``{mass, area, lift, ci, lift_ci, n[, pointing, pointing_ci]}``.
    """
    methods, regions = list(methods), list(regions)
    kw = {"n_boot": n_boot, "level": level, "seed": seed}
    labels = df["label"].astype(str)
    out: dict[str, Any] = {
        "attention": cell_attention(df, methods, regions, **kw),
        "attention_by_class": _by(df, labels, methods, regions, **kw),
    }
    by_group: dict[str, dict[str, Any]] = {m: {} for m in methods}
    by_class_group: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for attr in attributes:
        values = attribute_values(df, attr)
        block = _by(df, values, methods, regions, **kw)
        for m in methods:
            by_group[m][attr] = block[m]
        for cls in sorted(labels.unique()):
            rows = (labels == cls).to_numpy()
            block = _by(df[rows], values[rows], methods, regions, **kw)
            for m in methods:
                by_class_group[m].setdefault(str(cls), {})[attr] = block[m]
    out["attention_by_group"] = by_group
    out["attention_by_class_group"] = by_class_group
    if "correct" in df.columns:
        correct = df["correct"].astype(bool).map({True: "correct", False: "incorrect"})
        out["attention_by_correctness"] = _by(df, correct, methods, regions, **kw)
    return out

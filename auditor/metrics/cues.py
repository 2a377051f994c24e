"""Summary blocks of the cues nobody annotated: average maps, hotspots and concepts.

Pure functions over the audit arrays and the cues pass's measurements
(:mod:`auditor.pipeline.cues_pass`); the per-sample table gains the hotspot columns
(``mass_<method>_hotspot_<k>``, ``area_hotspot_<k>``, ``flip_hotspot_<k>``,
``conf_drop_hotspot_<k>``) so hotspots are summarised like annotated regions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics.attention import cell_attention
from auditor.metrics.columns import (
    area_column,
    conf_drop_column,
    flip_column,
    mass_column,
    paste_follow_column,
    paste_placebo_column,
)
from auditor.metrics.concepts import concept_stats
from auditor.metrics.groups import class_cells
from auditor.metrics.hotspots import Hotspot, downsample, hotspot_mass
from auditor.metrics.reliance import reliance_summary
from auditor.metrics.stats import bootstrap_mean_ci, json_float, wilson_ci

__all__ = ["average_maps_block", "concepts_block", "hotspot_columns", "hotspots_block"]

#: Patch examples kept per concept.
TOP_PATCHES = 6


def average_maps_block(means: dict[str, tuple[np.ndarray, int]], method: str, *,
                       side: int = 16) -> dict[str, Any]:
    """The ``average_maps`` block: each cell's mean map, block-averaged to <= ``side`` square.

    Args:
        means: :func:`~auditor.metrics.hotspots.mean_maps` result.
        method: the saliency method of the maps.
    """
    shape = next(iter(means.values()))[0].shape if means else (0, 0)
    return {"method": method, "map_size": list(shape),
            "cells": [{"cell": name, "n": n, "map": downsample(m, side)}
                      for name, (m, n) in means.items()]}


def hotspot_columns(maps: np.ndarray, cover: np.ndarray | None, hotspots: Sequence[Hotspot],
                    methods: Sequence[str], flip: np.ndarray, conf_drop: np.ndarray,
                    follow: np.ndarray | None = None, placebo: np.ndarray | None = None
                    ) -> pd.DataFrame:
    """Per-sample hotspot columns, row-aligned with ``maps``.

    Args:
        maps: ``[N, M, h, w]`` low-resolution maps of the M ``methods``.
        cover: ``[N, h, w]`` annotated share per low-resolution cell, or None.
        hotspots: the hotspots.
        flip, conf_drop: ``[N, K]`` the reliance test per hotspot (K = 0: not tested; NaN:
            that image was not tested).
        follow, placebo: ``[N, K]`` the paste test per hotspot (see
            :func:`auditor.metrics.columns.paste_follow_column`), or None.
    """
    cols: dict[str, np.ndarray] = {}
    for k, h in enumerate(hotspots):
        for m, method in enumerate(methods):
            mass, area = hotspot_mass(maps[:, m], cover, h.mask)
            cols[mass_column(method, h.name)] = mass
        cols[area_column(h.name)] = area
        if flip.shape[1] > k:  # float: 1.0 flipped, 0.0 not, NaN not tested
            cols[flip_column(h.name)] = flip[:, k].astype(np.float64)
            cols[conf_drop_column(h.name)] = conf_drop[:, k].astype(np.float64)
        if follow is not None and placebo is not None and follow.shape[1] > k:
            cols[paste_follow_column(h.name)] = follow[:, k].astype(np.float64)
            cols[paste_placebo_column(h.name)] = placebo[:, k].astype(np.float64)
    return pd.DataFrame(cols, index=range(len(maps)))


def hotspots_block(df: pd.DataFrame, hotspots: Sequence[Hotspot], methods: Sequence[str],
                   attributes: Sequence[str], *, n_boot: int = 1000, level: float = 0.95,
                   seed: int = 0, min_group_size: int = 10) -> list[dict[str, Any]]:
    """The ``hotspots`` block: location, attention (overall, per class, per group) and reliance.

    Args:
        df: per-sample table of ONE model with the :func:`hotspot_columns`.
        hotspots: the hotspots.
        methods: saliency methods (all get mass / lift).
        attributes: attribute columns.
    """
    if not hotspots:
        return []
    names = [h.name for h in hotspots]
    kw = {"n_boot": n_boot, "level": level, "seed": seed}
    overall = cell_attention(df, methods, names, **kw)
    labels = df["label"].astype(str)
    by_class = {c: cell_attention(df[labels == c], methods, names, **kw)
                for c in sorted(labels.unique())}
    by_group: dict[str, dict[str, Any]] = {}
    for attr in attributes:
        values = df[attr].astype(str)
        by_group[attr] = {v: cell_attention(df[values == v], methods, names, **kw)
                          for v in sorted(values.unique())}
    correct = df["correct"].astype(bool)
    by_correct = {w: cell_attention(df[correct == flag], methods, names, **kw)
                  for w, flag in (("right", True), ("wrong", False)) if (correct == flag).any()}
    reliance = reliance_summary(df, names, attributes, **kw)
    out = []
    for h in hotspots:
        entry = h.to_dict()
        entry["attention"] = {m: overall[m][h.name] for m in methods}
        entry["attention_by_class"] = {c: {m: v[m][h.name] for m in methods}
                                       for c, v in by_class.items()}
        entry["attention_by_group"] = {a: {v: {m: cell[m][h.name] for m in methods}
                                           for v, cell in vals.items()}
                                       for a, vals in by_group.items()}
        entry["attention_by_correctness"] = {w: {m: v[m][h.name] for m in methods}
                                             for w, v in by_correct.items()}
        entry["reliance"] = reliance.get(h.name)
        entry["paste"] = paste_summary(df, h.name, min_group_size, level)
        entry["examples"] = _top_ids(df, mass_column(methods[0], h.name))
        out.append(entry)
    return out


def paste_summary(df: pd.DataFrame, name: str, min_group_size: int, level: float
                ) -> dict[str, Any] | None:
    """The paste test of hotspot ``name`` in the cell (all samples, each class with at least
    ``min_group_size`` tested images) whose follow rate has the highest lower bound, with
    that cell's placebo rate (see :func:`auditor.metrics.columns.paste_follow_column`).

    Returns:
        ``{cell, follow_rate, follow_ci, n_follow, placebo_flip_rate, placebo_ci, n_placebo}``
        (JSON-ready) or None (no paste columns, or no cell large enough).
    """
    fcol, pcol = paste_follow_column(name), paste_placebo_column(name)
    if fcol not in df.columns or pcol not in df.columns:
        return None
    follow, placebo = df[fcol].to_numpy(float), df[pcol].to_numpy(float)
    best = None
    for cell, rows in class_cells(df["label"].to_numpy()).items():
        f, p = follow[rows & np.isfinite(follow)], placebo[rows & np.isfinite(placebo)]
        if len(f) < min_group_size:
            continue
        lo, hi = (json_float(v) for v in wilson_ci(int(f.sum()), len(f), level))
        placebo_ci = ([json_float(v) for v in wilson_ci(int(p.sum()), len(p), level)]
                      if len(p) else [None, None])
        cand = {"cell": cell, "follow_rate": json_float(f.mean()), "follow_ci": [lo, hi],
                "n_follow": len(f),
                "placebo_flip_rate": json_float(p.mean()) if len(p) else None,
                "placebo_ci": placebo_ci, "n_placebo": len(p)}
        if best is None or lo > best["follow_ci"][0]:
            best = cand
    return best


def _top_ids(df: pd.DataFrame, col: str, k: int = TOP_PATCHES) -> list[str]:
    values = df[col].to_numpy(float)
    order = np.lexsort((df["id"].astype(str).to_numpy(), -np.nan_to_num(values, nan=-1)))
    return [str(df["id"].iloc[i]) for i in order[:k]]


def _importance(pred: np.ndarray, prob_drop: np.ndarray, logit_drop: np.ndarray,
                flips: np.ndarray, level: float, n_boot: int, seed: int
                ) -> dict[str, dict[str, Any]]:
    out = {}
    for cls in sorted(set(pred)):
        rows = pred == cls
        n, k = int(rows.sum()), int(flips[rows].sum())
        mean, lo, hi = bootstrap_mean_ci(prob_drop[rows], n_boot=n_boot, level=level,
                                         seed=seed)
        out[str(cls)] = {"flip_rate": json_float(k / n) if n else None,
                         "ci": [json_float(v) for v in wilson_ci(k, n, level)], "n": n,
                         "prob_drop": json_float(mean),
                         "prob_drop_ci": [json_float(lo), json_float(hi)],
                         "logit_drop": json_float(float(logit_drop[rows].mean()))
                         if n else None}
    return out


def concepts_block(df: pd.DataFrame, *, presence: np.ndarray, where: np.ndarray,
                   grid: Sequence[int], imp_rows: np.ndarray, prob_drop: np.ndarray,
                   logit_drop: np.ndarray, imp_flip: np.ndarray, attributes: Sequence[str],
                   n_fit: int, min_group_size: int = 10, level: float = 0.95,
                   n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The ``concepts`` block.

    Args:
        df: per-sample table of ONE model, row-aligned with ``presence``.
        presence: ``[N, n]`` (NaN: image not in the cues pass); where: ``[N, n, 2]``
            strongest position on ``grid``.
        imp_rows: ``[S]`` rows of the importance images; prob_drop, logit_drop, imp_flip:
            ``[S, n]`` (see :class:`~auditor.pipeline.cues_pass.CueTables`).
        attributes: attribute columns.
        n_fit: images the concepts were fit on.

    Returns:
        ``{n, grid, fit_images, importance_images, items: [{concept, rate, ci, n, by_class,
        by_group, tests, importance {CLASS: {flip_rate, ci, n, prob_drop, prob_drop_ci,
        logit_drop}}, top [{id, presence, row, col}]}]}``.
    """
    n_con = presence.shape[1] if presence.ndim == 2 else 0
    block: dict[str, Any] = {"n": n_con, "grid": [int(g) for g in grid],
                             "fit_images": int(n_fit), "importance_images": int(len(imp_rows)),
                             "items": []}
    if n_con == 0 or len(df) == 0:
        return block
    pred = df["pred"].astype(str).to_numpy()[imp_rows]
    tested = np.isfinite(presence).all(axis=1)  # the images the cues pass ran on
    df, presence, where = df[tested], presence[tested], where[tested]
    block["n_images"] = int(tested.sum())
    items = concept_stats(presence, df, attributes, min_group_size=min_group_size, level=level)
    ids = df["id"].astype(str).to_numpy()
    for k, item in enumerate(items):
        item["importance"] = _importance(pred, prob_drop[:, k], logit_drop[:, k],
                                         imp_flip[:, k], level, n_boot, seed)
        order = np.lexsort((ids, -presence[:, k]))[:TOP_PATCHES]
        item["top"] = [{"id": ids[i], "presence": json_float(float(presence[i, k])),
                        "row": int(where[i, k, 0]), "col": int(where[i, k, 1])} for i in order]
    block["items"] = items
    return block

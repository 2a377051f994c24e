"""Bootstrap intervals for the headline metrics that have no closed-form interval.

Balanced accuracy, the accuracy gap (best minus worst (class x attribute value) cell) and the
equalized-odds difference (definition in :mod:`auditor.metrics.groups`) are functions of the
whole sample, so their intervals come from resampling samples: each bootstrap
replicate is a vector of multinomial counts ``W [B, N]``, and every per-class or per-cell count
is one matrix product ``W @ onehot``, so 1000 replicates cost a few matrix products.

The gap and the equalized-odds difference are spreads (max minus min over groups), which
resampling noise can only widen: when the true spread is near zero the percentile interval
sits above the point estimate. Read such an interval as "how large the spread could be", not
as centred on the estimate. The gap's interval also covers Newcombe's score interval of the
observed best minus worst cell, which a bootstrap cannot reach when a cell is at 0% or 100%;
the equalized-odds difference's covers the same interval of the rate pair that makes it, and
balanced accuracy's the MOVER interval of the mean recall, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from auditor.metrics.groups import attribute_values, odds_groups
from auditor.metrics.stats import bootstrap_weights, newcombe_diff_ci, wilson_ci

__all__ = ["headline_intervals"]

def _cover(boot: list[float | None], score: tuple[float, float] | None
           ) -> list[float | None]:
    """``boot`` widened to cover ``score`` (clipped to [0, 1]). A resample cannot move a cell
    at 0% or 100% (0/150 stays 0 in every replicate), so alone the bootstrap said "100%
    (100–100%)" for a 0% against a 100% cell; a score interval says what the counts allow."""
    if None in boot or score is None:
        return boot
    lo, hi = score
    return [float(min(boot[0], max(lo, 0.0))), float(max(boot[1], min(hi, 1.0)))]


def _widest_pair(k: np.ndarray, n: np.ndarray, spans: Sequence[slice],
                 level: float) -> tuple[float, float] | None:
    """Newcombe's interval of the highest minus the lowest rate ``k / n`` within the span
    whose spread is largest (columns with ``n == 0`` left out); None with no span of two."""
    best: tuple[float, int, int] | None = None
    for span in spans:
        cols = [c for c in range(span.start, span.stop) if n[c] > 0]
        if len(cols) < 2:
            continue
        rates = {c: k[c] / n[c] for c in cols}
        hi_c, lo_c = max(cols, key=rates.get), min(cols, key=rates.get)
        if best is None or rates[hi_c] - rates[lo_c] > best[0]:
            best = (rates[hi_c] - rates[lo_c], hi_c, lo_c)
    if best is None:
        return None
    _, a, b = best
    return newcombe_diff_ci(int(round(k[a])), int(n[a]), int(round(k[b])), int(n[b]), level)


def _mover_mean(onehot_y: np.ndarray, correct: np.ndarray, level: float) -> tuple[float, float]:
    """The MOVER interval of the mean of the per-class recalls (Zou & Donner 2008: the
    recalls' Wilson intervals combined as Newcombe combines two), for balanced accuracy.

    Args:
        onehot_y: ``[N, C]`` one-hot class membership.
        correct: ``[N]`` 1.0 for a right answer.
        level: interval level.
    """
    n = onehot_y.sum(axis=0)
    k = onehot_y.T @ correct
    recall = k / n
    bounds = np.array([wilson_ci(int(round(a)), int(b), level) for a, b in zip(k, n, strict=True)])
    mean, c = float(recall.mean()), len(n)
    return (mean - float(np.sqrt(((recall - bounds[:, 0]) ** 2).sum())) / c,
            mean + float(np.sqrt(((bounds[:, 1] - recall) ** 2).sum())) / c)


def _onehot(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(codes), k))
    out[np.arange(len(codes)), codes] = 1.0
    return out


def _odds_parts(df: pd.DataFrame, attributes: Sequence[str], min_group_size: int
                ) -> tuple[np.ndarray, np.ndarray, list[slice]]:
    """Indicator matrices of the equalized-odds rates: ``num, den [N, K]`` and one column
    slice per (attribute, class, TPR or FPR), whose between-group spread is taken.

    Groups as for the point estimate (:func:`auditor.metrics.groups.odds_groups`).
    """
    labels = df["label"].astype(str).to_numpy()
    preds = df["pred"].astype(str).to_numpy()
    nums, dens, spans, at = [], [], [], 0
    for attr in attributes:
        values = attribute_values(df, attr)
        rows = odds_groups(values, min_group_size).to_numpy()
        uniq, codes = np.unique(values.to_numpy(), return_inverse=True)
        groups = _onehot(codes, len(uniq)) * rows[:, None]
        groups = groups[:, groups.any(axis=0)]
        for cls in np.unique(labels):
            yt, yp = labels == cls, preds == cls
            for num, den in ((yt & yp, yt), (~yt & yp, ~yt)):  # TPR, FPR
                nums.append(groups * num[:, None])
                dens.append(groups * den[:, None])
                spans.append(slice(at, at + groups.shape[1]))
                at += groups.shape[1]
    if not nums:
        return np.zeros((len(df), 0)), np.zeros((len(df), 0)), []
    return np.concatenate(nums, axis=1), np.concatenate(dens, axis=1), spans


def _max_spread(rates: np.ndarray, spans: list[slice]) -> np.ndarray:
    """``[B, K]`` rates -> ``[B]`` largest between-group spread over the spans (NaN when no
    span has two defined rates)."""
    out = np.full(rates.shape[0], np.nan)
    for span in spans:
        r = rates[:, span]
        ok = np.isfinite(r).sum(axis=1) >= 2
        if not ok.any():
            continue
        spread = np.full(rates.shape[0], np.nan)
        spread[ok] = np.nanmax(r[ok], axis=1) - np.nanmin(r[ok], axis=1)
        out = np.fmax(out, spread)
    return out


def headline_intervals(df: pd.DataFrame, attributes: Sequence[str], *, n_boot: int = 1000,
                       level: float = 0.95, seed: int = 0, min_group_size: int = 10
                       ) -> dict[str, list[float | None]]:
    """Percentile bootstrap intervals of balanced accuracy, accuracy gap and equalized odds.

    Args:
        df: per-sample table of ONE model with ``label`` and ``correct`` [N] and the
            attribute columns; with ``pred`` [N] (class names) the equalized-odds difference
            gets an interval too.
        attributes: attribute columns; cells are (label x value) per attribute, as in
            :func:`auditor.metrics.groups.group_performance` (classes alone when none).
        n_boot: bootstrap replicates.
        level: interval level.
        seed: seeds the resampling.
        min_group_size: cells smaller than this (in the full sample) do not compete for
            best or worst.

    Returns:
        ``{"balanced_accuracy": [lo, hi], "accuracy_gap": [lo, hi],
        "equalized_odds_difference": [lo, hi]}`` (the last only with ``pred``);
        ``[None, None]`` when fewer than 2 samples, fewer than 2 eligible cells, or no
        attribute.
    """
    n = len(df)
    none: list[float | None] = [None, None]
    odds = "pred" in df.columns
    if n < 2:
        return {"balanced_accuracy": none, "accuracy_gap": none,
                **({"equalized_odds_difference": none} if odds else {})}
    correct = df["correct"].astype(bool).to_numpy().astype(float)
    labels = df["label"].astype(str).to_numpy()
    _, y = np.unique(labels, return_inverse=True)
    onehot_y = _onehot(y, int(y.max()) + 1)
    cell_keys = ([labels + "|" + df[a].astype(str).to_numpy() for a in attributes]
                 or [labels])
    cell_hots = []
    for keys in cell_keys:
        _, codes, counts = np.unique(keys, return_inverse=True, return_counts=True)
        hot = _onehot(codes, len(counts))[:, counts >= min_group_size]
        cell_hots.append(hot)
    cells = np.concatenate(cell_hots, axis=1)
    num, den, spans = _odds_parts(df, attributes, min_group_size) if odds else (None, None, [])
    bal, gap, eod = [], [], []
    for w in bootstrap_weights(n, n_boot, seed):
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = (w @ (onehot_y * correct[:, None])) / (w @ onehot_y)
            bal.append(np.nanmean(recall, axis=1))
            if cells.shape[1] >= 2:
                acc = (w @ (cells * correct[:, None])) / (w @ cells)
                gap.append(np.nanmax(acc, axis=1) - np.nanmin(acc, axis=1))
            if spans:
                eod.append(_max_spread((w @ num) / (w @ den), spans))
    alpha = (1 - level) / 2

    def interval(samples: list[np.ndarray]) -> list[float | None]:
        if not samples:
            return none
        v = np.concatenate(samples)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return none
        return [float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha))]

    # each interval also covers its score interval (see _cover): balanced accuracy MOVER's,
    # the gap and the equalized-odds difference Newcombe's of the pair that makes them
    out = {"balanced_accuracy": _cover(interval(bal), _mover_mean(onehot_y, correct, level)),
           "accuracy_gap": _cover(interval(gap), _widest_pair(
               cells.T @ correct, cells.sum(axis=0), [slice(0, cells.shape[1])], level))}
    if odds:
        out["equalized_odds_difference"] = _cover(
            interval(eod), _widest_pair(num.sum(axis=0), den.sum(axis=0), spans, level))
    return out

"""Bootstrap intervals for the headline metrics that have no closed-form interval.

Balanced accuracy and the accuracy gap (best minus worst (class x attribute value) cell) are
functions of the whole sample, so their intervals come from resampling samples: each bootstrap
replicate is a vector of multinomial counts ``W [B, N]``, and every per-class or per-cell count
is one matrix product ``W @ onehot``, so 1000 replicates cost a few matrix products.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["headline_intervals"]

CHUNK = 200  # replicates per matrix product (memory: CHUNK x N floats)


def _onehot(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(codes), k))
    out[np.arange(len(codes)), codes] = 1.0
    return out


def headline_intervals(df: pd.DataFrame, attributes: Sequence[str], *, n_boot: int = 1000,
                       level: float = 0.95, seed: int = 0, min_group_size: int = 10
                       ) -> dict[str, list[float | None]]:
    """Percentile bootstrap intervals of balanced accuracy and accuracy gap.

    Args:
        df: per-sample table of ONE model with ``label`` and ``correct`` [N] and the
            attribute columns.
        attributes: attribute columns; cells are (label x value) per attribute, as in
            :func:`auditor.metrics.groups.group_performance` (classes alone when none).
        n_boot: bootstrap replicates.
        level: interval level.
        seed: seeds the resampling.
        min_group_size: cells smaller than this (in the full sample) do not compete for
            best or worst.

    Returns:
        ``{"balanced_accuracy": [lo, hi], "accuracy_gap": [lo, hi]}``; ``[None, None]`` when
        fewer than 2 samples or fewer than 2 eligible cells.
    """
    n = len(df)
    none: list[float | None] = [None, None]
    if n < 2:
        return {"balanced_accuracy": none, "accuracy_gap": none}
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
    rng = np.random.default_rng(seed)
    bal, gap = [], []
    for start in range(0, n_boot, CHUNK):
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=min(CHUNK, n_boot - start)).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = (w @ (onehot_y * correct[:, None])) / (w @ onehot_y)
            bal.append(np.nanmean(recall, axis=1))
            if cells.shape[1] >= 2:
                acc = (w @ (cells * correct[:, None])) / (w @ cells)
                gap.append(np.nanmax(acc, axis=1) - np.nanmin(acc, axis=1))
    alpha = (1 - level) / 2

    def interval(samples: list[np.ndarray]) -> list[float | None]:
        if not samples:
            return none
        v = np.concatenate(samples)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return none
        return [float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha))]

    return {"balanced_accuracy": interval(bal), "accuracy_gap": interval(gap)}

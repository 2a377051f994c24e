"""Paired statistics for comparing two models on the same samples.

Thin, typed views over :mod:`auditor.metrics.stats` (the one McNemar rule, the one bootstrap
engine, the one Wilcoxon test) used by :mod:`auditor.metrics.comparison`. Every function takes
per-sample arrays that are *paired* (element ``i`` of the baseline and of the candidate belong
to the same sample) and returns plain Python floats (``nan`` where a quantity is undefined).
"""

from __future__ import annotations

import math
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from auditor.metrics.stats import (
    MCNEMAR_EXACT_BELOW,
    bootstrap_mean_ci,
    bootstrap_weights,
    mcnemar_test,
    percentile_interval,
    wilcoxon_paired,
)

__all__ = ["MCNEMAR_EXACT_BELOW", "McNemarResult", "derived_seed", "mcnemar",
           "paired_bootstrap_ci", "paired_group_delta_ci", "wilcoxon_p"]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired correctness.

    Attributes:
        b: samples the baseline got right and the candidate got wrong ("broken").
        c: samples the baseline got wrong and the candidate got right ("fixed").
        statistic: chi-square statistic (continuity-corrected) or, for the exact test,
            ``min(b, c)``.
        p: two-sided p-value.
        method: ``"exact"`` (binomial, ``b + c <`` :data:`MCNEMAR_EXACT_BELOW`), ``"chi2"``
            (with continuity correction) or ``"none"`` (no discordant pairs; ``p = 1``).
    """

    b: int
    c: int
    statistic: float
    p: float
    method: str

    @property
    def n_discordant(self) -> int:
        """Number of discordant pairs ``b + c``."""
        return self.b + self.c

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {**asdict(self), "n_discordant": self.n_discordant}


def mcnemar(baseline_correct: np.ndarray, candidate_correct: np.ndarray) -> McNemarResult:
    """McNemar's test for a change in paired accuracy (:func:`~auditor.metrics.stats.mcnemar_test`:
    exact below :data:`MCNEMAR_EXACT_BELOW` discordant pairs, chi-square from it on).

    Args:
        baseline_correct: bool [N], the baseline's per-sample correctness.
        candidate_correct: bool [N], the candidate's, same sample order.

    Returns:
        The :class:`McNemarResult`.
    """
    base = np.asarray(baseline_correct, dtype=bool)
    cand = np.asarray(candidate_correct, dtype=bool)
    b = int(np.sum(base & ~cand))
    c = int(np.sum(~base & cand))
    statistic, p = mcnemar_test(base, cand)
    n = b + c
    method = "none" if n == 0 else "exact" if n < MCNEMAR_EXACT_BELOW else "chi2"
    return McNemarResult(b=b, c=c, statistic=statistic, p=min(p, 1.0), method=method)


def wilcoxon_p(baseline: np.ndarray, candidate: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``candidate - baseline``.

    Pairs with a NaN on either side are dropped. Returns 1.0 when every difference is zero
    (no evidence of a change) and ``nan`` when no pair is left.

    Args:
        baseline: float [N] per-sample values of the baseline.
        candidate: float [N] per-sample values of the candidate, same order.
    """
    base = np.asarray(baseline, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    if not np.any(~(np.isnan(base) | np.isnan(cand))):
        return float("nan")
    return wilcoxon_paired(cand, base)


def derived_seed(seed: int, key: str) -> list[int]:
    """A seed sequence made of ``seed`` and a stable hash of ``key``.

    Each bootstrap gets its own stream, so adding a method or a group never changes the
    intervals of the others.
    """
    return [int(seed), zlib.crc32(key.encode("utf-8"))]


def paired_bootstrap_ci(
    diff: np.ndarray, *, level: float, n_boot: int, seed: int, key: str
) -> tuple[float, float, float]:
    """Mean of per-sample paired differences with a percentile bootstrap interval.

    Resampling the per-sample differences is the paired bootstrap: a sample's baseline and
    candidate values are always drawn together. The engine is
    :func:`auditor.metrics.stats.bootstrap_mean_ci`.

    Args:
        diff: float [N] per-sample ``candidate - baseline`` (NaNs are dropped).
        level: confidence level, e.g. 0.95.
        n_boot: number of bootstrap resamples.
        seed: base seed.
        key: name of the quantity (mixed into the seed, see :func:`derived_seed`).

    Returns:
        ``(mean, lo, hi)``; ``lo``/``hi`` are ``nan`` with fewer than 2 values.
    """
    return bootstrap_mean_ci(diff, n_boot=n_boot, level=level, seed=derived_seed(seed, key))


def paired_group_delta_ci(
    groups: np.ndarray, baseline_correct: np.ndarray, candidate_correct: np.ndarray, *,
    reduce: Callable[..., np.ndarray], level: float, n_boot: int, seed: int, key: str,
) -> tuple[float, float]:
    """Paired percentile-bootstrap interval of ``reduce(candidate's group accuracies) -
    reduce(baseline's)``: balanced accuracy (``np.nanmean`` over classes) or worst-group
    accuracy (``np.nanmin`` over the cells that compete). Each replicate draws the samples
    once (multinomial weights) for both models, and recomputes every group's accuracy.

    Args:
        groups: ``[N, K]`` 0/1 membership of each sample in each group.
        baseline_correct: bool ``[N]``; candidate_correct: bool ``[N]``, same order.
        reduce: the statistic over the ``K`` group accuracies, taking ``axis=1``.
        level, n_boot, seed, key: as :func:`paired_bootstrap_ci`.

    Returns:
        ``(lo, hi)``; ``(nan, nan)`` with fewer than 2 samples or no group.
    """
    hot = np.asarray(groups, dtype=float)
    n = len(hot)
    if n < 2 or hot.ndim != 2 or hot.shape[1] == 0:
        return math.nan, math.nan
    right_b = hot * np.asarray(baseline_correct, dtype=float)[:, None]
    right_c = hot * np.asarray(candidate_correct, dtype=float)[:, None]
    deltas = []
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a group drawn empty: NaN, skipped
        for w in bootstrap_weights(n, n_boot, derived_seed(seed, key)):
            size = w @ hot
            deltas.append(reduce((w @ right_c) / size, axis=1)
                          - reduce((w @ right_b) / size, axis=1))
    return percentile_interval(np.concatenate(deltas), level)

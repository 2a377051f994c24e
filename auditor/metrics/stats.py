"""Statistics with honest uncertainty: bootstrap and Wilson intervals, paired tests, corrections.

Everything is vectorised numpy or a call into ``scipy.stats`` (imported on first use, so the
light commands that only format intervals do not load it); every function is pure and
seeded, so the same inputs give the same numbers. Non-finite values (NaN) are dropped before a
statistic is computed; an empty input gives NaN, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = [
    "benjamini_hochberg", "bootstrap_mean_ci", "bootstrap_means", "bootstrap_ratio_ci",
    "bootstrap_weights", "percentile_interval", "fisher_enrichment", "fisher_greater_p",
    "holm_bonferroni", "MCNEMAR_EXACT_BELOW", "newcombe_diff_ci", "json_clean", "json_float",
    "mannwhitney_greater", "mcnemar_test", "wilcoxon_paired", "wilson_ci",
]

_CHUNK_ELEMS = 500_000  # resample indices held in memory at once (4 MB of int64)
#: McNemar's test is exact (binomial) below this many discordant pairs, chi-square with
#: continuity correction from it on: the one rule of ``audit run`` and ``audit compare``.
MCNEMAR_EXACT_BELOW = 25
#: scipy's Wilcoxon signed-rank test is exact (or a permutation test) up to this many pairs
#: and its normal approximation above; :func:`wilcoxon_paired` computes the latter itself.
WILCOXON_EXACT_MAX = 50


def json_float(x: float | None) -> float | None:
    """``float(x)``, or ``None`` when ``x`` is None, NaN or infinite (summary.json has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _sps() -> Any:
    """``scipy.stats``, imported on first use (it costs about 60 MB and half a second)."""
    from scipy import stats

    return stats


def json_clean(obj: Any) -> Any:
    """``obj`` made JSON-ready, recursively: numpy scalars and arrays become Python numbers and
    lists, NaN and infinities become ``None`` (via :func:`json_float`), tuples become lists,
    dict keys strings. The one NaN-to-None cleaner of summary.json and compare.json."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_clean(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return json_float(obj)
    return obj


def bootstrap_means(values: np.ndarray, *, n_boot: int = 1000,
                    seed: int | Sequence[int] = 0) -> np.ndarray:
    """Column means of ``n_boot`` row-resamples of ``values`` (all columns resampled jointly).

    Args:
        values: ``[n]`` or ``[n, K]`` finite floats; rows are samples.
        n_boot: number of resamples.
        seed: seed (or seed sequence) of the ``numpy.random.default_rng`` that draws the
            resamples.

    Returns:
        ``[n_boot, K]`` means (``[n_boot, 1]`` for 1-D input). Memory stays bounded: the
        resampled values are gathered in chunks of about two million numbers.
    """
    v = np.asarray(values, dtype=float)
    v = v.reshape(len(v), -1)
    n = len(v)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, v.shape[1]))
    step = max(1, _CHUNK_ELEMS // max(n * v.shape[1], 1))
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = v[idx].mean(axis=1)
    return out


def bootstrap_weights(n: int, n_boot: int, seed: int | Sequence[int] = 0, *,
                      chunk: int = 200) -> Iterator[np.ndarray]:
    """Bootstrap replicates of ``n`` samples as multinomial counts, ``chunk`` at a time:
    float ``[<=chunk, n]`` matrices (memory ``chunk x n``), ``n_boot`` rows in all. A
    statistic that is a ratio of weighted sums (a per-group accuracy) is then one matrix
    product per chunk, and two models' statistics drawn from one ``W`` are paired."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, chunk):
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, n_boot - start)
                              ).astype(float)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``samples`` (non-finite values
    dropped; ``(nan, nan)`` when none is left)."""
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
    seed: int | Sequence[int] = 0,
) -> tuple[float, float, float]:
    """Mean with a percentile-bootstrap confidence interval.

    Args:
        values: ``[n]`` numbers; NaN entries are dropped.
        n_boot: resamples.
        level: confidence level (0.95 = 95% interval).
        seed: resampling seed.

    Returns:
        ``(mean, lo, hi)``; ``(mean, nan, nan)`` when fewer than 2 values remain and
        ``(nan, nan, nan)`` when none do.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if v.size < 2:
        return mean, math.nan, math.nan
    lo, hi = percentile_interval(bootstrap_means(v, n_boot=n_boot, seed=seed)[:, 0], level)
    return mean, lo, hi


def bootstrap_ratio_ci(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Ratio of means ``mean(num) / mean(den)`` with a joint-resampling bootstrap interval.

    Used for attention lift = mean(mass) / mean(area): samples are resampled as pairs.

    Args:
        numerator: ``[n]`` values (e.g. mass); pairs with a NaN on either side are dropped.
        denominator: ``[n]`` values (e.g. area).
        n_boot, level, seed: as in :func:`bootstrap_mean_ci`.

    Returns:
        ``(ratio, lo, hi)``; the ratio is NaN when the mean denominator is 0; the interval is
        NaN with fewer than 2 pairs. Resamples whose denominator mean is 0 are ignored.
    """
    a = np.asarray(numerator, dtype=float).ravel()
    b = np.asarray(denominator, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"numerator has {a.size} values but denominator has {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0 or b.mean() <= 0:
        return math.nan, math.nan, math.nan
    ratio = float(a.mean() / b.mean())
    if a.size < 2:
        return ratio, math.nan, math.nan
    means = bootstrap_means(np.stack([a, b], axis=1), n_boot=n_boot, seed=seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = np.where(means[:, 1] > 0, means[:, 0] / means[:, 1], np.nan)
    lo, hi = percentile_interval(boot, level)
    return ratio, lo, hi


def bootstrap_diff_ci(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *, n_boot: int = 1000,
    level: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """Difference of the means of two independent samples, ``mean(a) - mean(b)``, with a
    percentile-bootstrap interval (each sample resampled within itself).

    Args:
        a, b: ``[n_a]`` and ``[n_b]`` values; NaN entries are dropped.
        n_boot, level, seed: as in :func:`bootstrap_mean_ci` (``b`` is drawn with ``seed + 1``).

    Returns:
        ``(difference, lo, hi)``; the interval is NaN when a side has fewer than 2 values,
        everything is NaN when a side has none.
    """
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return math.nan, math.nan, math.nan
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return diff, math.nan, math.nan
    boot = (bootstrap_means(x, n_boot=n_boot, seed=seed)[:, 0]
            - bootstrap_means(y, n_boot=n_boot, seed=seed + 1)[:, 0])
    lo, hi = percentile_interval(boot, level)
    return diff, lo, hi


def wilson_ci(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (no continuity correction; the interval
    of ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``).

    Returns:
        ``(lo, hi)``, clipped to [0, 1]; ``(nan, nan)`` when ``n == 0``.
    """
    k, n = int(k), int(n)
    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p, z2 = k / n, z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z * math.sqrt(n * p * (1 - p) + z2 / 4) / (n + z2)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    return lo, (1.0 if k == n else min(1.0, centre + half))


def mcnemar_test(a_correct: np.ndarray, b_correct: np.ndarray) -> tuple[float, float]:
    """McNemar's test of two classifiers on the same samples.

    Exact two-sided binomial test (what ``scipy.stats.binomtest(min(b, c), b + c, 0.5)``
    gives) when there are fewer than :data:`MCNEMAR_EXACT_BELOW` discordant pairs, otherwise
    the chi-square statistic with continuity correction ``(|b - c| - 1)^2 / (b + c)`` on one
    degree of freedom (the statsmodels convention). Closed forms, no scipy.

    Args:
        a_correct: ``[n]`` bool, model A right on each sample.
        b_correct: ``[n]`` bool, model B right on the same samples.

    Returns:
        ``(statistic, p)``: for the exact test the statistic is ``min(b, c)``. No discordant
        pairs give ``(0.0, 1.0)``.
    """
    a = np.asarray(a_correct, dtype=bool).ravel()
    b = np.asarray(b_correct, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a_correct has {a.size} values but b_correct has {b.size}")
    n01 = int(np.sum(a & ~b))
    n10 = int(np.sum(~a & b))
    disc = n01 + n10
    if disc == 0:
        return 0.0, 1.0
    if disc < MCNEMAR_EXACT_BELOW:  # two-sided binomial(disc, 1/2): twice the smaller tail
        low = min(n01, n10)
        tail = sum(math.comb(disc, i) for i in range(low + 1)) / 2 ** disc
        return float(low), min(1.0, 2.0 * tail)
    stat = (abs(n01 - n10) - 1.0) ** 2 / disc
    return float(stat), math.erfc(math.sqrt(stat / 2.0))  # chi-square sf with 1 dof


def wilcoxon_paired(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired samples (``scipy.stats.wilcoxon``'s
    defaults; above :data:`WILCOXON_EXACT_MAX` pairs its normal approximation, computed here).

    Pairs with a NaN are dropped. All-zero differences (or no pairs) give ``p = 1.0``.
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"x has {a.size} values but y has {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0 or np.all(a - b == 0):
        return 1.0
    if a.size > WILCOXON_EXACT_MAX:
        return _wilcoxon_normal(a - b)
    return float(_sps().wilcoxon(a, b).pvalue)


def _wilcoxon_normal(d: np.ndarray) -> float:
    """The normal approximation ``scipy.stats.wilcoxon`` itself uses above
    :data:`WILCOXON_EXACT_MAX` pairs (zeros dropped, tie-corrected variance, no continuity
    correction), computed here so that large comparisons need no scipy."""
    d = d[d != 0]
    n = d.size
    _, inverse, counts = np.unique(np.abs(d), return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    ranks = (upper - (counts - 1) / 2.0)[inverse]  # average ranks of |d|
    r_plus = float(ranks[d > 0].sum())
    mean = n * (n + 1) / 4.0
    var = (n * (n + 1) * (2 * n + 1) - float(np.sum(counts ** 3 - counts)) / 2.0) / 24.0
    if var <= 0:
        return 1.0
    return float(min(1.0, math.erfc(abs(r_plus - mean) / math.sqrt(var) / math.sqrt(2.0))))


def mannwhitney_greater(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided Mann-Whitney U p-value that ``x`` tends to be larger than ``y``.

    NaN values are dropped; an empty side gives NaN; identical constant samples give 1.0.
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return math.nan
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(_sps().mannwhitneyu(a, b, alternative="greater").pvalue)


def fisher_enrichment(in_group: np.ndarray, has_value: np.ndarray) -> tuple[float, float]:
    """Enrichment of a value inside a group against the whole population.

    Args:
        in_group: ``[n]`` bool, the sample belongs to the group (e.g. a cluster).
        has_value: ``[n]`` bool, the sample has the value (e.g. ``hair == "blond"``).

    Returns:
        ``(ratio, p)``: ``ratio`` = share of the value inside the group / share in the whole
        population (1.0 = no enrichment; NaN for an empty group or a value nobody has);
        ``p`` = one-sided Fisher exact test (``scipy.stats.fisher_exact``, alternative
        "greater") of the 2x2 table group x value against the rest of the population.
    """
    g = np.asarray(in_group, dtype=bool).ravel()
    v = np.asarray(has_value, dtype=bool).ravel()
    if g.shape != v.shape:
        raise ValueError(f"in_group has {g.size} values but has_value has {v.size}")
    if g.sum() == 0 or v.sum() == 0:
        return math.nan, math.nan
    table = [[int(np.sum(g & v)), int(np.sum(g & ~v))], [int(np.sum(~g & v)), int(np.sum(~g & ~v))]]
    ratio = float(v[g].mean() / v.mean())
    p = float(_sps().fisher_exact(table, alternative="greater").pvalue)
    return ratio, p


def fisher_greater_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided Fisher exact p-value that the rate ``k1 / n1`` exceeds ``k2 / n2``
    (``scipy.stats.fisher_exact``, alternative "greater"); NaN when a side is empty."""
    if n1 <= 0 or n2 <= 0:
        return math.nan
    table = [[int(k1), int(n1 - k1)], [int(k2), int(n2 - k2)]]
    return float(_sps().fisher_exact(table, alternative="greater").pvalue)


def newcombe_diff_ci(k1: int, n1: int, k2: int, n2: int, level: float = 0.95
                     ) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) of ``k1 / n1 - k2 / n2``, built from the
    two Wilson intervals; ``(nan, nan)`` when a side is empty."""
    if n1 <= 0 or n2 <= 0:
        return math.nan, math.nan
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_ci(k1, n1, level)
    l2, u2 = wilson_ci(k2, n2, level)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def holm_bonferroni(pvals: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control).

    NaN entries stay NaN and do not count towards the family size.

    Returns:
        ``[m]`` adjusted p-values in the input order, capped at 1.
    """
    p = np.asarray(pvals, dtype=float).ravel()
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(pvals: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``scipy.stats.false_discovery_control``).

    NaN entries stay NaN and do not count towards the family size.
    """
    p = np.asarray(pvals, dtype=float).ravel()
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = _sps().false_discovery_control(p[ok], method="bh")
    return out

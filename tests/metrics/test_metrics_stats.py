"""Statistics checked against scipy and against numbers worked out by hand."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from auditor.metrics.stats import (
    benjamini_hochberg,
    bootstrap_diff_ci,
    bootstrap_mean_ci,
    bootstrap_ratio_ci,
    fisher_enrichment,
    fisher_greater_p,
    holm_bonferroni,
    mcnemar_test,
    newcombe_diff_ci,
    wilcoxon_paired,
    wilson_ci,
)


def test_bootstrap_mean_ci_seeded_and_covering():
    values = np.random.default_rng(1).normal(5.0, 1.0, 200)
    mean, lo, hi = bootstrap_mean_ci(values, n_boot=500, level=0.95, seed=3)
    assert mean == pytest.approx(values.mean())
    assert lo < mean < hi
    # the half-width is close to 1.96 standard errors
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.2)
    assert bootstrap_mean_ci(values, n_boot=500, seed=3) == (mean, lo, hi)
    assert bootstrap_mean_ci(values, n_boot=500, seed=4) != (mean, lo, hi)


def test_bootstrap_mean_ci_small_inputs():
    mean, lo, hi = bootstrap_mean_ci([2.5])
    assert mean == 2.5 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in bootstrap_mean_ci([]))
    mean, lo, hi = bootstrap_mean_ci([1.0, np.nan, 3.0], n_boot=200)
    assert mean == 2.0 and 1.0 <= lo <= hi <= 3.0


def test_bootstrap_ratio_ci_resamples_pairs():
    mass = np.array([0.6, 0.5, 0.7, 0.55, 0.65] * 10)
    area = np.array([0.12, 0.1, 0.14, 0.11, 0.13] * 10)
    ratio, lo, hi = bootstrap_ratio_ci(mass, area, n_boot=400, seed=0)
    assert ratio == pytest.approx(mass.mean() / area.mean())
    assert lo < ratio < hi and hi - lo < 0.2
    assert all(math.isnan(v) for v in bootstrap_ratio_ci([0.5], [0.0]))


def test_wilson_ci_formula():
    k, n, z = 14, 20, sps.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_ci(k, n, 0.95) == pytest.approx((centre - half, centre + half))
    assert wilson_ci(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert all(math.isnan(v) for v in wilson_ci(0, 0))


def test_mcnemar_exact_matches_binomtest():
    # model A right / B wrong on 3 samples, A wrong / B right on 9: 12 discordant pairs
    a = np.array([1] * 3 + [0] * 9 + [1] * 20 + [0] * 5, dtype=bool)
    b = np.array([0] * 3 + [1] * 9 + [1] * 20 + [0] * 5, dtype=bool)
    stat, p = mcnemar_test(a, b)
    assert stat == 3.0
    assert p == pytest.approx(sps.binomtest(3, 12, 0.5).pvalue)


def test_mcnemar_chi2_with_continuity_correction():
    a = np.array([1] * 10 + [0] * 30 + [1] * 50, dtype=bool)
    b = np.array([0] * 10 + [1] * 30 + [1] * 50, dtype=bool)
    stat, p = mcnemar_test(a, b)
    assert stat == pytest.approx((abs(10 - 30) - 1) ** 2 / 40)
    assert p == pytest.approx(sps.chi2.sf(stat, 1))
    assert mcnemar_test(a, a) == (0.0, 1.0)


def test_wilcoxon_against_scipy_and_all_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(0.5, 0.1, 30)
    y = x - 0.05 + rng.normal(0, 0.02, 30)
    assert wilcoxon_paired(x, y) == pytest.approx(sps.wilcoxon(x, y).pvalue)
    assert wilcoxon_paired(x, y) < 0.01
    assert wilcoxon_paired(x, x) == 1.0


def test_fisher_enrichment():
    in_group = np.array([True] * 10 + [False] * 30)
    has = np.array([True] * 9 + [False] + [True] * 6 + [False] * 24)
    ratio, p = fisher_enrichment(in_group, has)
    assert ratio == pytest.approx(0.9 / (15 / 40))
    assert p == pytest.approx(sps.fisher_exact([[9, 1], [6, 24]], alternative="greater").pvalue)
    assert p < 0.001


def test_holm_hand_computed():
    adj = holm_bonferroni([0.01, 0.04, 0.03, np.nan])
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert adj[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert math.isnan(adj[3])


def test_bh_hand_computed():
    adj = benjamini_hochberg([0.01, 0.04, 0.03])
    # ranks 1, 3, 2 -> 0.01*3/1 = 0.03, 0.04*3/3 = 0.04, min(0.03*3/2, 0.04) = 0.04
    assert adj == pytest.approx([0.03, 0.04, 0.04])


def test_fisher_greater_matches_scipy():
    assert fisher_greater_p(9, 10, 3, 10) == pytest.approx(
        sps.fisher_exact([[9, 1], [3, 7]], alternative="greater").pvalue)
    assert fisher_greater_p(3, 10, 9, 10) > 0.99
    assert math.isnan(fisher_greater_p(0, 0, 1, 5))


def test_newcombe_interval_matches_the_published_example():
    """Newcombe (1998), Table II, example (a): 56/70 - 48/80, hybrid score interval
    0.0524 to 0.3339."""
    lo, hi = newcombe_diff_ci(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=1e-4) and hi == pytest.approx(0.3339, abs=1e-4)
    assert all(math.isnan(x) for x in newcombe_diff_ci(1, 0, 1, 5))


def test_wilcoxon_large_samples_match_scipy_without_importing_it():
    """Above WILCOXON_EXACT_MAX pairs the normal approximation is computed in numpy: the same
    p-values as scipy (ties and zero differences included)."""
    from scipy import stats as sps

    from auditor.metrics.stats import WILCOXON_EXACT_MAX, wilcoxon_paired

    rng = np.random.default_rng(3)
    for n, shift, rounding in ((WILCOXON_EXACT_MAX + 1, 0.3, None), (400, 0.05, 1),
                               (1000, 0.0, 2)):
        x = rng.normal(0, 1, n)
        y = x + rng.normal(shift, 1, n)
        if rounding is not None:  # ties
            x, y = np.round(x, rounding), np.round(y, rounding)
        y[:7] = x[:7]  # zero differences
        assert wilcoxon_paired(x, y) == pytest.approx(sps.wilcoxon(x, y).pvalue, rel=1e-9)


@pytest.mark.parametrize(("b", "c"), [(2, 10), (5, 5), (0, 24), (12, 13), (30, 5), (3, 0)])
def test_mcnemar_closed_forms_match_scipy(b, c):
    from auditor.metrics.stats import MCNEMAR_EXACT_BELOW

    first = np.array([True] * b + [False] * c + [True] * 4)
    second = np.array([False] * b + [True] * c + [True] * 4)
    n = b + c
    want = (sps.binomtest(min(b, c), n, 0.5).pvalue if n < MCNEMAR_EXACT_BELOW
            else sps.chi2.sf((abs(b - c) - 1) ** 2 / n, 1))
    assert mcnemar_test(first, second)[1] == pytest.approx(want, rel=1e-12)


def test_bootstrap_diff_ci_hand_cases():
    # constant samples: every resample has the same means, so the interval is the difference
    assert bootstrap_diff_ci([0.3] * 5, [0.1] * 8) == pytest.approx((0.2, 0.2, 0.2))
    d, lo, hi = bootstrap_diff_ci([0.3, np.nan], [0.1, 0.2])  # one value left on a side
    assert d == pytest.approx(0.15) and np.isnan(lo) and np.isnan(hi)
    assert all(np.isnan(bootstrap_diff_ci([], [1.0, 2.0])))
    # a = {0, 1} x 50, b = {0} x 50: difference 0.5, the interval is a's mean's, about
    # 0.5 +- 1.96 * sqrt(0.25 / 100) = 0.40-0.60
    d, lo, hi = bootstrap_diff_ci([0.0, 1.0] * 50, [0.0] * 50, n_boot=2000)
    assert d == pytest.approx(0.5) and 0.38 < lo < 0.42 and 0.58 < hi < 0.62
    assert bootstrap_diff_ci([0.0, 1.0] * 50, [0.0] * 50, n_boot=2000) == (d, lo, hi)  # seeded

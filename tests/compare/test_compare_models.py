"""compare_models on planted data: McNemar, Wilcoxon, groups, top-region shift."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from helpers.planted_compare import BROKEN, FIXED, METHODS, REGIONS, SHIFTED, N, planted_samples
from scipy import stats

from auditor.errors import CompareError
from auditor.metrics.comparison import compare_models
from auditor.metrics.paired import mcnemar, paired_bootstrap_ci, wilcoxon_p


def _compare(table, **kw):
    return compare_models(table, "baseline", "rebalanced", methods=METHODS, regions=REGIONS,
                          attributes=["hair"], n_boot=500, **kw)


def test_accuracy_and_mcnemar_chi2(planted):
    cmp = _compare(planted)
    assert cmp.n == N
    assert cmp.accuracy["baseline"] == pytest.approx(300 / N)
    assert cmp.accuracy["candidate"] == pytest.approx(325 / N)
    assert cmp.accuracy["delta"] == pytest.approx(25 / N)
    lo, hi = cmp.accuracy["ci"]
    assert lo < 25 / N < hi and lo > 0  # 30 fixed vs 5 broken: clearly better
    assert (cmp.mcnemar.b, cmp.mcnemar.c) == (len(BROKEN), FIXED)
    assert cmp.mcnemar.method == "chi2"  # 35 discordant >= 25
    stat = (abs(5 - 30) - 1) ** 2 / 35
    assert cmp.mcnemar.statistic == pytest.approx(stat)
    assert cmp.mcnemar.p == pytest.approx(stats.chi2.sf(stat, 1))
    # chi-square with 1 dof: sf(x) = erfc(sqrt(x / 2)), independent of scipy
    assert cmp.mcnemar.p == pytest.approx(math.erfc(math.sqrt(stat / 2)), rel=1e-9)
    assert cmp.mcnemar.p < 1e-4


def test_mcnemar_exact_small_and_none():
    base = np.array([True] * 2 + [False] * 10 + [True] * 20)
    cand = np.array([False] * 2 + [True] * 10 + [True] * 20)
    res = mcnemar(base, cand)
    assert (res.b, res.c, res.method) == (2, 10, "exact")
    # two-sided exact binomial by hand: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2**12
    assert res.p == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert res.p == pytest.approx(stats.binomtest(2, 12, 0.5).pvalue)
    same = mcnemar(base, base)
    assert (same.method, same.p, same.n_discordant) == ("none", 1.0, 0)


def test_attention_deltas_and_wilcoxon_match_scipy(planted):
    cmp = _compare(planted)
    base = planted[planted.model == "baseline"].sort_values("id")
    cand = planted[planted.model == "rebalanced"].sort_values("id")
    for method in METHODS:
        for region in REGIONS:
            col = f"mass_{method}_{region}"
            b, c = base[col].to_numpy(), cand[col].to_numpy()
            got = cmp.attention[method][region]
            assert got["n"] == N
            assert got["baseline"] == pytest.approx(b.mean())
            assert got["delta"] == pytest.approx((c - b).mean())
            assert got["ci"][0] <= got["delta"] <= got["ci"][1]
            assert got["wilcoxon_p"] == pytest.approx(stats.wilcoxon(c, b).pvalue)
    face = cmp.attention["gradcam"]["face"]
    assert face["delta"] < -0.3 and face["ci"][1] < 0 and face["wilcoxon_p"] < 1e-10


def test_wilcoxon_edge_cases():
    x = np.array([0.1, 0.2, np.nan, 0.4])
    assert wilcoxon_p(x, x) == 1.0
    assert math.isnan(wilcoxon_p(np.array([np.nan]), np.array([1.0])))


def test_top_region_shift(planted):
    top = _compare(planted).top_region
    assert top["method"] == "gradcam"
    assert top["n_changed"] == SHIFTED
    assert top["changed_share"] == pytest.approx(SHIFTED / N)
    assert top["transitions"] == {"face->object": SHIFTED}
    assert top["examples"]["face->object"] == [f"img_{i:04d}" for i in range(8)]
    assert top["share"]["baseline"]["face"] == 1.0
    assert top["share"]["candidate"]["object"] == pytest.approx(SHIFTED / N)


def test_groups_and_worst_group_min_support(planted):
    cmp = _compare(planted)
    dark = cmp.by_group["hair"]["dark"]
    assert dark["n"] == 156 + 40
    assert dark["baseline"] == pytest.approx(156 / 196)
    assert dark["candidate"] == pytest.approx((156 - 5 + 30) / 196)
    assert cmp.by_group["hair"]["red"]["n"] == 5
    # the red cell (n=5, accuracy 0) is below the support of 10 and cannot be the worst group
    assert cmp.worst_group["baseline"] == {"group": "hair=dark & label=nurse", "n": 40,
                                           "accuracy": 0.0}
    assert cmp.worst_group["candidate"]["group"] == "hair=blond & label=doctor"
    assert cmp.worst_group["delta"] == pytest.approx(1 / 39)
    low = _compare(planted, min_group_support=5)
    # with support 5 the red cell competes: it is the candidate's worst (accuracy 0); for the
    # baseline it ties at 0 with nurse/dark and the summary's rule prefers the larger cell
    assert low.worst_group["candidate"]["group"] == "hair=red & label=doctor"
    assert low.worst_group["baseline"]["group"] == "hair=dark & label=nurse"


def test_to_dict_contract_and_determinism(planted):
    d = _compare(planted).to_dict()
    assert {"baseline", "candidate", "delta", "mcnemar_p"} <= set(d)
    assert d["baseline"] == "baseline" and d["candidate"] == "rebalanced"
    assert d["delta"]["accuracy"] == pytest.approx(25 / N)
    assert d["delta"]["attention"]["gradcam"]["object"] > 0.2
    assert d["mcnemar"]["b"] == 5 and d["mcnemar"]["c"] == 30
    json.dumps(d, allow_nan=False)
    shuffled = planted_samples(seed=0).sample(frac=1.0, random_state=7)
    assert _compare(shuffled).to_dict() == d  # row order does not matter


def test_bootstrap_ci_seeded_and_degenerate():
    d = np.random.default_rng(0).normal(0.1, 1.0, 200)
    one = paired_bootstrap_ci(d, level=0.95, n_boot=300, seed=1, key="x")
    assert one == paired_bootstrap_ci(d, level=0.95, n_boot=300, seed=1, key="x")
    assert one != paired_bootstrap_ci(d, level=0.95, n_boot=300, seed=2, key="x")
    assert one[1] < one[0] < one[2]
    assert paired_bootstrap_ci(np.zeros(5), level=0.95, n_boot=50, seed=0, key="z") == (0, 0, 0)


def test_errors_name_the_problem(planted):
    with pytest.raises(CompareError, match="no model named 'nope'.*baseline"):
        compare_models(planted, "baseline", "nope", methods=METHODS, regions=REGIONS,
                       attributes=[])
    with pytest.raises(CompareError, match="mass_eigencam_face"):
        compare_models(planted, "baseline", "rebalanced", methods=["eigencam"],
                       regions=REGIONS, attributes=[])
    dup = pd.concat([planted, planted[planted.model == "baseline"].iloc[[0]]])
    with pytest.raises(CompareError, match="model 'baseline' has sample id 'img_.*' more than"):
        compare_models(dup, "baseline", "rebalanced", methods=METHODS, regions=REGIONS,
                       attributes=[])


def test_without_attributes_groups_are_classes(planted):
    cmp = compare_models(planted, "baseline", "rebalanced", methods=METHODS[:1], regions=REGIONS,
                         attributes=[], n_boot=100)
    assert cmp.by_group == {}
    # doctors: baseline 200 - 43 wrong; nurses: 200 - 57 wrong
    assert cmp.worst_group["baseline"] == {"group": "label=nurse", "n": 200,
                                           "accuracy": pytest.approx(143 / 200)}
    assert list(cmp.attention) == ["gradcam"]
    with pytest.raises(CompareError, match="no region"):
        compare_models(planted, "baseline", "rebalanced", methods=METHODS, regions=[],
                       attributes=[])


def test_balanced_and_worst_group_deltas_carry_paired_bootstrap_intervals():
    """compare.json promised intervals for every delta; balanced accuracy and the worst group
    had none (the page showed "–"). Hand-made cases whose delta is the same in every
    resample give a zero-width interval at it; a random case matches a plain
    index-resampling bootstrap written here."""
    from auditor.metrics.paired import paired_group_delta_ci

    classes = np.repeat([[1.0, 0.0], [0.0, 1.0]], 50, axis=0)  # 50 of each class
    base = np.r_[np.zeros(50, bool), np.ones(50, bool)]  # class 0 all wrong, class 1 right
    cand = np.ones(100, bool)
    kw = {"level": 0.95, "n_boot": 400, "seed": 0, "key": "k"}
    lo, hi = paired_group_delta_ci(classes, base, cand, reduce=np.nanmean, **kw)
    assert (lo, hi) == (pytest.approx(0.5), pytest.approx(0.5))  # balanced 50% -> 100%
    lo, hi = paired_group_delta_ci(classes, base, cand, reduce=np.nanmin, **kw)
    assert (lo, hi) == (pytest.approx(1.0), pytest.approx(1.0))  # worst group 0% -> 100%
    assert all(math.isnan(v) for v in paired_group_delta_ci(classes[:1], base[:1], cand[:1],
                                                            reduce=np.nanmean, **kw))
    rng = np.random.default_rng(3)
    base, cand = rng.random(300) < 0.6, rng.random(300) < 0.75
    cells = np.eye(3)[rng.integers(0, 3, 300)]
    lo, hi = paired_group_delta_ci(cells, base, cand, reduce=np.nanmin, level=0.95,
                                   n_boot=2000, seed=0, key="w")

    def worst(ok, idx):
        return min(ok[idx][cells[idx, k] == 1].mean() for k in range(3))

    draws = [rng.integers(0, 300, 300) for _ in range(2000)]
    ref = np.quantile([worst(cand, i) - worst(base, i) for i in draws], [0.025, 0.975])
    assert (lo, hi) == (pytest.approx(ref[0], abs=0.03), pytest.approx(ref[1], abs=0.03))


def test_the_comparison_reports_both_new_intervals(planted):
    cmp = _compare(planted)
    for block in (cmp.balanced_accuracy, cmp.worst_group):
        lo, hi = block["ci"]
        assert lo <= block["delta"] <= hi
    d = cmp.to_dict()
    assert d["balanced_accuracy"]["ci"] == cmp.balanced_accuracy["ci"]
    assert d["worst_group"]["ci"] == cmp.worst_group["ci"]


def test_compare_all_passes_the_bootstrap_count_on(planted):
    """Inside ``audit run``, comparisons[].n_boot was 2000 whatever analysis.n_bootstrap."""
    from auditor.pipeline.model_summary import compare_all

    out = compare_all(planted, ["baseline", "rebalanced"], "baseline", methods=METHODS,
                      regions=REGIONS, attributes=["hair"], level=0.95, seed=0, n_boot=123)
    assert [c["n_boot"] for c in out] == [123]

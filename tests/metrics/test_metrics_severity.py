"""The severity rules of docs/findings.md, pinned on hand-made numbers and tables."""

import pytest

from auditor.metrics.findings import disparity_findings, group_gap_findings, slice_findings
from auditor.metrics.groups import group_performance
from auditor.metrics.severity import (
    cluster_severity,
    concept_severity,
    disparity_severity,
    group_gap_severity,
    hotspot_severity,
    slice_severity,
)
from auditor.metrics.slices import find_slices

MASS = {"face": 0.1, "object": 0.6, "background": 0.3}


@pytest.mark.parametrize(("gap", "lower", "p_adj", "expected"), [
    (0.25, 0.15, 1e-6, "high"), (0.20, 0.10, 1e-6, "high"), (0.15, 0.08, 1e-6, "medium"),
    (0.30, 0.05, 0.04, "medium"),  # significant, but the interval reaches down to 5 points
    (0.10, 0.05, 1e-9, None),   # at the threshold: not more than the minimum effect
    (0.02, 0.01, 1e-9, None),   # a significant 2-point gap is no finding
    (0.40, -0.1, 0.06, None),   # a large gap on too few samples
    (1.0 - 0.8, 0.3 - 0.2, 1e-6, "high"),  # 0.19999999999999996 and 0.09999999999999998
    (0.9 - 0.8 + 1e-12, 0.05, 1e-6, None),  # 10 points, whatever the rounding: not > 10
])
def test_group_gap_rule(gap, lower, p_adj, expected):
    assert group_gap_severity(gap, lower, p_adj, 0.10) == expected


def test_a_noisy_gap_between_small_cells_is_medium(make_table):
    """Null shapes, session 6 (hard s1 rebalanced): 35% (17/48) vs 65% (41/63), picked from
    12 pairs here, is significant after Bonferroni, but its corrected interval reaches far
    under the 10-point minimum: fresh data showed no gap. It was high on the point gap."""
    cells = {(lab, hair): {"n": 55, "wrong": 22, "mass": MASS}
             for lab in ("doctor", "nurse") for hair in ("h1", "h2", "h3", "h4")}
    cells[("doctor", "h1")] = {"n": 48, "wrong": 31, "mass": MASS}
    cells[("doctor", "h2")] = {"n": 63, "wrong": 22, "mass": MASS}
    perf = group_performance(make_table(cells), ["hair"], min_group_size=10)
    (f,) = [f for f in group_gap_findings(perf, gap_threshold=0.1, min_group_size=10)
            if f.evidence["scope"] == "cells"]
    assert f.evidence["gap"] == pytest.approx(41 / 63 - 17 / 48)
    assert f.evidence["p_adj"] < 0.05 and f.evidence["gap_ci"][0] < 0.1
    assert f.severity == "medium" and "corrected CI" in f.title


@pytest.mark.parametrize(("excess", "lower", "p_adj", "expected"), [
    (0.30, 0.15, 1e-6, "high"), (0.30, 0.05, 1e-6, "medium"),  # wide interval: not high
    (0.12, 0.05, 1e-4, "medium"), (0.02, 0.01, 1e-9, "low"), (0.30, 0.15, 0.2, None),
    (1.0 - 0.8, 0.3 - 0.2, 1e-6, "high"),  # 0.19999999999999996 and 0.09999999999999998
])
def test_slice_rule(excess, lower, p_adj, expected):
    assert slice_severity(excess, lower, p_adj, 0.10) == expected


@pytest.mark.parametrize(("share", "ratio", "p", "effect", "lower", "expected"), [
    (0.5, 2.0, 1e-5, 0.4, 0.3, "high"),
    (0.5, 2.0, 0.5, 0.0, -0.1, "low"),      # appearance only: no slice behind the cluster
    (0.5, 2.0, None, None, None, "low"),    # slice untestable
    (0.5, 2.0, 1e-5, 0.05, 0.01, "low"),     # a significant slice under the minimum effect
    (0.1, 2.0, 1e-5, 0.4, 0.3, "medium"),   # a small cluster
    (0.5, 1.2, 1e-5, 0.4, 0.3, "medium"),   # weak enrichment
    # the bar of a high group gap: 12% against 0% of 100 each is significant, but its
    # interval reaches down to 5 points (a winner's curse: 5 points on fresh data)
    (0.5, 2.0, 1e-3, 0.12, 0.05, "medium"),
    (0.5, 2.0, 1e-5, 0.25, 0.08, "medium"),  # large, but the lower bound is under 10
    (0.5, 2.0, 1e-5, 0.18, 0.12, "medium"),  # sure, but under twice the minimum effect
    (0.5, 2.0, 1e-5, 0.4, None, "medium"),   # interval unknown
])
def test_cluster_rule(share, ratio, p, effect, lower, expected):
    assert cluster_severity(share_of_errors=share, ratio=ratio, slice_p_adj=p,
                            slice_effect=effect, gap_threshold=0.10,
                            slice_effect_lower=lower) == expected


def test_disparity_rule_is_never_high():
    assert disparity_severity(0.3, 1e-9, 0.10) == "medium"
    assert disparity_severity(-0.3, 1e-9, 0.10) == "medium"
    assert disparity_severity(0.03, 1e-9, 0.05) == "low"
    assert disparity_severity(0.3, 0.2, 0.10) == "low"


def _cells(wrong, n=400):
    return {(lab, hair): {"n": n, "wrong": wrong[(lab, hair)], "mass": MASS}
            for lab in ("doctor", "nurse") for hair in ("dark", "blond")}


def test_large_table_small_gap_is_no_group_gap_and_a_low_slice(make_table):
    # 400 per cell: blond doctors err 18% vs 10% elsewhere (significant, 8 points)
    wrong = {("doctor", "blond"): 72, ("doctor", "dark"): 40, ("nurse", "blond"): 40,
             ("nurse", "dark"): 40}
    df = make_table(_cells(wrong))
    perf = group_performance(df, ["hair"], min_group_size=10)
    assert group_gap_findings(perf, gap_threshold=0.1, min_group_size=10) == []
    found = slice_findings(find_slices(df, ["hair"]), gap_threshold=0.1)
    assert found and all(f.severity == "low" for f in found)
    assert "under the 10-point minimum effect" in found[0].title


def test_planted_gap_is_high_with_corrected_p(make_table):
    wrong = {("doctor", "blond"): 240, ("doctor", "dark"): 20, ("nurse", "blond"): 20,
             ("nurse", "dark"): 20}
    perf = group_performance(make_table(_cells(wrong)), ["hair"], min_group_size=10)
    found = group_gap_findings(perf, gap_threshold=0.1, min_group_size=10)
    cell = next(f for f in found if f.evidence["scope"] == "cells")
    # cells compete within their class: one pair per class
    assert cell.severity == "high" and cell.evidence["n_pairs"] == 2
    assert cell.evidence["best_group"]["features"] == {"label": "doctor", "hair": "dark"}
    assert cell.evidence["p_adj"] == pytest.approx(min(1.0, 2 * cell.evidence["p"]))
    assert "corrected p" in cell.title


def test_disparities_are_holm_corrected_and_need_a_minimum_effect(make_table):
    cells = {("doctor", "dark"): {"n": 300, "mass": {"face": 0.10, "object": 0.6,
                                                     "background": 0.3}},
             ("doctor", "blond"): {"n": 200, "mass": {"face": 0.135, "object": 0.6,
                                                      "background": 0.265}}}
    found = disparity_findings(make_table(cells), ["hair"], tau=0.8, min_group_size=10,
                               method="gradcam", spurious_regions=["face"])
    (f,) = found
    # about 1.3x the attention on face, very significant, but ~3 points of the map
    assert f.evidence["metric"] == "mass" and f.evidence["ratio"] > 1.25
    assert f.evidence["p_adj"] < 0.05 and f.severity == "low"
    assert "minimum effect" in f.title


def test_a_harder_class_is_no_group_gap(make_table):
    """Seed 4 of the null clinic: nurses 78% right for both hair values, doctors 89%."""
    wrong = {("doctor", "blond"): 28, ("doctor", "dark"): 28, ("nurse", "blond"): 55,
             ("nurse", "dark"): 55}
    perf = group_performance(make_table(_cells(wrong, n=250)), ["hair"], min_group_size=10)
    assert group_gap_findings(perf, gap_threshold=0.1, min_group_size=10) == []


def test_hotspot_severity_needs_masking_for_high():
    kw = {"reliance_threshold": 0.2}
    assert hotspot_severity(flip_rate=0.3, flip_lower=0.12, mass_differs=False, **kw) == "high"
    # the rate clears the bar but its lower bound does not reach half of it
    assert hotspot_severity(flip_rate=0.3, flip_lower=0.08, mass_differs=False, **kw) == "medium"
    # attention differing by group alone: medium, never high
    assert hotspot_severity(flip_rate=0.0, flip_lower=0.0, mass_differs=True, **kw) == "medium"
    assert hotspot_severity(flip_rate=0.04, flip_lower=0.01, mass_differs=False, **kw) == "low"
    assert hotspot_severity(flip_rate=None, flip_lower=None, mass_differs=False, **kw) == "low"


def test_concept_severity_needs_importance_and_association():
    def sev(flip_rate=0.5, flip_lower=0.4, prob_drop=0.3, p_adj=1e-6, odds_ratio=10.0):
        return concept_severity(flip_rate=flip_rate, flip_lower=flip_lower,
                                prob_drop=prob_drop, p_adj=p_adj, odds_ratio=odds_ratio,
                                reliance_threshold=0.2)

    assert sev() == "high"
    assert sev(prob_drop=0.05) == "medium"  # flips of borderline answers
    assert sev(p_adj=0.01) == "medium"  # significant but not below 0.001
    assert sev(odds_ratio=2.5) == "medium"
    assert sev(flip_rate=0.1, flip_lower=0.06, prob_drop=0.02) == "medium"
    assert sev(flip_rate=0.02, flip_lower=0.0, prob_drop=0.02) is None  # not important
    assert sev(flip_lower=0.0, prob_drop=0.12) == "medium"  # important by probability drop
    assert sev(p_adj=0.06) is None and sev(odds_ratio=1.5) is None  # not associated
    # associated with a class's errors only (no subgroup): at most medium
    assert concept_severity(flip_rate=0.5, flip_lower=0.4, prob_drop=0.3, p_adj=1e-9,
                            odds_ratio=50.0, reliance_threshold=0.2,
                            with_attribute=False) == "medium"

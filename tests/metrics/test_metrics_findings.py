"""Findings on planted tables: the planted cue / gap is found, a clean table raises nothing."""

import json

import numpy as np
import pytest

from auditor.errors import ConfigError
from auditor.metrics.disparity import points_text
from auditor.metrics.findings import (
    Finding,
    compute_findings,
    disparity_findings,
    group_gap_findings,
    sanity_findings,
)
from auditor.metrics.groups import group_performance
from auditor.metrics.settings import AnalysisSettings
from auditor.metrics.spurious import spurious_cue_findings
from auditor.metrics.stats import newcombe_diff_ci

REGIONS = ["face", "object", "background"]
CFG = AnalysisSettings(n_bootstrap=200)


def _cue(df, **kw):
    kw.setdefault("expected_regions", ["object"])
    return spurious_cue_findings(df, "gradcam", REGIONS, ["hair"], n_boot=200, **kw)


def test_planted_cue_is_found_with_high_severity(cue_table):
    found = _cue(cue_table)
    assert [f.kind for f in found] == ["spurious_cue"]
    f = found[0]
    assert f.severity == "high"
    ev = f.evidence
    assert ev["region"] == "face" and ev["group"] == "hair=blond & label=nurse"
    assert ev["n"] == 40
    assert ev["lift"] == pytest.approx(0.6 / 0.12, rel=0.1)
    assert ev["ci"][0] > 1.5
    assert ev["mass"] > ev["mass_expected"]
    assert "mass_exceeds_expected" in ev["severity_reasons"]
    assert "class nurse, hair=blond" in f.title and "n=40" in f.title and "face" in f.title
    assert f.title.startswith("The model puts 60% of its Grad-CAM attention on face")  # lift>1
    json.dumps(f.to_dict(), allow_nan=False)


def test_clean_table_raises_no_cue(clean_table):
    assert _cue(clean_table) == []


def test_weak_cue_is_medium_and_reliance_makes_it_high(make_table):
    mass = {"face": 0.3, "object": 0.5, "background": 0.2}  # lift 2.5, but object dominates
    cells = {(lab, hair): {"n": 30, "mass": mass} for lab in ("doctor", "nurse")
             for hair in ("dark", "blond")}
    df = make_table(cells)
    found = _cue(df)
    assert [(f.kind, f.severity) for f in found] == [("spurious_cue", "medium")]
    df["flip_face"] = np.arange(len(df)) % 3 == 0  # a third of the predictions flip
    df["flip_object"] = np.arange(len(df)) % 10 == 0
    found = _cue(df)
    assert found[0].severity == "high"
    assert found[0].evidence["reliance_flip_rate"] == pytest.approx(1 / 3, abs=0.02)
    assert found[0].evidence["reliance_flip_rate_expected"]["object"] == pytest.approx(
        0.1, abs=0.02)
    assert "reliance" in found[0].evidence["severity_reasons"]


def test_unknown_region_names_raise_config_error(cue_table):
    with pytest.raises(ConfigError, match="analysis.expected_regions"):
        _cue(cue_table, expected_regions=["objekt"])
    with pytest.raises(ConfigError, match="analysis.spurious_regions"):
        _cue(cue_table, spurious_regions=["hat"])


def test_group_gap_found_and_not_found(make_table, clean_table):
    cells = {(lab, hair): {"n": 40, "wrong": 4, "mass": {"face": 0.1, "object": 0.6,
                                                           "background": 0.3}}
             for lab in ("doctor", "nurse") for hair in ("dark", "blond")}
    cells[("doctor", "blond")]["wrong"] = 24  # 40% accuracy vs 90% elsewhere
    perf = group_performance(make_table(cells), ["hair"], min_group_size=10)
    found = group_gap_findings(perf, gap_threshold=0.1, min_group_size=10)
    cell = [f for f in found if f.evidence["scope"] == "cells"]
    assert len(cell) == 1 and cell[0].severity == "high"
    assert cell[0].evidence["worst_group"]["group"] == "hair=blond & label=doctor"
    assert cell[0].evidence["gap"] == pytest.approx(0.5)
    assert "40%" in cell[0].title and "50 points" in cell[0].title
    perf = group_performance(clean_table, ["hair"], min_group_size=10)
    assert group_gap_findings(perf, gap_threshold=0.1, min_group_size=10) == []


def test_disparity_against_largest_group(make_table):
    mass = {"face": 0.1, "object": 0.6, "background": 0.3}
    cells = {("doctor", "dark"): {"n": 60, "wrong": 3, "mass": mass},
             ("doctor", "blond"): {"n": 30, "wrong": 15, "mass": mass}}
    found = disparity_findings(make_table(cells), ["hair"], tau=0.8, min_group_size=10,
                               method="gradcam", spurious_regions=["face"])
    assert len(found) == 1
    ev = found[0].evidence
    assert ev["reference"] == "dark" and ev["value"] == "blond"
    assert ev["ratio"] == pytest.approx(0.5 / 0.95)
    assert found[0].severity == "medium"
    # 15/30 against 57/60: 45 points lower, Newcombe's interval from the two Wilson intervals
    lo, hi = newcombe_diff_ci(15, 30, 57, 60)
    assert ev["difference"] == pytest.approx(-0.45)
    assert ev["difference_ci"] == pytest.approx([lo, hi]) and -0.64 < lo < hi < -0.26
    assert (f"(50% vs 95%, 45 points lower, 95% CI {-100 * hi:.0f}–{-100 * lo:.0f}, n=30 and "
            "60, corrected") in found[0].title


def test_a_mass_disparity_carries_the_difference_and_its_interval(make_table):
    """Blond-haired samples put 30% of the map on the face, dark-haired ones 10%: worded
    from the group with more mass, with the bootstrap interval of the difference."""
    cells = {("doctor", "dark"): {"n": 60, "wrong": 6,
                                  "mass": {"face": 0.1, "object": 0.6, "background": 0.3}},
             ("doctor", "blond"): {"n": 40, "wrong": 4,
                                   "mass": {"face": 0.3, "object": 0.4, "background": 0.3}}}
    found = [f for f in disparity_findings(make_table(cells), ["hair"], tau=0.8,
                                           min_group_size=10, method="gradcam",
                                           spurious_regions=["face"], n_boot=500)
             if f.evidence["metric"] == "mass"]
    assert len(found) == 1
    ev, title = found[0].evidence, found[0].title
    lo, hi = ev["difference_ci"]
    assert ev["difference"] == pytest.approx(0.2, abs=0.02) and lo < ev["difference"] < hi
    assert 0.1 < lo and hi < 0.3
    assert title.startswith("Predictions for hair=blond rest more on the face than those for "
                            "hair=dark")
    assert (f"{100 * ev['difference']:.0f} points more, 95% CI {100 * lo:.0f}–{100 * hi:.0f}, "
            "3.") in title


def test_sanity_failure_is_reported():
    assert sanity_findings({"method": "gradcam", "spearman": 0.2, "passed": True}) == []
    found = sanity_findings({"method": "gradcam", "spearman": 0.93, "passed": False})
    assert found[0].kind == "unreliable_saliency" and found[0].severity == "high"
    assert "0.93" in found[0].title and "Grad-CAM" in found[0].title


def _failed(lo: float, hi: float) -> dict:
    return {"method": "gradcam", "spearman": 0.74, "passed": False, "threshold": 0.5,
            "lowest": {"layer": "layer3.1", "spearman": 0.61, "ci": [lo, hi], "n": 32}}


def test_a_failed_check_is_high_only_when_its_interval_clears_the_threshold():
    high = sanity_findings(_failed(0.55, 0.67))
    assert [f.severity for f in high] == ["high"]
    assert "stays at 0.61 or above" in high[0].title and "layer3.1" in high[0].title
    assert "95% CI 0.55–0.67, 32 images" in high[0].title and "0.74 fully randomised" in \
        high[0].title
    medium = sanity_findings(_failed(0.45, 0.75))
    assert [f.severity for f in medium] == ["medium"]
    assert "only medium: on 32 images the interval reaches below 0.50" in medium[0].title
    assert medium[0].evidence["lowest"]["ci"] == [0.45, 0.75]
    assert sanity_findings({**_failed(0.55, 0.67), "passed": True}) == []


def test_compute_findings_sorted_and_json(cue_table, clean_table):
    found = compute_findings(cue_table, methods=["gradcam"], regions=REGIONS,
                             attributes=["hair"], config=CFG,
                             sanity={"method": "gradcam", "spearman": 0.95, "passed": False})
    kinds = [f.kind for f in found]
    assert kinds[:2] == ["unreliable_saliency", "spurious_cue"]
    assert [f.sort_key() for f in found] == sorted(f.sort_key() for f in found)
    json.dumps([f.to_dict() for f in found], allow_nan=False)
    clean = compute_findings(clean_table, methods=["gradcam"], regions=REGIONS,
                             attributes=["hair"], config=CFG)
    assert clean == []


def test_finding_rejects_unknown_severity():
    with pytest.raises(ValueError):
        Finding("group_gap", "critical", "x")


def test_points_text_words_the_sign_and_keeps_a_narrow_interval_readable():
    assert points_text(-0.18, -0.24, -0.12, 0.95, "higher", "lower") == \
        "18 points lower, 95% CI 12–24"
    assert points_text(0.05, 0.049, 0.052, 0.9, "more", "less") == \
        "5.0 points more, 90% CI 4.9–5.2"
    assert points_text(0.05, float("nan"), float("nan"), 0.95, "more", "less") == \
        "5 points more"


def test_disparity_percentages_subtract_to_the_points_shown():
    """'41% vs 30%, 10 points higher' for 40.52% and 30.2%: whole percents that do not
    subtract to the points, or points with a decimal, get one decimal each."""
    from auditor.metrics.disparity import pct_pair

    size = points_text(0.1032, 0.08, 0.13, 0.95, "more", "less")
    assert size.startswith("10 points more") and pct_pair(0.4052, 0.302, size) == \
        ("40.5%", "30.2%")
    size = points_text(0.26, 0.25, 0.27, 0.95, "more", "less")
    assert pct_pair(0.35, 0.09, size) == ("35%", "9%")  # 35 - 9 = 26: whole percents
    size = points_text(0.0265, 0.026, 0.0269, 0.95, "more", "less")  # "2.6 points"
    assert pct_pair(0.0915, 0.065, size) == ("9.2%", "6.5%")


def test_disparity_points_never_contradict_the_percentages_or_the_minimum_effect():
    """Titles of a review: "2% vs 2% of the Grad-CAM attention (0 points more, 95% CI 0–1" for
    2.15% against 1.68%, and "20.3% vs 15.8% (5 points more, …; the difference is under the
    5-point minimum effect)" for 4.58 points. A difference that rounds to 0 points, or one
    under the bar that rounds up to it, gets a decimal; the percentages follow."""
    from auditor.metrics.disparity import pct_pair

    size = points_text(0.0215 - 0.0168, 0.001, 0.009, 0.95, "more", "less", bar=0.05)
    assert size == "0.5 points more, 95% CI 0.1–0.9"
    assert pct_pair(0.0215, 0.0168, size) == ("2.1%", "1.7%")
    size = points_text(0.2033 - 0.1575, 0.001, 0.09, 0.95, "more", "less", bar=0.05)
    assert size == "4.6 points more, 95% CI 0.1–9.0"
    assert pct_pair(0.2033, 0.1575, size) == ("20.3%", "15.8%")
    # at or over the bar, or without one: whole points as before
    assert points_text(0.0502, 0.01, 0.09, 0.95, "more", "less", bar=0.05).startswith("5 points")
    assert points_text(0.0458, 0.01, 0.09, 0.95, "more", "less").startswith("5 points")


def test_intervals_with_a_negative_end_use_a_minus_sign_and_to():
    """"36 points lower, 95% CI -2–59" (a review) read as a range of hyphens."""
    assert points_text(-0.36, -0.59, 0.02, 0.95, "higher", "lower") == \
        "36 points lower, 95% CI \u22122 to 59"
    assert points_text(0.36, -0.004, 0.59, 0.95, "higher", "lower") == \
        "36 points higher, 95% CI 0–59"  # a negative end that rounds to 0 is 0

"""Hotspot and concept findings: severities from hand-made evidence."""

import numpy as np
import pandas as pd

from auditor.metrics.cue_findings import concept_findings, hotspot_findings
from auditor.metrics.hotspots import place

SPOT = {"name": "hotspot_1", "box": [0.0, 0.0, 0.125, 0.125], "cell": "class doctor",
        "peak_lift": 6.0, "cell_mass": 0.3}


def _df(flips, n=200, group_mass=False, seed=0):
    rng = np.random.default_rng(seed)
    hair = np.where(np.arange(n) % 2 == 0, "dark", "blond")
    mass = 0.02 + 0.01 * rng.random(n)
    if group_mass:
        mass = np.where(hair == "blond", mass * 3, mass)
    return pd.DataFrame({"label": np.where(np.arange(n) < n // 2, "doctor", "nurse"),
                         "hair": hair, "mass_gradcam_hotspot_1": mass,
                         "area_hotspot_1": np.full(n, 0.015),
                         "flip_hotspot_1": np.arange(n) < flips})


def test_place_names_the_corner():
    assert place([0.0, 0.0, 0.125, 0.125]).startswith("top left corner (x 0%–12%")
    assert place([0.4, 0.4, 0.6, 0.6]).startswith("centre")
    assert place([0.4, 0.0, 0.6, 0.2]).startswith("top (")


def test_hotspot_reliance_makes_it_high():
    (f,) = hotspot_findings(_df(flips=80), [SPOT], "gradcam", ["hair"])
    assert f.kind == "hotspot" and f.severity == "high"
    assert f.evidence["reliance"]["cell"] == "class doctor"  # 80 of its 100 flip
    assert "top left corner" in f.title and "80%" in f.title


def test_hotspot_group_difference_is_medium_and_nothing_is_low():
    (f,) = hotspot_findings(_df(flips=0, group_mass=True), [SPOT], "gradcam", ["hair"])
    assert f.severity == "medium" and f.evidence["group_differences"][0]["value"] == "dark"
    assert "only medium: high needs masking to change at least 20%" in f.title
    g = f.evidence["group_differences"][0]  # dark 2.5% of the map, blond 7.5%: 5 points less
    lo, hi = g["difference_ci"]
    assert g["difference"] == g["mass"] - g["reference_mass"] and -0.06 < lo < -0.05 < hi < -0.04
    assert (f"samples with hair=dark put 3% of the map on it against 8% for hair=blond "
            f"({-100 * g['difference']:.1f} points less, 95% CI {-100 * hi:.1f}–{-100 * lo:.1f}, "
            "0.33 times, n=100 and 100, corrected p=") in f.title  # narrow: one decimal
    (f,) = hotspot_findings(_df(flips=1), [SPOT], "gradcam", ["hair"])
    assert f.severity == "low"


def _pasted(follow_every, placebo_every, n=200):
    """No masking flips; of class doctor, one image in ``follow_every`` follows a pasted
    corner from class nurse and one in ``placebo_every`` changes with a doctor's corner."""
    df = _df(flips=0, n=n)
    i = np.arange(n)
    doctor = df["label"] == "doctor"
    df["paste_follow_hotspot_1"] = np.where(doctor, (i % follow_every == 0).astype(float), 0.0)
    df["paste_placebo_hotspot_1"] = np.where(doctor, (i % placebo_every == 0).astype(float),
                                             0.0)
    return df


def test_hotspot_paste_that_predictions_follow_makes_it_high():
    (f,) = hotspot_findings(_pasted(follow_every=2, placebo_every=100), [SPOT], "gradcam",
                            ["hair"])
    paste = f.evidence["paste"]
    assert f.severity == "high" and paste["follows"] is True
    assert paste["cell"] == "class doctor" and paste["follow_rate"] == 0.5
    assert paste["n_follow"] == 100 and paste["placebo_flip_rate"] == 0.01
    assert "pasting it from an image the model assigns to another class sends 50% of the " \
           "predictions of class doctor to that class" in f.title
    assert "from one it assigns to the same class it changes 1% (CI 0.2%–5%, n=100)" in f.title


def test_hotspot_paste_that_disrupts_as_much_as_the_placebo_is_not_high():
    # half the doctors change whichever corner is pasted: disruption, not a cue
    (f,) = hotspot_findings(_pasted(follow_every=2, placebo_every=2), [SPOT], "gradcam",
                            ["hair"])
    assert f.severity != "high" and f.evidence["paste"]["follows"] is False


def _concept(flip_rate, lo, p_adj, odds, what="attribute"):
    test = {"what": what, "p_adj": p_adj, "odds_ratio": odds, "rate_in": 0.9, "n_in": 50,
            "rate_out": 0.1, "n_out": 70}
    test.update({"class": "nurse"} if what == "errors" else {"attribute": "hair",
                                                               "value": "dark"})
    return {"concept": 3, "top": [{"id": "a", "row": 0, "col": 0}],
            "importance": {"doctor": {"flip_rate": flip_rate, "ci": [lo, flip_rate + 0.05],
                                      "n": 120, "prob_drop": flip_rate}},
            "tests": [test]}


def test_concept_findings_need_importance_and_association():
    (f,) = concept_findings([_concept(0.5, 0.4, 1e-9, 50.0)])
    assert f.kind == "concept" and f.severity == "high" and f.evidence["class"] == "doctor"
    assert "only medium" not in f.title
    (f,) = concept_findings([_concept(0.08, 0.06, 1e-9, 50.0)])
    assert f.severity == "medium"
    # the bar and the measured numbers, told apart (it read "(lower bound 10%)", the bar, as
    # if measured; an outside check of an unannotated run)
    assert f.title.endswith("only medium: high needs removing it to change at least 20% of the "
                            "predictions with a lower bound of at least 10% (here 8%, lower "
                            "bound 6%); the class's probability drops by less than 0.1 on "
                            "average.")
    # the probability drop carries its interval when measured (0.11 whose interval reaches
    # under the 0.1 bar read as clearing it)
    c = _concept(0.08, 0.06, 1e-9, 50.0)
    c["importance"]["doctor"].update(prob_drop=0.1053, prob_drop_ci=[0.087, 0.127])
    (f,) = concept_findings([c])
    assert "lowers their probability by 0.11 on average (CI 0.09–0.13, n=120)" in f.title
    (f,) = concept_findings([_concept(0.5, 0.4, 0.01, 2.5)])
    assert f.severity == "medium"
    assert ("high needs corrected p < 0.001 and odds ratio 3 (here p=0.010, odds ratio 2.5)"
            in f.title)
    assert "removing it changes fewer" not in f.title
    weak = _concept(0.5, 0.4, 1e-9, 50.0)
    weak["importance"]["doctor"]["prob_drop"] = 0.03  # borderline answers flip: not high
    assert concept_findings([weak])[0].severity == "medium"
    assert concept_findings([_concept(0.01, 0.0, 1e-9, 50.0)]) == []  # not important
    assert concept_findings([_concept(0.5, 0.4, 0.2, 50.0)]) == []  # not associated


def test_concept_associated_with_errors_only_is_at_most_medium():
    # a concept that drives "doctor" is present in nurses mistaken for doctors by construction
    (f,) = concept_findings([_concept(0.5, 0.4, 1e-9, 50.0, what="errors")])
    assert f.severity == "medium"
    assert "only medium: its association is with a class's errors" in f.title
    assert "present in 90% of the errors on class nurse" in f.title
    # an attribute association, when there is one, is the one reported
    both = _concept(0.5, 0.4, 1e-9, 50.0, what="errors")
    both["tests"].append(_concept(0.5, 0.4, 1e-6, 40.0)["tests"][0])
    (f,) = concept_findings([both])
    assert f.severity == "high" and f.evidence["association"]["what"] == "attribute"


def _unannotated(right_when_flipped):
    """60 doctors' predictions change when the hotspot is masked; they were all called doctor
    and were right (the model reads the object there) or half of them were nurses (a cue
    unrelated to the label in this split)."""
    n = 200
    df = _df(flips=0, n=n)
    i = np.arange(n)
    flipped = (i % 10 < 3) | (i % 10 == 5)  # 80 of 200: 40 doctors, 40 nurses
    df["flip_hotspot_1"] = flipped
    df["pred"] = np.where(flipped, "doctor", df["label"])
    if right_when_flipped:
        df["pred"] = np.where(flipped, df["label"], df["pred"])
    df["correct"] = df["pred"] == df["label"]
    return df


def test_decided_by_tells_the_object_from_a_cue_unrelated_to_the_label():
    from auditor.metrics.cue_findings import decided_by

    obj = decided_by(_unannotated(True), "hotspot_1", 0.95)
    assert (obj["n"], obj["right"], obj["chance"]) == (80, 80, 0.5)  # chance: 50/50 labels
    assert obj["p"] < 1e-20
    cue = decided_by(_unannotated(False), "hotspot_1", 0.95)
    assert (cue["n"], cue["right"], cue["chance"]) == (80, 40, 0.5)
    assert cue["p"] > 0.4  # right exactly as often as a guess: no evidence of the object
    assert decided_by(_df(flips=0), "hotspot_1", 0.95) is None


def test_without_an_expected_region_a_hotspot_that_decides_right_is_at_most_medium():
    (obj,) = hotspot_findings(_unannotated(True), [SPOT], "gradcam", ["hair"],
                              expected_annotated=False)
    assert obj.severity == "medium"
    assert "were right in 100% (95% CI 95%–100%, n=80) against 50% by chance" in obj.title
    assert "it may be what the class looks like" in obj.title
    assert obj.evidence["decided"]["right"] == 80
    (cue,) = hotspot_findings(_unannotated(False), [SPOT], "gradcam", ["hair"],
                              expected_annotated=False)
    assert cue.severity == "high" and "right in 50%" in cue.title
    # with the expected region annotated a hotspot lies outside the object: high either way
    (outside,) = hotspot_findings(_unannotated(True), [SPOT], "gradcam", ["hair"])
    assert outside.severity == "high" and "by chance" not in outside.title

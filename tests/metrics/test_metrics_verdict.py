"""Verdicts per model and the headline of what changed, on hand-made summary blocks."""

from auditor.metrics.verdict import comparison_headline, model_verdict


def _cue(region, follow, severity="high"):
    return {"kind": "spurious_cue", "severity": severity, "title": "t", "evidence": {
        "region": region, "severity_reasons": ["swap_follows"],
        "causal": {"swap": {"swap": f"hair:{region}", "features": {"label": "doctor"},
                            "follow_rate": follow, "follow_ci": [follow - 0.1, follow + 0.05],
                            "n_follow": 250},
                   "masking": None}}}


def _block(findings, worst, follow_after=None):
    swaps = {} if follow_after is None else {"hair:face": {
        "follow_rate": 0.5, "by_class": {"doctor": {
            "follow_rate": follow_after, "follow_ci": [0.05, 0.12], "n_follow": 240}}}}
    group = "label=doctor & hair=blond"
    return {"findings": findings, "swaps": swaps,
            "metrics": {"worst_group_accuracy": worst, "worst_group": group},
            "groups": {"cells": [{"group": group, "n": 250, "ci": [worst - 0.03, worst + 0.04]}]}}


def test_verdict_names_the_shortcut_and_the_ignored_region():
    ignored = {"kind": "ignored_region", "severity": "high", "title": "t",
               "evidence": {"region": "object"}}
    gap = {"kind": "group_gap", "severity": "high", "title": "t", "evidence": {}}
    v = model_verdict(_block([_cue("face", 0.9), ignored, gap], 0.06))
    assert v["status"] == "not_ready" and v["shortcuts"] == ["face"] and v["ignored"] == ["object"]
    assert v["text"] == ("Not ready to ship: it takes a shortcut through the face, ignores the "
                         "object and has 1 other high-severity flag (group gap); worst-group "
                         "accuracy 6% (3%–10%, n=250) (label=doctor & hair=blond).")
    alone = model_verdict(_block([gap, gap], 0.5))["text"]
    assert alone.startswith("Not ready to ship: it has 2 high-severity flags (group gap ×2);")
    assert model_verdict(_block([], 0.8))["status"] == "ok"
    medium = model_verdict(_block([_cue("face", 0.9, "medium")], 0.8))
    assert medium["status"] == "review" and "1 medium-severity flag" in medium["text"]


def test_headline_says_what_rebalancing_removed():
    models = {"baseline": _block([_cue("face", 0.92)], 0.06),
              "rebalanced": _block([], 0.81, follow_after=0.08)}
    text = comparison_headline(models, "baseline")
    assert text == ("rebalanced removes the face shortcut (swapping in the face sends 92% "
                    "(82%–97%, n=250) → 8% (5%–12%, n=240) of predictions to the class it goes "
                    "with); worst-group accuracy 6% (3%–10%, n=250) → 81% (78%–85%, n=250).")
    weaker = {"baseline": models["baseline"],
              "rebalanced": _block([_cue("face", 0.3, "medium")], 0.72, follow_after=0.15)}
    assert comparison_headline(weaker, "baseline").startswith(
        "rebalanced weakens the face shortcut (swapping in the face sends 92% (82%–97%, n=250) → "
        "15% (5%–12%, n=240) of predictions to the class it goes with; a medium finding on it "
        "remains); worst-group accuracy 6%")
    placebo = _block([_cue("face", 0.3, "medium")], 0.72, follow_after=0.23)
    placebo["swaps"]["hair:face"]["by_class"]["doctor"].update(
        {"placebo": "same_value", "placebo_rate": 0.1, "placebo_ci": [0.07, 0.14]})
    assert ("sends 92% (82%–97%, n=250) → 23% (5%–12%, n=240; 10% for a face of the same "
            "hair) of predictions to the class it goes with" in comparison_headline(
                {"baseline": models["baseline"], "rebalanced": placebo}, "baseline"))
    kept = {"baseline": models["baseline"], "other": _block([_cue("face", 0.9)], 0.1, 0.85)}
    assert comparison_headline(kept, "baseline").startswith("other keeps the face shortcut")
    assert comparison_headline({"baseline": models["baseline"]}, "baseline") is None


def test_headline_without_high_shortcuts_says_what_became_of_the_medium_ones():
    """A baseline whose background reliance is real but medium (scenes-0.95 at seed 2) must
    not read as 'no shortcut either'."""
    base = _block([_cue("background", 0.16, "medium")], 0.80)
    text = comparison_headline({"baseline": base, "rebalanced": _block([], 0.96)}, "baseline")
    assert text.startswith("rebalanced clears the medium background finding (neither model "
                           "takes a high-severity shortcut); worst-group accuracy 80%")
    both = {"baseline": base, "other": _block([_cue("background", 0.2, "medium")], 0.9)}
    assert comparison_headline(both, "baseline").startswith(
        "other keeps a medium background finding (neither")
    none = {"baseline": _block([], 0.9), "other": _block([], 0.95)}
    assert comparison_headline(none, "baseline").startswith("other shows no shortcut either;")


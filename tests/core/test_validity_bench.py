"""bench/validity.py scores findings as docs/validity.md says (hand-made summaries)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "validity", Path(__file__).resolve().parents[2] / "bench" / "validity.py")
validity = importlib.util.module_from_spec(_spec)
sys.modules["validity"] = validity  # dataclasses look their module up while it loads
_spec.loader.exec_module(validity)


def _finding(kind, severity, region=None, reasons=(), title="t"):
    return {"kind": kind, "severity": severity, "title": title,
            "evidence": {"region": region, "severity_reasons": list(reasons)}}


def _summary(baseline, rebalanced):
    metrics = {"accuracy": 0.9, "worst_group_accuracy": 0.8}
    return {"models": {"baseline": {"metrics": metrics, "findings": baseline},
                       "rebalanced": {"metrics": metrics, "findings": rebalanced}}}


def test_planted_case_hit_needs_high_causal_finding_on_the_planted_region():
    case = validity.CASES["clinic-0.95"]
    hit = validity.score(case, _summary(
        [_finding("spurious_cue", "high", "face", ["swap_follows"])], []))
    assert hit["hit"] is True and hit["false_alarms"] == []
    # attention alone (no causal evidence), or another region, is no hit
    for f in (_finding("spurious_cue", "high", "face", ["lift"]),
              _finding("spurious_cue", "high", "background", ["swap_follows"])):
        assert validity.score(case, _summary([f], []))["hit"] is False


def test_planted_case_scores_only_shortcut_kinds_of_the_rebalanced_model():
    case = validity.CASES["clinic-0.95"]
    out = validity.score(case, _summary([], [
        _finding("spurious_cue", "high", "face", ["reliance"]),
        _finding("group_gap", "high"),  # trained on biased data too: may be real
        _finding("ignored_region", "medium", "object")]))
    assert [(f["model"], f["kind"]) for f in out["false_alarms"]] == [
        ("rebalanced", "spurious_cue")]
    assert [(f["model"], f["kind"]) for f in out["listed"]] == [
        ("rebalanced", "ignored_region")]


def test_null_case_counts_every_high_finding_of_any_kind_and_lists_mediums():
    case = validity.CASES["clinic-null"]
    out = validity.score(case, _summary(
        [_finding("misclassification_cluster", "high"), _finding("slice", "low")],
        [_finding("spurious_cue", "medium", "face", title="Swapping the face ...")]))
    assert out["hit"] is None
    assert [(f["model"], f["kind"]) for f in out["false_alarms"]] == [
        ("baseline", "misclassification_cluster")]
    text = validity.medium_texts([{"case": "clinic-null", "seed": 3, **out}])
    assert text == "- `clinic-null` seed 3, rebalanced, spurious_cue: Swapping the face ..."

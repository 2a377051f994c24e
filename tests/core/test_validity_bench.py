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


def _cue(kind, severity, box=None, concept=None):
    ev = {"box": box} if kind == "hotspot" else {"concept": concept}
    return {"kind": kind, "severity": severity, "title": "t", "evidence": ev}


def test_mark_case_hit_is_a_high_hotspot_or_concept_on_the_mark():
    case = validity.CASES["mark-0.95"]
    mark_box, far_box = [0.0, 0.0, 0.15, 0.15], [0.7, 0.7, 0.9, 0.9]
    out = validity.score(case, _summary([_cue("hotspot", "high", mark_box)], []))
    assert out["hit"] is True and out["false_alarms"] == []
    out = validity.score(case, _summary([_cue("hotspot", "medium", mark_box)], []))
    assert out["hit"] is False and [f["severity"] for f in out["listed"]] == ["medium"]
    # a high hotspot elsewhere is a false alarm, for either model; on the mark it is not one
    # for rebalanced (it balances hair, not the mark)
    out = validity.score(case, _summary([_cue("hotspot", "high", far_box)],
                                        [_cue("hotspot", "high", mark_box)]))
    assert out["hit"] is False
    assert [(f["model"], f["on_mark"]) for f in out["false_alarms"]] == [("baseline", False)]
    # a concept whose strongest positions lie on the mark (grid 8x8: the mark is near (0, 0))
    summary = _summary([_cue("concept", "high", concept=2)], [])
    summary["models"]["baseline"]["concepts"] = {"grid": [8, 8], "items": [
        {"concept": 2, "top": [{"row": 0, "col": 1}, {"row": 1, "col": 0},
                               {"row": 6, "col": 6}]}]}
    assert validity.score(case, summary)["hit"] is True
    summary["models"]["baseline"]["concepts"]["items"][0]["top"] = [{"row": 6, "col": 6}]
    assert validity.score(case, summary)["hit"] is False


def test_mark_null_case_counts_any_high_cue_finding():
    case = validity.CASES["mark-null"]
    out = validity.score(case, _summary([_cue("hotspot", "high", [0.0, 0.0, 0.1, 0.1])],
                                        [_cue("concept", "medium", concept=1)]))
    assert out["hit"] is None
    assert [(f["model"], f["kind"]) for f in out["false_alarms"]] == [("baseline", "hotspot")]
    assert [(f["model"], f["kind"]) for f in out["listed"]] == [("rebalanced", "concept")]
    cfg = validity.config_for(case, 0, validity.Path("/tmp/x"))
    assert cfg["analysis"]["cues"] == "on"
    assert cfg["data"]["synthetic"]["corner_mark"] == 0.5

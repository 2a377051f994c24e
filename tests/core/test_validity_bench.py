"""bench/validity.py scores findings as docs/validity.md says (hand-made summaries)."""

import importlib.util
import json
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


def _gap(relies):
    return {"gap": 0.4 if relies else 0.02, "ci": [0.3, 0.5] if relies else [-0.05, 0.09],
            "n_agree": 200, "n_disagree": 200, "relies": relies}


def test_a_rebalanced_model_the_oracle_finds_relying_on_the_cue_is_no_false_alarm():
    """Rebalancing by a random site (or from too few minority images) may leave the shortcut
    in place: the oracle's accuracy gap says so, and a HIGH on that model is then listed."""
    case = validity.CASES["scenes-0.98-unrecorded"]
    lead = _finding("spurious_cue", "high", "background", ["lead_follows"])
    gaps = {"baseline": _gap(True), "rebalanced": _gap(True)}
    out = validity.score(case, _summary([lead], [lead]), gaps)
    assert out["hit"] is True and out["false_alarms"] == []
    assert [(f["model"], f["severity"]) for f in out["listed"]] == [
        ("baseline", "high"), ("rebalanced", "high")]
    assert out["metrics"]["rebalanced"]["cue_gap"]["relies"] is True
    gaps["rebalanced"] = _gap(False)
    out = validity.score(validity.CASES["scenes-0.98"], _summary([lead], [lead]), gaps)
    assert [f["model"] for f in out["false_alarms"]] == ["rebalanced"]


def test_oracle_gap_is_accuracy_where_the_cue_agrees_minus_where_it_disagrees():
    import pandas as pd

    from bench.oracle import cue_gap

    # cat<->nature planted: agree rows 4 (3 right), disagree rows 4 (1 right)
    rows = pd.DataFrame({"label": ["cat"] * 4 + ["cup"] * 4,
                         "correct": [1, 1, 0, 1, 0, 0, 1, 0]})
    values = pd.Series(["nature", "nature", "urban", "urban", "urban", "urban", "nature",
                        "nature"])
    g = cue_gap(rows, values, {"cat": "nature", "cup": "urban"})
    # agree: cat/nature x2 (2 right), cup/urban x2 (0 right) -> 2/4; disagree: cat/urban x2
    # (1 right), cup/nature x2 (1 right) -> 2/4
    assert (g["n_agree"], g["n_disagree"]) == (4, 4) and g["gap"] == 0.0
    assert g["relies"] is False and g["ci"][0] < 0 < g["ci"][1]
    big = pd.DataFrame({"label": ["cat"] * 200, "correct": [1] * 100 + [0] * 100})
    g = cue_gap(big, pd.Series(["nature"] * 100 + ["urban"] * 100), {"cat": "nature"})
    assert g["gap"] == 1.0 and g["relies"] is True


def test_holdout_replication_lists_a_true_subgroup_gap_and_counts_one_that_vanishes():
    """A null case may hold a real subgroup gap (cluttered photos hide strokes): a HIGH
    cluster whose claim holds on fresh images is listed, one that does not is counted."""
    import pandas as pd

    from bench.oracle import replicates

    case = validity.CASES["digits-null"]
    cluster = {"kind": "misclassification_cluster", "severity": "high", "title": "t",
               "evidence": {"slice": {"true": "one", "pred": "zero", "attribute": "scene",
                                      "value": "urban"}}}
    def fresh(k_urban, k_nature, n=500):
        return pd.DataFrame({
            "label": ["one"] * (2 * n), "scene": ["urban"] * n + ["nature"] * n,
            "pred": (["zero"] * k_urban + ["one"] * (n - k_urban) + ["zero"] * k_nature
                     + ["one"] * (n - k_nature)),
            "correct": [False] * k_urban + [True] * (n - k_urban) + [False] * k_nature
                       + [True] * (n - k_nature)})
    real, vanished = fresh(60, 5), fresh(12, 10)
    assert replicates(cluster, real) is True and replicates(cluster, vanished) is False
    # a real but smaller gap (5 points, CI 3-8) does not carry a claim of 10 points
    assert replicates(cluster, fresh(33, 6)) is False
    out = validity.score(case, _summary([cluster], [cluster]), None,
                         {"baseline": real, "rebalanced": vanished})
    assert [f["model"] for f in out["false_alarms"]] == ["rebalanced"]
    assert [(f["model"], f["replicates"]) for f in out["listed"]] == [("baseline", True)]
    row = validity.table([{"case": "digits-null", "seed": 0, **out}]).splitlines()[-1]
    assert "| rebalanced misclassification_cluster(None) ×1 |" in row  # the false alarm
    assert "| baseline misclassification_cluster(None), replicates ×1 |" in row  # listed, true
    gap = {"kind": "group_gap", "severity": "high", "title": "t", "evidence": {
        "worst_group": {"features": {"label": "one", "scene": "urban"}},
        "best_group": {"features": {"label": "one", "scene": "nature"}}}}
    assert replicates(gap, real) is True and replicates(gap, vanished) is False
    assert replicates({"kind": "slice", "evidence": {}}, real) is None


def test_digits_write_boxed_handwriting_the_config_accepts(tmp_path):
    import pandas as pd

    from auditor.config import parse_config
    from bench.digit_scenes import generate

    data = generate(0, tmp_path / "data", bias=0.9, n_train=20, n_test=8, n_val=4)
    manifest = pd.read_csv(data["manifest"])
    assert manifest["split"].value_counts().to_dict() == {"train": 20, "test": 8, "val": 4}
    train = manifest[manifest["split"] == "train"]
    agree = (train["label"] == "zero") == (train["scene"] == "nature")
    assert agree.sum() == 18  # 90% of each class of 10
    coco = json.loads(Path(data["regions"]["path"]).read_text())
    assert {c["name"] for c in coco["categories"]} == {"digit"}
    assert all("segmentation" not in a and a["bbox"][2] > 4 for a in coco["annotations"])
    cfg = parse_config({"name": "t", "output_dir": str(tmp_path / "run"), "data": data,
                        "models": [{"name": "m"}]}, base_dir=tmp_path)
    assert cfg.data.attributes == ["scene"]


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


def test_null_shapes_write_a_dataset_the_config_accepts(tmp_path):
    """The opt-in shapes-null cases: attributes drawn independently of the class, COCO regions
    for the object and the patch, a data section parse_config takes."""
    import pandas as pd

    from auditor.config import parse_config
    from bench.null_shapes import generate

    data = generate("4x2", 0, tmp_path / "data", n_train=30, n_val=0, n_test=10)
    manifest = pd.read_csv(data["manifest"])
    assert list(manifest.columns) == ["path", "label", "split", "tint", "patch"]
    assert manifest["split"].value_counts().to_dict() == {"train": 30, "test": 10}
    assert set(manifest["label"]) <= {"circle", "square", "triangle", "cross"}
    cfg = parse_config({"name": "t", "output_dir": str(tmp_path / "run"), "data": data,
                        "models": [{"name": "m"}]}, base_dir=tmp_path)
    assert cfg.data.attributes == ["tint", "patch"]
    coco = json.loads(Path(data["regions"]["path"]).read_text())
    assert len(coco["images"]) == 40 and len(coco["annotations"]) == 80
    case = validity.CASES["shapes-null-4x2"]
    assert case.planted is None and case.attributes == ["tint", "patch"]


def test_slice_power_bench_finds_a_large_planted_subgroup_and_no_false_one():
    """bench/slice_power.py: a 30-point subgroup in 150-sample cells is found high, and a
    class that is merely harder names no subgroup (docs/findings.md, Calibration)."""
    import numpy as np

    from bench import slice_power

    rng = np.random.default_rng(0)
    assert slice_power.grade(slice_power.table(rng, 450, planted=0.3),
                             {"label": "1", "patch": "red"}) == "high"
    assert slice_power.grade(slice_power.table(rng, 240, harder=0.3), None) is None


def test_four_digit_set_gives_each_digit_its_own_photo_in_train_and_balances_test(tmp_path):
    import pandas as pd

    from bench.digit_scenes import CLASSES4, PHOTOS4, generate

    data = generate(0, tmp_path / "d4", bias=0.75, n_train=40, n_test=32, four=True)
    table = pd.read_csv(data["manifest"])
    train, test = table[table["split"] == "train"], table[table["split"] == "test"]
    own = dict(zip(CLASSES4, PHOTOS4, strict=True))
    assert (train["label"].map(own) == train["scene"]).sum() == 4 * round(0.75 * 10)
    assert set(train.loc[train["label"].map(own) != train["scene"], "scene"]) <= set(PHOTOS4)
    assert test.groupby(["label", "scene"]).size().tolist() == [2] * 16


def test_other_shapes_are_opt_in_cases_whose_data_the_config_accepts(tmp_path, monkeypatch):
    """The other-* cases (bench/other_shapes.py) plant the cue at the case's bias in train,
    balance test over class x value, write a mask per region, and stay out of the default
    sweep; `--cases other` names them all."""
    import pandas as pd

    from auditor.config import parse_config
    from auditor.data.dataset import load_data

    case = validity.CASES["other-frame-0.95"]
    assert case.planted == "frame" and not case.default
    assert case.cue == ("frame", {"cat": "red", "cup": "blue"})
    assert case.analysis == {"spurious_regions": ["frame", "background"]}
    assert validity.CASES["other-three-null"].planted is None
    assert validity.CASES["clinic-0.95"].default
    small = validity.generate_other  # the case's own sizes (1200 / 400) take 15 s to draw
    monkeypatch.setattr(validity, "generate_other",
                        lambda *a, **k: small(*a, **k, n_train=200, n_test=40))
    data = case.data(0, tmp_path)
    cfg = parse_config({"name": "t", "output_dir": str(tmp_path / "run"), "data": data,
                        "models": [{"name": "m"}]}, base_dir=tmp_path)
    manifest = pd.read_csv(data["manifest"])
    train = manifest[manifest["split"] == "train"]
    agree = (train["frame"] == train["label"].map({"cat": "red", "cup": "blue"})).mean()
    assert agree == 0.95  # 95 of each class's 100 train images
    test = manifest[manifest["split"] == "test"]
    assert set(test.groupby(["label", "frame"]).size()) == {10}
    bundle = load_data(cfg.data, seed=0)
    assert set(bundle.regions) == {"object", "frame", "background"}

"""The paired-comparison view-model: deltas with intervals, tests and top-region shifts."""

from auditor.report.comparison import pair_view

COMP = {
    "baseline": "baseline", "candidate": "rebalanced", "level": 0.95, "mcnemar_p": 7e-78,
    "accuracy": {"baseline": 0.533, "candidate": 0.915, "delta": 0.382, "ci": [0.35, 0.414],
                 "n": 1000},
    "worst_group": {"baseline": {"group": "label=doctor, hair=blond", "n": 250,
                                 "accuracy": 0.068},
                    "candidate": {"group": "label=nurse, hair=dark", "n": 250,
                                  "accuracy": 0.808}, "delta": 0.74},
    "mcnemar": {"b": 17, "c": 399, "p": 7e-78, "method": "chi2"},
    "by_group": {"hair": {"blond": {"n": 500, "baseline": 0.534, "candidate": 0.946,
                                    "delta": 0.412, "ci": [0.366, 0.458]}}},
    "attention": {"gradcam": {"face": {"n": 1000, "baseline": 0.217, "candidate": 0.075,
                                       "delta": -0.142, "ci": [-0.152, -0.132],
                                       "wilcoxon_p": 1e-108}}},
    "top_region": {"method": "gradcam", "by": "lift", "n": 1000, "changed_share": 0.763,
                   "transitions": {"face->object": 480, "background->object": 194},
                   "examples": {"face->object": ["a.png", "b.png", "c.png", "d.png"]}},
}


def test_pair_view_tables():
    v = pair_view(COMP)
    assert v["headline"][0] == ["accuracy", "53.3%", "91.5%", "+38.2 pp", "+35.0 to +41.4 pp",
                                "1,000"]
    assert "label=doctor, hair=blond" in v["headline"][1][1]
    assert "399 samples fixed by rebalanced, 17 broken" in v["mcnemar"]
    assert v["groups"][0][:2] == ["hair=blond", "500"] and v["groups"][0][4] == "+41.2 pp"
    assert v["attention"][0][:5] == ["gradcam", "face", "21.7%", "7.5%", "-14.2 pp"]
    assert v["transitions"][0][:3] == ["face → object", "480", "48.0%"]
    assert v["transitions"][0][3] == "a.png, b.png, c.png"
    assert "highest lift" in v["top_sentence"] and "76.3%" in v["top_sentence"]


def test_pair_view_missing_blocks():
    v = pair_view({"baseline": "a", "candidate": "b", "mcnemar_p": 0.5})
    assert v["groups"] == [] and v["attention"] == [] and v["transitions"] == []
    assert v["mcnemar"].endswith("p = 0.5.") or "p = 0.50" in v["mcnemar"]
    assert v["headline"][0][1] == "–"


def test_a_delta_is_bold_only_when_its_interval_and_its_test_agree():
    """The clinic comparison (a review) bolded "face mass Δ -1.3 pp, -2.4 to -0.4 pp" beside
    "Wilcoxon p 0.758" under a caption saying bold deltas are real changes: the bootstrap
    interval is of the mean change, Wilcoxon's test of the typical sample's, and a few samples
    moving a lot move the first only. Bold now needs both."""
    from pathlib import Path

    from helpers.planted_compare import METHODS, REGIONS, planted_samples

    from auditor.metrics.compare_result import CompareResult, RunInfo
    from auditor.metrics.comparison import compare_models
    from auditor.report.compare_page import build_compare_context

    comp = compare_models(planted_samples(), "baseline", "rebalanced", methods=METHODS,
                          regions=REGIONS, attributes=["hair"], n_boot=200)
    method = next(iter(comp.attention))
    region = next(iter(comp.attention[method]))
    entry = comp.attention[method][region]
    entry.update(delta=-0.0134, ci=[-0.024, -0.004], wilcoxon_p=0.758)
    runs = [RunInfo(Path(s), s, s, s) for s in ("a", "b")]
    result = CompareResult(run_a=runs[0], run_b=runs[1], comparison=comp, audit_split="test",
                           classes=["doctor", "nurse"], regions=list(REGIONS),
                           attributes=["hair"], methods=list(METHODS))
    ctx = build_compare_context(result)
    row = next(r for r in ctx["attention"] if (r["method"], r["region"]) == (method, region))
    assert row["ci"] == "-2.4 to -0.4 pp" and row["p"] == "0.758"
    assert not row["strong"]
    entry.update(wilcoxon_p=0.001)
    row = next(r for r in build_compare_context(result)["attention"]
               if (r["method"], r["region"]) == (method, region))
    assert row["strong"]
    assert ctx["alpha"] == "0.05"

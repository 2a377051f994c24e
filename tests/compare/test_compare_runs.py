"""compare_runs on two fake run directories; HTML/PDF/JSON outputs."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from helpers.planted_compare import METHODS, REGIONS, planted_samples

from auditor.errors import CompareError
from auditor.pipeline.compare_runs import compare_runs, render_compare_html, write_compare_outputs


def _write_run(path, table, *, name, classes=("doctor", "nurse"), models=None):
    path.mkdir(parents=True)
    models = models or list(dict.fromkeys(table["model"]))
    summary = {
        "schema": "auditor.summary/1", "name": name, "created": "2026-11-23T16:00:00+00:00",
        "dataset": {"n_samples": int(table["id"].nunique()), "classes": list(classes),
                    "regions": REGIONS, "attributes": ["hair"]},
        "models": {m: {"attention": {meth: {} for meth in METHODS}} for m in models},
        "comparisons": [],
    }
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "config.resolved.yaml").write_text("data:\n  audit_split: test\n")
    table.to_parquet(path / "samples.parquet", index=False)
    return path


@pytest.fixture
def runs(tmp_path):
    full = planted_samples(extra_model=False)
    base = full[full.model == "baseline"]
    cand = full[full.model == "rebalanced"]
    # run A holds only "baseline"; run B holds "baseline" (same name, clash) and "rebalanced",
    # plus train-split rows that must be ignored.
    train = base.assign(split="train", id=base["id"] + "_train")
    run_a = _write_run(tmp_path / "a", base, name="before")
    run_b = _write_run(tmp_path / "b", pd.concat([cand, base.assign(correct=False), train]),
                       name="after", models=["baseline", "rebalanced"])
    return run_a, run_b, base, cand


def test_compare_runs_defaults_and_selection(runs):
    run_a, run_b, _, _ = runs
    res = compare_runs(run_a, run_b, n_boot=200)
    # both sides default to the model named "baseline": the names clash -> "A:"/"B:" labels
    assert (res.run_a.model, res.run_b.model) == ("baseline", "baseline")
    assert (res.comparison.baseline, res.comparison.candidate) == ("A:baseline", "B:baseline")
    assert res.comparison.accuracy["candidate"] == 0.0  # B's "baseline" is all wrong here
    assert res.audit_split == "test" and res.comparison.n == 400

    res = compare_runs(run_a, run_b, model_b="rebalanced", n_boot=200)
    assert res.comparison.candidate == "rebalanced"
    assert (res.comparison.mcnemar.b, res.comparison.mcnemar.c) == (5, 30)
    assert res.comparison.top_region["transitions"] == {"face->object": 312}
    assert res.methods == METHODS and res.attributes == ["hair"]
    d = res.to_dict()
    assert d["schema"] == "auditor.compare/1"
    assert d["comparisons"][0]["mcnemar_p"] == pytest.approx(res.comparison.mcnemar.p)
    json.dumps(d, allow_nan=False)


def test_refuses_different_ids(tmp_path, runs):
    run_a, _, base, cand = runs
    other = pd.concat([cand.iloc[3:], cand.iloc[:2].assign(id=["x1", "x2"])])
    run_c = _write_run(tmp_path / "c", other, name="c")
    with pytest.raises(CompareError) as err:
        compare_runs(run_a, run_c)
    msg = str(err.value)
    assert "different sample id sets" in msg and "3 ids only in run A" in msg
    assert "2 only in run B" in msg and "\n" not in msg


def test_refuses_different_labels_and_classes(tmp_path, runs):
    run_a, _, _, cand = runs
    flipped = cand.copy()
    flipped.loc[flipped["id"] == "img_0007", "label"] = "nurse"
    with pytest.raises(CompareError, match="different labels for the same id: 1 ids, e.g. "
                                           "'img_0007' is 'doctor' in run A and 'nurse'"):
        compare_runs(run_a, _write_run(tmp_path / "d", flipped, name="d"))
    with pytest.raises(CompareError, match="different classes"):
        compare_runs(run_a, _write_run(tmp_path / "e", cand, name="e",
                                       classes=("doctor", "nurse", "surgeon")))


def test_missing_files_and_unknown_model(tmp_path, runs):
    run_a, run_b, _, _ = runs
    with pytest.raises(CompareError, match="summary.json not found"):
        (tmp_path / "empty").mkdir()
        compare_runs(run_a, tmp_path / "empty")
    with pytest.raises(CompareError, match=r"run B .* has no model 'nope' \(models: "
                                           r"\['baseline', 'rebalanced'\]\)"):
        compare_runs(run_a, run_b, model_b="nope")


def test_outputs_html_json_pdf(tmp_path, runs):
    run_a, run_b, _, _ = runs
    res = compare_runs(run_a, run_b, model_b="rebalanced", n_boot=200)
    res.run_b.name = "<script>alert(1)</script>"
    html = render_compare_html(res)
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # autoescaped
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # no external resources
    assert 'src="data:image/png;base64,' in html
    assert re.search(r'alt="Mean attention mass per region[^"]*face 0\.6\d to 0\.2', html)
    assert "face \u2192 object" in html and "img_0000" in html
    out = write_compare_outputs(res, tmp_path / "out")
    assert set(out) == {"html", "pdf", "json"}
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"
    data = json.loads(out["json"].read_text())
    assert data["comparisons"][0]["mcnemar"]["c"] == 30
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "compare.html", "compare.json", "compare.pdf"]  # no temp file left behind

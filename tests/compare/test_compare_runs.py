"""compare_runs on two fake run directories; HTML/PDF/JSON outputs."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from helpers.planted_compare import METHODS, REGIONS, planted_samples

from auditor.errors import CompareError
from auditor.pipeline.compare_runs import (
    compare_runs,
    render_compare_html,
    setup_differences,
    write_compare_outputs,
)


def _write_run(path, table, *, name, classes=("doctor", "nurse"), models=None, config=None):
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
    config = config or {"data": {"audit_split": "test"}}
    (path / "config.resolved.yaml").write_text(yaml.safe_dump(config))
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
    # run B has two models: no silent choice, the error names them and the flag
    with pytest.raises(CompareError, match=r"run B .* has 2 models \(baseline, rebalanced\); "
                                           r"choose one with --model-b NAME"):
        compare_runs(run_a, run_b, n_boot=200)
    res = compare_runs(run_a, run_b, model_b="baseline", n_boot=200)  # A has one model
    # the names clash -> "A:"/"B:" labels
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


def test_refuses_different_attribute_values_for_one_id(tmp_path, runs):
    """Same images and labels, the hair of two ids flipped in run B: its hair groups would hold
    other images under the same names, so every per-group difference would be wrong."""
    run_a, _, _, cand = runs
    flipped = cand.copy()
    swap = {"dark": "blond", "blond": "dark"}
    hit = flipped["id"].isin(["img_0003", "img_0009"])
    flipped.loc[hit, "hair"] = flipped.loc[hit, "hair"].map(swap)
    first = cand.loc[cand["id"] == "img_0003", "hair"].iloc[0]
    with pytest.raises(CompareError, match=(
            "different values of attribute 'hair' for the same id: 2 ids, e.g. 'img_0003' is "
            f"hair={first} in run A and hair={swap[first]} in run B")):
        compare_runs(run_a, _write_run(tmp_path / "h", flipped, name="h"))


def _fingerprinted(table, redrawn=()):
    """``table`` with an ``image_hash`` per id (another one for the ids in ``redrawn``)."""
    return table.assign(image_hash=[f"{i}-{'redrawn' if i in redrawn else 'audited'}"
                                    for i in table["id"]])


def test_refuses_different_images_under_the_same_ids(tmp_path, runs):
    """A regenerated or edited dataset keeps its ids: the images' bytes tell them apart."""
    _, _, base, cand = runs
    run_a = _write_run(tmp_path / "a2", _fingerprinted(base), name="a2")
    redrawn = _write_run(tmp_path / "r", _fingerprinted(cand, {"img_0390", "img_0007"}), name="r")
    for a, b in ((run_a, redrawn), (redrawn, run_a)):
        with pytest.raises(CompareError) as err:
            compare_runs(a, b)
        msg = str(err.value)
        assert "2 of the 400 sample ids name different images in the two runs, e.g. " \
               "'img_0007'" in msg and "regenerated or edited between the runs" in msg
        assert "\n" not in msg
    same = _write_run(tmp_path / "s", _fingerprinted(cand), name="s")
    assert compare_runs(run_a, same, n_boot=100).comparison.n == 400


def test_images_are_checked_where_both_runs_recorded_them(tmp_path, runs):
    """Runs of an older auditor (no image_hash column) and samples without a fingerprint are
    compared as before."""
    run_a, _, base, cand = runs  # run A has no fingerprints
    hashed = _write_run(tmp_path / "h", _fingerprinted(cand, {"img_0007"}), name="h")
    assert compare_runs(run_a, hashed, n_boot=100).comparison.n == 400
    assert compare_runs(hashed, run_a, n_boot=100).comparison.n == 400
    part = _fingerprinted(cand, {"img_0007"})
    part.loc[part["id"] == "img_0007", "image_hash"] = None
    partial = _write_run(tmp_path / "p", part, name="p")
    assert compare_runs(_write_run(tmp_path / "a2", _fingerprinted(base), name="a2"), partial,
                        n_boot=100).comparison.n == 400


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
    # the attention chart is HTML bars: its one-sentence summary and one bar per model
    assert re.search(r'aria-label="Mean attention mass per region[^"]*face 0\.6\d to 0\.2',
                     html)
    assert html.count('class="grouped-bar"') == 2 * 2 * 3  # 2 methods x 2 models x 3 regions
    assert "face \u2192 object" in html and "img_0000" in html
    out = write_compare_outputs(res, tmp_path / "out")
    assert set(out) == {"html", "pdf", "json"}
    assert out["pdf"].read_bytes()[:5] == b"%PDF-"
    data = json.loads(out["json"].read_text())
    assert data["comparisons"][0]["mcnemar"]["c"] == 30
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "compare.html", "compare.json", "compare.pdf"]  # no temp file left behind


def test_ids_with_a_folder_prefix_are_explained_and_can_be_stripped(tmp_path, runs):
    """The same images read through a manifest (ids 'images/...') and an image folder."""
    run_a, _, base, cand = runs
    prefixed = _write_run(tmp_path / "p", cand.assign(id="images/" + cand["id"]), name="p")
    with pytest.raises(CompareError) as err:
        compare_runs(run_a, prefixed)
    msg = str(err.value)
    assert "400 ids only in run A, 400 only in run B" in msg and "\n" not in msg
    assert "same images, but run B's ids start with 'images/'" in msg
    assert "--strip-b images/" in msg and "data.root" in msg
    res = compare_runs(run_a, prefixed, strip_b="images/", n_boot=100)
    mc = res.comparison.mcnemar
    assert res.comparison.n == 400 and (mc.b, mc.c) == (5, 30)
    with pytest.raises(CompareError, match="--strip-a 'images/': 400 sample id"):
        compare_runs(run_a, prefixed, strip_a="images/")


def test_models_with_different_setups_compare_accuracy_only(tmp_path, runs):
    run_a, _, base, cand = runs
    cfg = {"data": {"audit_split": "test", "image_size": 64},
           "models": [{"name": "rebalanced", "arch": "resnet18"}],
           "saliency": {"target_layer": "auto"}}
    a = _write_run(tmp_path / "sa", base, name="sa", config={
        **cfg, "models": [{"name": "baseline", "arch": "simple_cnn"}]})
    b = _write_run(tmp_path / "sb", cand, name="sb", config=cfg)
    res = compare_runs(a, b, n_boot=100)
    assert res.not_comparable == ["architecture: A simple_cnn, B resnet18"]
    assert res.comparison.attention == {} and res.comparison.top_region == {} and not res.methods
    assert res.comparison.notes[0].startswith("The attention numbers of these two models are "
                                              "not comparable (architecture: A simple_cnn")
    assert (res.comparison.mcnemar.b, res.comparison.mcnemar.c) == (5, 30)  # accuracy stays
    html = render_compare_html(res)
    assert "not comparable" in html and "Wilcoxon" not in html and "<img" not in html
    assert res.to_dict()["attention_comparable"] is False
    # no method in common is not comparable either, and not an error
    other = cand.rename(columns={c: c.replace("gradcam", "eigencam") for c in cand.columns})
    c = _write_run(tmp_path / "sc", other, name="sc")
    c_summary = json.loads((c / "summary.json").read_text())
    c_summary["models"] = {"rebalanced": {"attention": {"eigencam": {}, "eigencam++": {}}}}
    (c / "summary.json").write_text(json.dumps(c_summary))
    res = compare_runs(run_a, c, n_boot=100)
    assert res.not_comparable and "no saliency method in common" in res.not_comparable[0]


def test_setup_differences_names_each_setting():
    a = {"arch": "resnet18", "target_layer": "layer4", "input_size": 224, "options": {}}
    b = {"arch": "resnet18", "target_layer": "layer3", "input_size": 128,
         "options": {"occlusion": {"window": 8}}}
    assert setup_differences(a, b, ["gradcam"]) == ["target layer: A layer4, B layer3",
                                                    "input size: A 224, B 128"]
    assert setup_differences(a, b, ["occlusion"])[-1] == (
        "occlusion options: A {}, B {'window': 8}")
    assert setup_differences(a, dict(a), ["gradcam"]) == []


def test_the_comparison_says_what_changed_between_the_two_models_findings(runs, tmp_path):
    """The sentence `audit run` writes for two models, from the two runs' model blocks: in
    compare.json and on the page; absent when a run recorded no findings."""
    run_a, run_b, _, _ = runs
    assert compare_runs(run_a, run_b, model_b="rebalanced", n_boot=50).headline is None

    def block(follow, severity, worst):
        finding = {"kind": "spurious_cue", "severity": severity, "title": "t", "evidence": {
            "region": "face", "severity_reasons": ["swap_follows"],
            "causal": {"swap": {"swap": "hair:face", "features": {"label": "nurse"},
                                "follow_rate": follow, "follow_ci": [follow - 0.03,
                                                                     follow + 0.02],
                                "n_follow": 300}}}}
        return {"findings": [finding],
                "swaps": {"hair:face": {"by_class": {"nurse": {
                    "follow_rate": follow, "follow_ci": [follow - 0.03, follow + 0.02],
                    "n_follow": 300}}}},
                "metrics": {"worst_group_accuracy": worst, "worst_group": "g"},
                "groups": {"cells": [{"group": "g", "n": 150, "ci": [worst - 0.02,
                                                                    worst + 0.05]}]}}

    for run, model, b in ((run_a, "baseline", block(0.96, "high", 0.03)),
                          (run_b, "rebalanced", block(0.1, "low", 0.72))):
        summary = json.loads((run / "summary.json").read_text())
        summary["models"][model].update(b)
        (run / "summary.json").write_text(json.dumps(summary))
    res = compare_runs(run_a, run_b, model_b="rebalanced", n_boot=50)
    assert res.headline == (
        "rebalanced removes the face shortcut (swapping in the face sends 96% (93%–98%, n=300) "
        "→ 10% (7%–12%, n=300) of predictions for class nurse to the class it goes with); "
        "worst-group accuracy 3% (1%–8%, n=150) → 72% (70%–77%, n=150).")
    written = write_compare_outputs(res, tmp_path / "out", formats=("html", "json"))
    assert json.loads(written["json"].read_text())["headline"] == res.headline
    # a model compared with itself read "baseline keeps the face shortcut", as if something
    # had been compared; no headline (the CLI's note says why nothing can change)
    assert compare_runs(run_a, run_a, n_boot=50).headline is None
    assert compare_runs(run_b, run_b, model_a="rebalanced", model_b="rebalanced",
                        n_boot=50).headline is None
    assert "<b>What changed:</b> rebalanced removes the face shortcut" in \
        written["html"].read_text()


def test_out_inside_a_run_folder_is_only_its_compare_folder(tmp_path, runs):
    """Comparison files at the top of a run (``--out RUN``) or in its ``models/`` would later
    stop that run's --overwrite as files auditor did not write: refused before writing."""
    run_a, run_b, _, _ = runs
    (run_b / "run.json").write_text(json.dumps({"key": "k", "complete": True, "written": []}))
    res = compare_runs(run_a, run_b, model_b="rebalanced", n_boot=50)
    (run_b / "models").mkdir(exist_ok=True)
    link = tmp_path / "link_to_models"  # the same folder through a symlink was accepted
    link.symlink_to(run_b / "models", target_is_directory=True)
    for bad in (run_b, run_b / "models", run_b / "compare" / "deeper", link):
        with pytest.raises(CompareError, match=r"^--out .*: in the run folder .*compare; "
                                               r"choose that or a folder outside the run$"):
            write_compare_outputs(res, bad, formats=("json",))
    assert not list(run_b.glob("compare*")) and not any((run_b / "models").iterdir())
    a_file = tmp_path / "notes.txt"  # "cannot write (File exists)" said nothing useful
    a_file.write_text("mine")
    with pytest.raises(CompareError, match=r"^--out .*notes.txt: exists and is not a folder"):
        write_compare_outputs(res, a_file, formats=("json",))
    assert a_file.read_text() == "mine"
    assert set(write_compare_outputs(res, run_b / "compare", formats=("json",))) == {"json"}
    assert set(write_compare_outputs(res, tmp_path / "elsewhere", formats=("json",))) == {
        "json"}


def test_the_cli_refuses_a_wrong_out_before_reading_the_runs(tmp_path, runs):
    """`audit compare A B --out B` is refused before any comparison is computed: even with a
    run A that does not exist, the one line is about --out."""
    from typer.testing import CliRunner

    from auditor.cli import app

    _, run_b, _, _ = runs
    (run_b / "run.json").write_text(json.dumps({"key": "k", "complete": True, "written": []}))
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "no_such_run"), str(run_b),
                                      "--out", str(run_b / "models")])
    assert result.exit_code == 1
    assert "error: --out " in result.output and "in the run folder" in result.output
    assert "not found" not in result.output and not (run_b / "models").exists()


def test_two_runs_of_several_models_ask_for_both_names_at_once(runs):
    """Both flags left out: the first answer asked only for --model-a, the next for
    --model-b; one line now asks for both."""
    _, run_b, _, _ = runs
    with pytest.raises(CompareError, match=r"choose one with --model-a NAME, and run B with "
                                           r"--model-b NAME \(baseline, rebalanced\)$"):
        compare_runs(run_b, run_b, n_boot=50)


def test_the_printed_line_gives_points_intervals_groups_and_the_test(runs):
    """`audit compare` printed 'accuracy +0.228, worst-group +0.040, McNemar p = 6.67e-18':
    fractions, no interval, and no word that the worst groups were two different cells."""
    run_a, run_b, _, _ = runs
    res = compare_runs(run_a, run_b, model_b="rebalanced", n_boot=50)
    c = res.comparison
    line = res.summary_line()
    acc, wg = c.accuracy, c.worst_group
    assert line.startswith(
        f"{c.baseline} -> {c.candidate} on {c.n} samples: accuracy {100 * acc['delta']:+.1f} "
        f"pp (95% CI {100 * acc['ci'][0]:+.1f} to {100 * acc['ci'][1]:+.1f}), worst-group "
        f"accuracy {100 * wg['delta']:+.1f} pp (95% CI {100 * wg['ci'][0]:+.1f} to ")
    groups = (wg["baseline"]["group"], wg["candidate"]["group"])
    assert (f"; {groups[0]} → {groups[1]}, two different groups), " if groups[0] != groups[1]
            else f"; {groups[0]}), ") in line
    assert line.endswith(f"McNemar p = {c.mcnemar.p:.3g} ({c.mcnemar.method})")



def test_runs_at_different_ci_levels_are_said_and_intervals_recomputed(tmp_path, runs):
    """Repro 4: the same model audited at ci_level 0.95 and 0.8 looked more certain in B: the
    worst-group interval of each side was the one its run stored. Now both are Wilson at the
    compare level from the cell's counts, and the notes say the analysis settings differ."""
    _, _, base, cand = runs
    a = _write_run(tmp_path / "l95", base, name="l95",
                   config={"data": {"audit_split": "test"}, "analysis": {"ci_level": 0.95}})
    b = _write_run(tmp_path / "l80", cand, name="l80",
                   config={"data": {"audit_split": "test"}, "analysis": {"ci_level": 0.8}})
    for run, model, ci in ((a, "baseline", [0.0, 0.66]), (b, "rebalanced", [0.0, 0.45])):
        summary = json.loads((run / "summary.json").read_text())
        summary["models"][model].update({
            "findings": [], "metrics": {"worst_group_accuracy": 0.0, "worst_group": "g"},
            "groups": {"cells": [{"group": "g", "n": 2, "correct": 0, "accuracy": 0.0,
                                  "ci": ci}]}})
        (run / "summary.json").write_text(json.dumps(summary))
    res = compare_runs(a, b, n_boot=50)
    assert res.headline.endswith("worst-group accuracy 0% (0%–66%, n=2) → 0% (0%–66%, n=2).")
    assert res.comparison.notes[0] == (
        "The two runs' analysis settings differ (analysis.ci_level: A 95%, B 80%): the "
        "accuracy and worst-group intervals here are recomputed from the counts at 95%, but "
        "the swap and causal rates quoted from each run keep that run's own level.")
    assert res.to_dict()["comparisons"][0]["notes"][0] == res.comparison.notes[0]
    assert not res.not_comparable  # the attention numbers are still compared
    from typer.testing import CliRunner

    from auditor.cli import app

    printed = CliRunner().invoke(app, ["compare", str(a), str(b), "--out", str(tmp_path / "c")])
    assert printed.exit_code == 0, printed.output
    assert "note: The two runs' analysis settings differ" in " ".join(printed.output.split())
    # same level (or not recorded): no such note
    same = compare_runs(a, a, n_boot=50)
    assert not any("analysis settings" in n for n in same.comparison.notes)

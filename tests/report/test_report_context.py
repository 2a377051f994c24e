"""The view-model: verdict order, robustness to missing blocks, gallery caps and size budget."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from auditor.report import (
    HTML_BUDGET_BYTES,
    MAX_THUMBNAILS,
    InMemoryGallery,
    build_context,
    render_html,
)
from auditor.report.gallery import ThumbnailBudget, pick_examples, thumbnails


def _thumbs(ctx) -> list[dict]:
    out = []
    for pm in ctx.models:
        for gal in pm["looks"]["galleries"]:
            out += gal["right"] + gal["wrong"]
        for gal in pm["clusters"]["galleries"]:
            out += gal["thumbs"]
    return out


def test_verdict_lists_flags_high_to_low_with_a_headline(rendered):
    verdict = rendered["ctx"].verdict
    order = [f["severity"] for f in verdict["flags"]]
    assert order == sorted(order, key=["high", "medium", "low"].index)
    assert order[0] == "high" and order[-1] == "low"
    assert verdict["headline"].startswith("Not ready to ship: 2 high-severity flags")
    assert all(f["sentence"][0].isupper() and f["sentence"].endswith(".")
               for f in verdict["flags"])
    assert {f["model"] for f in verdict["flags"]} == {"baseline", "rebalanced"}


def test_every_rate_in_performance_carries_n_and_ci(rendered):
    perf = rendered["ctx"].models[0]["performance"]
    acc = perf["headline"][0]
    assert acc["n"] == "120" and re.fullmatch(r"\d+\.\d–\d+\.\d%", acc["ci"])
    for row in perf["groups"][0]["rows"]:
        assert row["n"] != "–" and re.fullmatch(r"\d+\.\d–\d+\.\d%", row["ci"])
    assert perf["groups"][0]["chart"].startswith("data:image/png;base64,")


def test_equalized_odds_clusters_and_coverage_carry_counts_and_intervals(rendered):
    ctx = rendered["ctx"]
    eod = ctx.models[0]["performance"]["headline"][4]
    assert eod["label"] == "Equalized-odds difference"
    assert (eod["value"], eod["ci"], eod["n"]) == ("0.21", "0.12–0.30", "120")
    row = ctx.models[0]["clusters"]["table"][0]
    assert (row["error_rate"], row["error_ci"]) == ("50.0%", "40.0–60.0%")
    assert row["n_nearby"] == f"{2 * int(row['size']):,}"
    cov = {c["region"]: c["count"] for c in ctx.dataset["coverage"]}
    assert cov == {"face": "470 of 480", "object": "480 of 480"}  # over every split
    html = rendered["html"]
    assert "Error rate nearby" in html and "(470 of 480)" in html


def test_examples_per_group_caps_every_gallery_cell(fake_run):
    summary, samples, gallery, cfg = fake_run
    one = {**summary, "models": {"baseline": summary["models"]["baseline"]}}
    ctx = build_context(one, samples[samples["model"] == "baseline"], gallery, config_yaml=cfg,
                        examples_per_group=2)
    cells = [g for pm in ctx.models for g in pm["looks"]["galleries"]]
    assert len(cells) == 2 * 2  # classes x hair values
    assert all(len(c["right"]) <= 2 and len(c["wrong"]) <= 2 for c in cells)
    assert any(len(c["wrong"]) == 2 for c in cells)
    wrong = [t for c in cells for t in c["wrong"]]
    assert all(t["correct"] == "no" and t["true"] != t["pred"] for t in wrong)


def test_minimal_summary_renders_with_plain_sentences_for_missing_blocks():
    summary = {"schema": "auditor.summary/1", "name": "bare",
               "dataset": {"n_samples": 0, "classes": ["a", "b"], "regions": ["background"]},
               "models": {"only": {"metrics": {"accuracy": 0.5}}}}
    ctx = build_context(summary, pd.DataFrame(), None, config_yaml="", examples_per_group=6)
    html = render_html(ctx)
    for sentence in ("Reliance test not run", "Saliency sanity check not run",
                     "Misclassification clustering not run", "Only one model was audited",
                     "No files were skipped", "Annotation coverage was not recorded",
                     "No environment block"):
        assert sentence in html, sentence
    assert ctx.verdict["flags"] == []


def test_missing_maps_are_skipped_not_fatal(fake_run):
    _, samples, gallery, _ = fake_run
    empty = InMemoryGallery(images=gallery.images, maps={})
    budget = ThumbnailBudget(10)
    rows = pick_examples(samples[samples["model"] == "baseline"], 4, mistakes=True)
    assert thumbnails(empty, "baseline", "gradcam", rows, budget) == []
    assert budget.used == 0
    # the same rows with their maps present do render, one thumbnail per row
    shown = thumbnails(gallery, "baseline", "gradcam", rows, budget)
    assert [s["id"] for s in shown] == rows["id"].astype(str).tolist()
    assert all(s["src"].startswith("data:image/") for s in shown)


def test_pick_examples_prefers_confident_mistakes():
    rows = pd.DataFrame({"id": list("abcde"), "confidence": [0.6, 0.99, 0.7, 0.95, 0.8]})
    assert pick_examples(rows, 2, mistakes=True)["id"].tolist() == ["b", "d"]
    spread = pick_examples(rows, 3, mistakes=False)["id"].tolist()
    assert spread == ["b", "e", "a"]  # highest, middle, lowest confidence


class NoiseGallery:
    """Incompressible images and maps made on demand (worst case for the size budget)."""

    def image(self, sample_id: str) -> np.ndarray:
        seed = int(hashlib.sha256(sample_id.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)

    def saliency(self, model: str, sample_id: str, method: str) -> np.ndarray:
        seed = int(hashlib.sha256((model + sample_id).encode()).hexdigest()[:8], 16)
        return np.random.default_rng(seed).random((8, 8), dtype=np.float32)


def test_ten_thousand_samples_two_models_stay_under_the_size_budget():
    from helpers import report_run as fake

    samples, _ = fake.make_samples(n=10_000, seed=1)
    summary = fake.make_summary(samples)
    ctx = build_context(summary, samples, NoiseGallery(), config_yaml=fake.CONFIG_YAML,
                        examples_per_group=50)
    thumbs = _thumbs(ctx)
    assert 0.8 * MAX_THUMBNAILS <= len(thumbs) <= MAX_THUMBNAILS
    html = render_html(ctx)
    assert len(html.encode("utf-8")) < HTML_BUDGET_BYTES
    assert "further thumbnails were left out" in html
    assert html.count("<img") >= len(thumbs)


@pytest.mark.parametrize("bad", [{"models": {}}, {"dataset": {}, "models": {"m": None}}])
def test_empty_or_null_blocks_do_not_crash(bad):
    ctx = build_context(bad, pd.DataFrame(), None, config_yaml="not: [valid", examples_per_group=3)
    assert "1. Verdict" in render_html(ctx)


def test_lift_table_uses_mass_ci_and_lift_ci_and_marks_spurious_over_attention(rendered):
    base = rendered["ctx"].models[0]["spurious"]["lifts"][0]
    assert base["mass_ci"] and base["lift_ci"]
    face = next(r for r in base["rows"] if r["region"] == "face")
    obj = next(r for r in base["rows"] if r["region"] == "object")
    assert face["hot"] and not obj["hot"]  # object is expected, so never marked
    assert re.fullmatch(r"\d+\.\d–\d+\.\d%", face["mass_ci"])
    assert re.fullmatch(r"\d+\.\d\d–\d+\.\d\d", face["lift_ci"])
    assert "▲ over-attended" in rendered["html"]


def test_both_embedding_shapes_and_listed_cluster_members_are_used(rendered, fake_run):
    summary = fake_run[0]
    base, rebal = (pm["clusters"] for pm in rendered["ctx"].models)
    assert base["scatter"] and rebal["scatter"]  # tsne dict / cluster_projection list
    assert "misclassified" in rebal["scatter"]["caption"]
    listed = summary["models"]["baseline"]["clusters"][0]["members"]
    assert [t["id"] for t in base["galleries"][0]["thumbs"]] == listed[:3]
    assert base["slices"][0][base["slice_keys"].index("error rate")] == "39.0%"
    row = dict(zip(base["slice_keys"], base["slices"][0], strict=True))
    assert row["compared with"] == "label=doctor, other hair: 5.0% (n=40)"
    assert (row["excess (points)"], row["excess CI (points)"]) == ("+34", "+18 to +49")


def test_samples_missing_required_columns_leave_sections_empty_not_crashing(fake_run):
    summary, samples, gallery, cfg = fake_run
    ctx = build_context(summary, samples.drop(columns=["pred"]), gallery, config_yaml=cfg,
                        examples_per_group=2)
    assert _thumbs(ctx) == []
    assert ctx.models[0]["looks"]["message"].startswith("No attention masses")
    assert ctx.models[0]["performance"]["groups"][0]["source"] == "summary.json"
    assert "Not ready to ship" in render_html(ctx)


def test_empty_maps_are_called_out_under_the_attention_chart(fake_run):
    summary, samples, _, cfg = fake_run
    one = {**summary, "models": {"baseline": summary["models"]["baseline"]}}
    rows = samples[samples["model"] == "baseline"].copy()
    rows.loc[rows.index[:5], [c for c in rows.columns if c.startswith("mass_")]] = 0.0
    ctx = build_context(one, rows, None, config_yaml=cfg, examples_per_group=0)
    charts = ctx.models[0]["looks"]["charts"]
    assert charts[0]["empty"].startswith("5 of 120 gradcam maps were empty")


def test_what_changed_headline_is_not_dressed_as_an_alarm(fake_run):
    summary, samples, gallery, cfg = fake_run
    changed = {**summary, "headline": "rebalanced removes the face shortcut"}
    ctx = build_context(changed, samples, gallery, config_yaml=cfg, examples_per_group=1)
    assert ctx.verdict["headline"] == "rebalanced removes the face shortcut"
    assert ctx.verdict["badge"] == "WHAT CHANGED" and ctx.verdict["fill"] != "#A50F15"
    plain = build_context(summary, samples, gallery, config_yaml=cfg, examples_per_group=1)
    assert plain.verdict["badge"] == plain.verdict["tone"].upper()



def test_side_by_side_comparison_gives_every_value_its_interval_and_n(fake_run):
    summary, samples, gallery, cfg = fake_run
    pair = {**summary["comparisons"][0],
            "accuracy": {"ci": [0.03, 0.11]}, "worst_group": {"ci": [0.05, 0.27]},
            "attention": {"gradcam": {"face": {"ci": [-0.45, -0.37]}}}}
    ctx = build_context({**summary, "comparisons": [pair]}, samples, gallery, config_yaml=cfg,
                        examples_per_group=1)
    rows = {r[0]: r[1:] for r in ctx.comparison["rows"]}
    base_acc = samples.query("model == 'baseline'")["correct"]
    n = len(base_acc)
    assert rows["accuracy"][0].startswith(f"{100 * base_acc.mean():.1f}% (")
    assert rows["accuracy"][0].endswith(f", n={n})")
    assert rows["accuracy"][2].endswith("(+3.0 to +11.0 pp)")  # the paired interval
    assert rows["worst group accuracy"][2].endswith("(+5.0 to +27.0 pp)")
    assert rows["gradcam mass on face"][2].endswith("(-45.0 to -37.0 pp)")
    assert re.fullmatch(r"[+-]\d+\.\d pp", rows["accuracy gap"][2])  # no paired interval
    assert all("n=" in c for label, cells in rows.items() if label != "worst group"
               for c in cells[:2])

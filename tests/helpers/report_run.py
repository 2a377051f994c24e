"""A realistic fake audit (two models, doctor/nurse, hair dark/blond) for report tests and previews.

``make_run(n)`` returns ``(summary, samples, gallery, config_yaml)`` shaped exactly like the
pipeline's outputs. Run as a script to write a preview::

    .venv/bin/python tests/report/fixtures.py /tmp/report_preview
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.report import InMemoryGallery

CLASSES = ["doctor", "nurse"]
REGIONS = ["face", "object", "background"]
METHODS = ["gradcam", "gradcam++"]
HAIR = {"dark": (40, 30, 25), "blond": (225, 190, 90)}
CONFIG_YAML = """name: clinic-demo
output_dir: runs/clinic-demo
seed: 0
device: cpu
data:
  synthetic: {kind: clinic, n_train: 3000, n_test: 1000, bias: 0.95, image_size: 64}
  image_size: 64
  audit_split: test
models:
- name: baseline
  arch: simple_cnn
  train: {epochs: 4, lr: 0.001, batch_size: 64, balance: none}
- name: rebalanced
  arch: simple_cnn
  train: {epochs: 4, lr: 0.001, batch_size: 64, balance: group, balance_by: [hair]}
saliency: {methods: [gradcam, gradcam++], target_layer: auto, target: predicted}
analysis: {expected_regions: [object], spurious_regions: [face, background], sanity_check: true}
report: {formats: [html, pdf], examples_per_group: 6}
"""


def _wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 1.0]
    p, z = k / n, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def draw_image(label: str, hair: str, size: int = 48) -> np.ndarray:
    """A cartoon clinic image: grey wall, a face with hair, an object (stethoscope or tray)."""
    img = np.full((size, size, 3), 200, dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    cy, cx, r = size * 0.32, size * 0.5, size * 0.16
    img[(yy - cy) ** 2 + (xx - cx) ** 2 < (r * 1.25) ** 2] = HAIR[hair]
    img[((yy - cy - 2) ** 2 + (xx - cx) ** 2 < r ** 2)] = (235, 200, 170)
    obj = (slice(int(size * 0.62), int(size * 0.86)), slice(int(size * 0.3), int(size * 0.7)))
    img[obj] = (30, 110, 60) if label == "doctor" else (70, 90, 180)
    return img


def _map(focus: str, rng: np.random.Generator, h: int = 7) -> np.ndarray:
    yy, xx = np.mgrid[:h, :h] / (h - 1)
    cy, cx = (0.3, 0.5) if focus == "face" else (0.75, 0.5)
    m = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05) + 0.15 * rng.random((h, h))
    return (m * 3.7).astype(np.float32)


def make_samples(n: int = 160, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Per-sample rows for two models, and the per-sample 'truth' used to build maps."""
    rng = np.random.default_rng(seed)
    ids = [f"test/img_{i:05d}.png" for i in range(n)]
    labels = rng.choice(CLASSES, n)
    hair = np.where(rng.random(n) < 0.5, "dark", "blond")
    frames = []
    for model, face_bias in (("baseline", 0.55), ("rebalanced", 0.12)):
        counter = (((labels == "doctor") & (hair == "blond"))
                   | ((labels == "nurse") & (hair == "dark")))
        p_ok = np.where(counter, 0.9 - face_bias * 0.6, 0.93) if model == "baseline" else \
            np.full(n, 0.9)
        correct = rng.random(n) < p_ok
        pred = np.where(correct, labels, np.where(labels == "doctor", "nurse", "doctor"))
        face = np.clip(face_bias + 0.1 * rng.standard_normal(n), 0.02, 0.9)
        obj = np.clip((1 - face) * 0.7 + 0.05 * rng.standard_normal(n), 0.02, 0.95)
        obj = np.minimum(obj, 1 - face - 0.01)
        df = pd.DataFrame({
            "model": model, "id": ids, "split": "test", "label": labels, "pred": pred,
            "label_idx": [CLASSES.index(x) for x in labels],
            "pred_idx": [CLASSES.index(x) for x in pred],
            "confidence": np.round(0.5 + 0.5 * rng.random(n), 3), "correct": correct,
            "hair": hair, "area_face": 0.1, "area_object": 0.15, "area_background": 0.75})
        for j, method in enumerate(METHODS):
            df[f"mass_{method}_face"] = face * (1 - 0.05 * j)
            df[f"mass_{method}_object"] = obj
            df[f"mass_{method}_background"] = 1 - df[f"mass_{method}_face"] - obj
        cluster = np.full(n, -1)
        for cid, cls in enumerate(CLASSES):  # 0: doctors called nurses, 1: the reverse
            wrong = np.flatnonzero(~correct & (labels == cls))
            cluster[wrong[: len(wrong) * 4 // 5]] = cid
        df["cluster"] = cluster
        frames.append(df)
    return pd.concat(frames, ignore_index=True), {"labels": labels, "hair": hair}


def _attention(rows: pd.DataFrame, method: str) -> dict:
    out = {}
    for r in REGIONS:
        mass = float(rows[f"mass_{method}_{r}"].mean())
        area = float(rows[f"area_{r}"].mean())
        sd = float(rows[f"mass_{method}_{r}"].std(ddof=1) / math.sqrt(max(len(rows), 1)))
        out[r] = {"mass": mass, "area": area, "lift": mass / area, "n": len(rows),
                  "ci": [mass - 2 * sd, mass + 2 * sd],
                  "lift_ci": [(mass - 2 * sd) / area, (mass + 2 * sd) / area]}
    return out


def make_summary(samples: pd.DataFrame) -> dict:
    """A summary.json dict consistent with ``samples``, with every optional block filled."""
    models = {}
    for name, rows in samples.groupby("model", sort=False):
        acc = float(rows["correct"].mean())
        by_hair = {}
        for v, g in rows.groupby("hair"):
            k = int(g["correct"].sum())
            by_hair[v] = {"n": len(g), "accuracy": k / len(g), "error_rate": 1 - k / len(g),
                          "ci": _wilson(k, len(g))}
        worst = min(by_hair, key=lambda v: by_hair[v]["accuracy"])
        base = name == "baseline"
        clusters = []
        for cid in (0, 1):
            members = rows[rows["cluster"] == cid]
            clusters.append({
                "id": cid, "size": len(members), "error_rate": 0.5,
                "n_nearby": 2 * len(members), "error_rate_ci": [0.4, 0.6],
                "confusion": "doctor->nurse" if cid == 0 else "nurse->doctor",
                "enriched": {"hair": "blond" if cid == 0 else "dark"},
                "mean_mass": {r: float(members[f"mass_gradcam_{r}"].mean()) for r in REGIONS},
                "members": members["id"].tolist()[::-1][:8] if base else []})
        rng = np.random.default_rng(1 if base else 2)
        centres = {-1: (0, 0), 0: (6, 4), 1: (-5, 5)}
        xy = np.array([centres[c] for c in rows["cluster"]]) + rng.standard_normal((len(rows), 2))
        findings = [
            {"kind": "spurious_cue", "severity": "high" if base else "low",
             "title": f"{name} puts {rows['mass_gradcam_face'].mean():.0%} of its attention on "
                      "faces, which cover 10% of the image",
             "evidence": {"region": "face", "method": "gradcam",
                          "lift": rows["mass_gradcam_face"].mean() / 0.1, "ci": [4.6, 5.9],
                          "n": len(rows)}},
            {"kind": "group_gap", "severity": "high" if base else "medium",
             "title": f"accuracy for hair={worst} is {by_hair[worst]['accuracy']:.0%}, "
                      f"{acc - by_hair[worst]['accuracy']:.0%} below overall",
             "evidence": {"attribute": "hair", "group": worst, "gap": 0.11,
                          "ci": by_hair[worst]["ci"], "n": by_hair[worst]["n"]}},
        ]
        if base:
            findings += [
                {"kind": "misclassification_cluster", "severity": "medium",
                 "title": "cluster 0: blond doctors predicted as nurses",
                 "evidence": {"cluster": 0, "size": clusters[0]["size"], "enrichment": 3.1,
                              "p_value": 0.0004}},
                {"kind": "unreliable_saliency", "severity": "low",
                 "title": "gradcam++ maps correlate 0.41 with a randomised model's maps",
                 "evidence": {"spearman": 0.41, "threshold": 0.5}}]
        models[name] = {
            "metrics": {"accuracy": acc, "balanced_accuracy": acc - 0.01,
                        "worst_group_accuracy": by_hair[worst]["accuracy"],
                        "worst_group": f"hair={worst}",
                        "accuracy_gap": max(g["accuracy"] for g in by_hair.values())
                        - by_hair[worst]["accuracy"],
                        "equalized_odds_difference": 0.21 if base else 0.04},
            "metrics_ci": {"balanced_accuracy": [acc - 0.08, acc + 0.06],
                           "accuracy_gap": [0.05, 0.2],
                           "equalized_odds_difference": [0.12, 0.3] if base else [0.02, 0.1]},
            "by_group": {"hair": by_hair},
            "attention": {m: _attention(rows, m) for m in METHODS},
            "attention_by_class": {m: {c: {r: {k: v for k, v in b.items() if k != "ci"}
                                           for r, b in _attention(g, m).items()}
                                       for c, g in rows.groupby("label")} for m in METHODS},
            "attention_by_group": {m: {"hair": {v: _attention(g, m)
                                                for v, g in rows.groupby("hair")}}
                                   for m in METHODS},
            "attention_by_correctness": {m: {("correct" if k else "incorrect"): _attention(g, m)
                                             for k, g in rows.groupby("correct")}
                                         for m in METHODS},
            "reliance": {r: {"flip_rate": fr, "ci": [fr - 0.05, fr + 0.05], "n": len(rows),
                             "conf_drop": fr / 2,
                             "by_group": {"hair": {"dark": {"flip_rate": fr + 0.03,
                                                            "ci": [max(0.0, fr - 0.04), fr + 0.1],
                                                            "n": len(rows) // 2},
                                                   "blond": {"flip_rate": fr - 0.03,
                                                             "ci": [max(0.0, fr - 0.1), fr + 0.04],
                                                             "n": len(rows) // 2}}}}
                         for r, fr in (("face", 0.34 if base else 0.06), ("object", 0.12 if base
                                                                            else 0.41))},
            "findings": findings,
            "clusters": clusters,
            "slices": [{"slice": "label=doctor & hair=blond", "features": {"hair": "blond"},
                        "n": 41, "errors": 16, "error_rate": 0.39, "ci": [0.26, 0.54],
                        "reference": {"features": {"label": "doctor"}, "other": "hair",
                                      "n": 40, "errors": 2, "error_rate": 0.05},
                        "excess": 0.34, "excess_ci": [0.18, 0.49],
                        "p_adj": 0.0031, "significant": True},
                       {"slice": "label=nurse & hair=dark", "features": {"hair": "dark"},
                        "n": 38, "errors": 11, "error_rate": 0.29, "ci": [0.17, 0.45],
                        "p_adj": 0.041, "significant": True}],
            # the two shapes of the 2-D embedding: a dict of lists, a list of points (errors)
            **({"tsne": {"x": xy[:, 0].round(3).tolist(), "y": xy[:, 1].round(3).tolist(),
                         "cluster": rows["cluster"].tolist(), "id": rows["id"].tolist()}}
               if base else
               {"cluster_projection": [
                   {"id": i, "x": float(px), "y": float(py), "cluster": int(c)}
                   for i, px, py, c, ok in zip(rows["id"], xy[:, 0], xy[:, 1], rows["cluster"],
                                               rows["correct"], strict=True) if not ok]}),
            "sanity": {"method": "gradcam", "test": "model_parameter_randomization",
                       "spearman": 0.12 if base else 0.08, "passed": True},
        }
    uniq = samples.drop_duplicates("id")
    counts = []
    for split in ("train", "test"):
        scale = 3 if split == "train" else 1
        for (label, hair), g in uniq.groupby(["label", "hair"]):
            counts.append({"split": split, "label": label, "hair": hair, "n": len(g) * scale})
    return {
        "schema": "auditor.summary/1", "name": "clinic-demo", "auditor_version": "0.1.0",
        "created": "2026-11-23T16:40:00+00:00",
        "dataset": {"n_samples": len(uniq), "n_skipped": 2,
                    "skipped": [{"id": "test/broken_001.png", "reason": "cannot decode image"},
                                {"id": "test/missing.png", "reason": "file not found"}],
                    "classes": CLASSES, "regions": REGIONS, "attributes": ["hair"],
                    "counts": counts, "coverage": {"face": 0.98, "object": 1.0},
                    "splits": {"test": len(uniq), "train": 3 * len(uniq)},
                    "warnings": ["2 images had no face annotation; their face mass counts as "
                                 "background."]},
        "models": models,
        "comparisons": [{"baseline": "baseline", "candidate": "rebalanced",
                         "delta": {"accuracy": 0.071, "worst_group_accuracy": 0.16,
                                   "mass_face": -0.41, "mass_object": 0.38},
                         "mcnemar_p": 0.0021}],
        "environment": {"python": "3.11.2", "torch": "2.14.1", "auditor_version": "0.1.0",
                        "seed": 0, "data_hash": "sha256:9f2c4e", "device": "cpu"},
    }


def make_gallery(samples: pd.DataFrame, seed: int = 0) -> InMemoryGallery:
    """Images and 7x7 maps for every (model, sample, method) in ``samples``."""
    rng = np.random.default_rng(seed)
    gal = InMemoryGallery()
    for row in samples.drop_duplicates("id").itertuples():
        gal.images[row.id] = draw_image(row.label, row.hair)
    for row in samples.itertuples():
        for method in METHODS:
            focus = "face" if (row.model == "baseline" and not row.correct) or \
                (row.model == "baseline" and rng.random() < 0.6) else "object"
            gal.maps[(row.model, row.id, method)] = _map(focus, rng)
    return gal


def make_run(n: int = 160, seed: int = 0) -> tuple[dict, pd.DataFrame, InMemoryGallery, str]:
    """``(summary, samples, gallery, config_yaml)`` of a fake two-model audit."""
    samples, _ = make_samples(n, seed)
    return make_summary(samples), samples, make_gallery(samples, seed), CONFIG_YAML


def main(out_dir: str) -> None:
    """Write report.html and report.pdf of the fake run into ``out_dir``."""
    from auditor.report import build_context, render_html, render_pdf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary, samples, gallery, cfg = make_run(240)
    html = render_html(build_context(summary, samples, gallery, config_yaml=cfg,
                                     examples_per_group=6))
    (out / "report.html").write_text(html, encoding="utf-8")
    (out / "report.pdf").write_bytes(render_pdf(html))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/report_preview")

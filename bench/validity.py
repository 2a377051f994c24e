"""How often the shortcut findings are right: hits and false alarms on planted-bias data.

    python bench/validity.py                       # every case, seeds 0 1 2
    python bench/validity.py --cases clinic-null,scenes-null --seeds 0,1,2,3,4
    python bench/validity.py --list                # the cases
    python bench/validity.py --cases other --seeds 0,1   # shortcut shapes outside the sweep
    python bench/validity.py --table a.json b.json # one table from earlier --out files
    python bench/validity.py --keep --out a.json   # keep the run directories, then after a
    python bench/validity.py --rescore --out b.json  # rule change, re-score them in minutes

Each case builds its dataset on the fly (a synthetic generator at a given bias) and audits two
models trained on it: ``baseline`` (plain training, which learns a planted shortcut) and
``rebalanced`` (every class x attribute cell sampled equally, which should not). Per case,
model and seed the findings are scored:

* hit: in a case with a planted shortcut, ``baseline`` gets a HIGH ``spurious_cue`` naming the
  planted region with causal evidence (masking or swapping it changes the predictions); in
  the corner-mark case (a small mark nobody annotated, ``mark-0.95``) a HIGH ``hotspot`` or
  ``concept`` finding that locates the mark (a hotspot box overlapping it, or a concept whose
  strongest positions lie on it in most of its top images);
* false alarm: in a null case (no planted shortcut), any HIGH finding of any kind for either
  model; in a planted case, a HIGH shortcut-kind finding (``spurious_cue``,
  ``ignored_region``) for ``rebalanced`` (its group gaps and clusters may be real: it is
  trained on biased data too), unless the oracle below finds that model relying on the
  planted cue; in the corner-mark case, a HIGH ``hotspot`` / ``concept`` that is not on the
  mark (``rebalanced`` balances hair, not the mark, so it learns the mark too);
* the oracle (:mod:`bench.oracle`), which the audit never sees: per model, accuracy where
  the planted value agrees with the class minus where it disagrees, on the balanced test
  split; a model relies on the cue when the lower bound reaches 10 points. A case with a
  ``holdout`` split also audits the trained models on fresh images, and a HIGH group-gap or
  cluster claim that replicates there is listed, not counted;
* listed: every MEDIUM finding of the scored kinds for those models, with its text, and
  whatever shortcut findings ``baseline`` gets in the planted cases (not scored: that model is
  biased).

The table goes to stdout (and ``--out`` as JSON); docs/validity.md holds the last one.
The ``digits-*`` cases (:mod:`bench.digit_scenes`) are real handwritten digits on the scenes'
photos, annotated by a bounding box.
The clinic cases use the demo's sizes (3000 train / 600 test images, 64 px); the scenes cases
1200 / 400 at 48 px. The corner-mark cases are clinic data with hair independent of the class
and ``analysis.cues: on`` (the data has annotated regions, which would leave hotspots and
concepts off). The ``-unannotated`` cases read the same data from its manifest alone, no
region and no expected region, as most users' data comes: a hotspot may then be the object
itself. The ``shapes-null-*`` cases (:mod:`bench.null_shapes`, 1500 / 500 at 48 px) are null
data of other shapes: up to 4 classes, class imbalance, an attribute of 6 values. Budget:
about 20 minutes for every case at seeds 0-2 on 2 CPU cores (one saliency method, no sanity
check, no report).

Add a case by adding a :class:`Case` to :data:`CASES` (``data`` returns the config's ``data``
section for a seed and a work folder, so a case may write its own files).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from auditor.config import SyntheticConfig, parse_config  # noqa: E402
from auditor.data.scenes import CLASSES as SCENE_CLASSES  # noqa: E402
from auditor.data.scenes import SCENES, generate_scenes  # noqa: E402
from auditor.data.synthetic import CLASSES as CLINIC_CLASSES  # noqa: E402
from auditor.data.synthetic import HAIR, MARK_BOX, generate_clinic  # noqa: E402
from auditor.pipeline.run import run_audit  # noqa: E402
from bench.digit_scenes import CLASSES as DIGIT_CLASSES  # noqa: E402
from bench.digit_scenes import CLASSES4, PHOTOS4  # noqa: E402
from bench.digit_scenes import generate as generate_digits  # noqa: E402
from bench.null_shapes import generate as generate_shapes  # noqa: E402
from bench.oracle import cue_gaps, replicates  # noqa: E402
from bench.other_shapes import CASES as OTHER_SHAPES  # noqa: E402
from bench.other_shapes import generate as generate_other  # noqa: E402

SHORTCUT_KINDS = ("spurious_cue", "ignored_region")
CUE_KINDS = ("hotspot", "concept")
CAUSAL = {"swap_follows", "swap_leans", "swap_flips", "reliance", "lead_follows",
          "lead_beyond_controls", "conflict_gap"}
MARK = "corner mark"  # Case.planted of the corner-mark case (no region: nobody annotated it)


def _synthetic(kind: str, bias: float, *, n_train: int, n_test: int, size: int,
               corner_mark: float | None = None) -> Callable[[int, Path], dict]:
    def data(seed: int, work: Path) -> dict:
        synth = {"kind": kind, "n_train": n_train, "n_val": 0, "n_test": n_test,
                 "bias": bias, "image_size": size}
        if corner_mark is not None:
            synth["corner_mark"] = corner_mark
        return {"synthetic": synth, "image_size": size, "normalize": "none"}
    return data


def _unannotated(bias: float, *, n_train: int, n_test: int, size: int,
                 corner_mark: float | None = None) -> Callable[[int, Path], dict]:
    """Clinic data read from its manifest alone: no region annotation (what most users have).
    Nothing says where the object is, so hotspots and concepts are searched anywhere."""
    def data(seed: int, work: Path) -> dict:
        synth = SyntheticConfig(kind="clinic", n_train=n_train, n_val=0, n_test=n_test,
                                bias=bias, image_size=size, corner_mark=corner_mark)
        manifest = generate_clinic(work / "data", synth, seed=seed)
        return {"manifest": str(manifest), "attributes": ["hair"], "image_size": size,
                "normalize": "none"}
    return data


def _unrecorded(bias: float, *, n_train: int, n_test: int, size: int
                ) -> Callable[[int, Path], dict]:
    """Scenes data whose scene nobody recorded: the manifest's ``scene`` column is replaced by
    ``site``, a random attribute independent of class and scene (a user who did not think of
    the background). Region annotations are kept."""
    def data(seed: int, work: Path) -> dict:
        synth = SyntheticConfig(kind="scenes", n_train=n_train, n_val=0, n_test=n_test,
                                bias=bias, image_size=size)
        manifest = generate_scenes(work / "data", synth, seed=seed)
        table = pd.read_csv(manifest, keep_default_na=False)
        if "scene" in table.columns:  # not yet rewritten (a rescore finds it done)
            rng = np.random.default_rng([seed, 7])
            table["site"] = rng.choice(["north", "south"], size=len(table))
            table[["path", "scene"]].to_csv(work / TRUTH, index=False)  # the bench's oracle
            table.drop(columns=["scene"]).to_csv(manifest, index=False)
        return {"manifest": str(manifest), "attributes": ["site"], "image_size": size,
                "normalize": "none",
                "regions": {"format": "coco", "path": str(manifest.parent / "regions.json")}}
    return data


def _shapes(shape: str) -> Callable[[int, Path], dict]:
    """A null dataset of another shape (:mod:`bench.null_shapes`)."""
    def data(seed: int, work: Path) -> dict:
        return {**generate_shapes(shape, seed, work / "data"), "normalize": "imagenet"}
    return data


def _digits(bias: float, holdout: int = 0, four: bool = False) -> Callable[[int, Path], dict]:
    """Handwritten digits on scene photos, annotated by a bounding box
    (:mod:`bench.digit_scenes`); ``holdout``: size of the fresh ``val`` split; ``four``: four
    digits, each with a photo of its own."""
    def data(seed: int, work: Path) -> dict:
        return generate_digits(seed, work / "data", bias=bias, n_val=holdout, four=four)
    return data


def _other(shape: str, bias: float) -> Callable[[int, Path], dict]:
    """A shortcut of another shape (:mod:`bench.other_shapes`): a frame, a large object, three
    classes, a sticker beside the background, a texture, a marker at a random place."""
    def data(seed: int, work: Path) -> dict:
        meta = generate_other(shape, bias, seed, work / "data")
        root = work / "data"
        return {"manifest": str(root / "manifest.csv"), "attributes": meta["attributes"],
                "image_size": 48, "normalize": "none",
                "regions": {"format": "masks", "path": str(root / "masks")}}
    return data


def _other_case(shape: str, bias: float, note: str) -> Case:
    """An ``other-*`` case: outside the default sweep (``--cases other`` runs them all)."""
    classes, attr, values, _, spurious, planted = OTHER_SHAPES[shape]
    null = bias < 0.9
    return Case(f"other-{shape.replace('_', '-')}-{'null' if null else bias}",
                _other(shape, bias), [attr], None if null else planted,
                analysis={"spurious_regions": list(spurious)},
                cue=None if null else (attr, dict(zip(classes, values, strict=True))),
                note=note, default=False)


@dataclass
class Case:
    """One dataset recipe.

    Attributes:
        name: case id (``--cases``).
        data: ``(seed, work folder) -> data section`` of the config.
        attributes: the attributes the rebalanced model balances.
        planted: the region carrying the planted shortcut (None: a null case; ``MARK``: the
            unannotated corner mark).
        expected: the expected regions.
        epochs: training epochs of both models.
        note: one line for ``--list`` and the table.
        default: part of the default sweep (the ``other-*`` cases are not: about 25 s a
            seed each, run with ``--cases other``).
        analysis: extra keys of the config's ``analysis`` section.
        cue: the planted attribute and, per class, the value planted with it in train (None:
            no attribute carries the shortcut). The bench's oracle (:mod:`bench.oracle`)
            measures from it whether each model relies on the cue; a high shortcut finding on
            a ``rebalanced`` model that does is true, not a false alarm.

    A case whose data holds a ``val`` split (a fresh one drawn like ``test``: the holdout)
    has its trained models audited on it too, and a high group-gap or cluster finding whose
    claim replicates there (:func:`bench.oracle.replicates`) is true, not a false alarm.
    """

    name: str
    data: Callable[[int, Path], dict]
    attributes: list[str]
    planted: str | None
    expected: list[str] = field(default_factory=lambda: ["object"])
    epochs: int = 5
    note: str = ""
    analysis: dict = field(default_factory=dict)
    cue: tuple[str, dict[str, str]] | None = None
    default: bool = True  # in the sweep run when --cases is not given


CLINIC = {"n_train": 3000, "n_test": 600, "size": 64}  # the demo's sizes
TRUTH = "truth.csv"  # a case's planted attribute per sample id, when its manifest lacks it
HAIR_CUE = ("hair", dict(zip(CLINIC_CLASSES, HAIR, strict=True)))
SCENE_CUE = ("scene", dict(zip(SCENE_CLASSES, SCENES, strict=True)))
DIGIT_CUE = ("scene", dict(zip(DIGIT_CLASSES, SCENES, strict=True)))
DIGIT4_CUE = ("scene", dict(zip(CLASSES4, PHOTOS4, strict=True)))
SCENES = {"n_train": 1200, "n_test": 400, "size": 48}
CASES: dict[str, Case] = {c.name: c for c in [
    Case("clinic-null", _synthetic("clinic", 0.5, **CLINIC), ["hair"], None,
         note="clinic, hair independent of the class (bias 0.5)"),
    Case("clinic-0.8", _synthetic("clinic", 0.8, **CLINIC), ["hair"], "face", cue=HAIR_CUE,
         note="clinic, hair agrees with the class in 80% of train"),
    Case("clinic-0.95", _synthetic("clinic", 0.95, **CLINIC), ["hair"], "face", cue=HAIR_CUE,
         note="clinic, hair agrees with the class in 95% of train"),
    Case("scenes-0.95", _synthetic("scenes", 0.95, **SCENES), ["scene"], "background",
         cue=SCENE_CUE, note="scenes, background agrees with the class in 95% of train"),
    Case("scenes-0.98", _synthetic("scenes", 0.98, **SCENES), ["scene"], "background",
         cue=SCENE_CUE, note="scenes, background agrees with the class in 98% of train"),
    Case("scenes-null", _synthetic("scenes", 0.5, **SCENES), ["scene"], None,
         note="scenes, background independent of the class (bias 0.5)"),
    Case("scenes-0.98-unrecorded", _unrecorded(0.98, **SCENES), ["site"], "background",
         cue=SCENE_CUE,
         note="scenes-0.98 audited without its scene column (a random `site` instead)"),
    Case("digits-0.95", _digits(0.95), ["scene"], "background", expected=["digit"],
         cue=DIGIT_CUE,
         note="handwritten 0/1 on scene photos, boxed; scene agrees with the digit in 95%"),
    Case("digits-null", _digits(0.5, holdout=2000), ["scene"], None, expected=["digit"],
         note="handwritten 0/1 on scene photos, boxed; scene independent of the digit"),
    Case("digits4-0.95", _digits(0.95, four=True), ["scene"], "background",
         expected=["digit"], cue=DIGIT4_CUE,
         note="handwritten 0-3, each with a photo of its own in 95% of train; boxed"),
    Case("digits4-null", _digits(0.25, holdout=2000, four=True), ["scene"], None,
         expected=["digit"],
         note="handwritten 0-3 on four photos drawn independently of the digit; boxed"),
    Case("mark-0.95", _synthetic("clinic", 0.5, **CLINIC, corner_mark=0.95), ["hair"], MARK,
         analysis={"cues": "on"},
         note="clinic, an unannotated corner mark agrees with the class in 95% of train"),
    Case("mark-null", _synthetic("clinic", 0.5, **CLINIC, corner_mark=0.5), ["hair"], None,
         analysis={"cues": "on"},
         note="clinic, an unannotated corner mark independent of the class"),
    Case("clinic-null-unannotated", _unannotated(0.5, **CLINIC), ["hair"], None, expected=[],
         note="clinic-null read without its region annotations (manifest only)"),
    Case("mark-0.95-unannotated", _unannotated(0.5, **CLINIC, corner_mark=0.95), ["hair"], MARK,
         expected=[], note="mark-0.95 read without its region annotations (manifest only)"),
    Case("shapes-null-4x2", _shapes("4x2"), ["tint", "patch"], None,
         note="4 shapes, background tint and a patch colour, both independent of the class"),
    Case("shapes-null-imbalanced", _shapes("imbalanced"), ["tint"], None,
         note="3 shapes at 60/30/10%, a patch colour (80/20) independent of the class"),
    Case("shapes-null-6val", _shapes("6val"), ["patch"], None,
         note="2 shapes, a patch of 6 colours (35% down to 4%) independent of the class"),
    _other_case("frame", 0.95, "a 3 px red/blue border agrees with the class in 95% of train"),
    _other_case("frame", 0.5, "the border colour independent of the class"),
    _other_case("bigobj_noisy", 0.95, "an object over half the image, 20% of train objects "
                "of the other class; the background photo agrees in 95%"),
    _other_case("bigobj_noisy", 0.5, "the same, background independent of the class"),
    _other_case("three", 0.95, "three classes, each with a photo of its own in 95% of train"),
    _other_case("three", 1 / 3, "three classes on three photos drawn independently"),
    _other_case("sticker", 0.95, "the background agrees with the class in 95% of train; a "
                "corner sticker, annotated, independent of it"),
    _other_case("sticker", 0.5, "the same, background independent of the class"),
    _other_case("texture_hard", 0.95, "a degraded object on stripes/dots agreeing in 95%"),
    _other_case("texture_hard", 0.5, "the same, texture independent of the class"),
    _other_case("randpos", 0.95, "a 7 px marker at a random place, its colour agreeing with "
                "the class in 95% of train; boxed per image"),
    _other_case("randpos", 0.5, "the same, marker colour independent of the class"),
]}


def config_for(case: Case, seed: int, work: Path) -> dict:
    """The audit config of one case and seed."""
    train = {"epochs": case.epochs, "lr": 0.003, "batch_size": 64}
    return {
        "name": f"{case.name}-s{seed}", "output_dir": str(work / "run"), "seed": seed,
        "device": "cpu", "data": case.data(seed, work),
        "models": [{"name": "baseline", "train": {**train, "balance": "none"}},
                   {"name": "rebalanced", "train": {**train, "balance": "group",
                                                    "balance_by": list(case.attributes)}}],
        "saliency": {"methods": ["gradcam"]},
        "analysis": {"expected_regions": case.expected, "sanity_check": False,
                     "n_bootstrap": 200, **case.analysis},
        "report": {"formats": []},
    }


def _overlaps(box: list[float], mark: tuple[float, ...]) -> bool:
    return box[0] < mark[2] and mark[0] < box[2] and box[1] < mark[3] and mark[1] < box[3]


def _concept_on_mark(item: dict[str, Any], grid: list[int]) -> bool:
    """Most of the concept's strongest positions lie within 2.5 grid cells of the mark's
    centre (a target-layer position sees well beyond its own cell)."""
    top = item.get("top") or []
    if not top or not grid or not grid[0]:
        return False
    h, w = grid
    my, mx = (MARK_BOX[1] + MARK_BOX[3]) / 2 * h, (MARK_BOX[0] + MARK_BOX[2]) / 2 * w
    hits = sum(max(abs(t["row"] + 0.5 - my), abs(t["col"] + 0.5 - mx)) <= 2.5 for t in top)
    return hits * 2 > len(top)


def on_mark(f: dict, block: dict) -> bool:
    """A ``hotspot`` / ``concept`` finding that locates the corner mark."""
    ev = f.get("evidence") or {}
    if f["kind"] == "hotspot":
        return _overlaps(ev.get("box") or [0, 0, 0, 0], MARK_BOX)
    if f["kind"] == "concept":
        concepts = block.get("concepts") or {}
        items = {c["concept"]: c for c in concepts.get("items") or []}
        return _concept_on_mark(items.get(ev.get("concept"), {}), concepts.get("grid") or [])
    return False


def _brief(f: dict, block: dict) -> dict:
    ev = f.get("evidence") or {}
    region = ev.get("region") or ev.get("hotspot") or (
        f"concept {ev['concept']}" if "concept" in ev else None)
    if f["kind"] in CUE_KINDS and on_mark(f, block):
        region = f"{region}, on the mark"
    return {"kind": f["kind"], "severity": f["severity"], "region": region,
            "reasons": ev.get("severity_reasons") or ev.get("signals") or [],
            "on_mark": on_mark(f, block), "title": f["title"]}


def score(case: Case, summary: dict, gaps: dict[str, dict] | None = None,
          holdout: dict[str, pd.DataFrame] | None = None) -> dict[str, Any]:
    """Hits, false alarms and listed findings of one audited case and seed. ``gaps``: the
    oracle's planted-cue accuracy gap per model (:func:`bench.oracle.cue_gaps`);
    ``holdout``: each model's audited samples on the case's fresh split, where a high finding
    must replicate (:func:`bench.oracle.replicates`) to be listed instead of counted."""
    out: dict[str, Any] = {"hit": None, "false_alarms": [], "listed": [], "metrics": {}}
    null = case.planted is None
    mark = case.planted == MARK
    gaps, holdout = gaps or {}, holdout or {}
    for model, block in summary["models"].items():
        m = block.get("metrics") or {}
        out["metrics"][model] = {"accuracy": m.get("accuracy"),
                                 "worst_group_accuracy": m.get("worst_group_accuracy"),
                                 "cue_gap": gaps.get(model)}
        kinds = CUE_KINDS if mark else SHORTCUT_KINDS
        raw = [f for f in block.get("findings") or [] if null or f["kind"] in kinds]
        found = [_brief(f, block) for f in raw]
        relies = bool((gaps.get(model) or {}).get("relies"))
        biased = not null and (model == "baseline" or mark or relies)
        if not null and model == "baseline":
            out["hit"] = any(
                f["severity"] == "high" and (f["on_mark"] if mark else (
                    f["kind"] == "spurious_cue" and f["region"] == case.planted
                    and CAUSAL & set(f["reasons"])))
                for f in found)
        for f, full in zip(found, raw, strict=True):
            entry = {"model": model, **f}
            if model in holdout and f["severity"] == "high":
                entry["replicates"] = replicates(full, holdout[model])
            if (f["severity"] == "high" and (not biased or (mark and not f["on_mark"]))
                    and not entry.get("replicates")):
                out["false_alarms"].append(entry)
            elif f["severity"] in ("high", "medium"):
                out["listed"].append(entry)
    return out


def run_case(case: Case, seed: int, work: Path, *, keep: bool = False,
             rescore: bool = False) -> dict[str, Any]:
    """Build, train, audit and score one case at one seed.

    ``keep`` leaves the run directory under ``work``; ``rescore`` resumes a kept one: the
    generated data and the trained models are reused, the audit pass and the findings run
    again with the current code (seconds instead of a retrain)."""
    folder = work / f"{case.name}-s{seed}"
    reuse = rescore and (folder / "run").is_dir()
    if folder.exists() and not reuse:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = parse_config(config_for(case, seed, folder), base_dir=folder)
    t0 = time.perf_counter()
    result = run_audit(cfg, overwrite=True, fresh=not reuse)
    seconds = time.perf_counter() - t0
    gaps = oracle(case, folder)
    fresh = holdout_samples(case, seed, folder) if _has_holdout(cfg) else None
    if not (keep or rescore):
        shutil.rmtree(folder, ignore_errors=True)
    return {"case": case.name, "seed": seed, "seconds": round(seconds, 1),
            **score(case, result.summary, gaps, fresh)}


def _has_holdout(cfg: Any) -> bool:
    """The case's data (a manifest it wrote) holds a ``val`` split: its holdout."""
    manifest = cfg.data.manifest
    return manifest is not None and bool(
        (pd.read_csv(manifest, usecols=["split"])["split"] == "val").any())


def holdout_samples(case: Case, seed: int, folder: Path) -> dict[str, pd.DataFrame]:
    """Audit the trained models (their checkpoints) on the case's fresh ``val`` split; return
    each model's samples. Only predictions are read, so the causal tests stay off."""
    cfg = config_for(case, seed, folder)
    cfg.update(name=f"{cfg['name']}-holdout", output_dir=str(folder / "holdout"))
    cfg["data"]["audit_split"] = "val"
    cfg["analysis"]["reliance"] = False
    cfg["models"] = [{"name": m["name"],
                      "checkpoint": str(folder / "run" / "models" / f"{m['name']}.pt")}
                     for m in cfg["models"]]
    run_audit(parse_config(cfg, base_dir=folder), overwrite=True, fresh=True)
    samples = pd.read_parquet(folder / "holdout" / "samples.parquet")
    return {str(m): rows for m, rows in samples.groupby("model", sort=False)}


def oracle(case: Case, folder: Path) -> dict[str, dict]:
    """The planted-cue accuracy gap of each model of a finished run (none without a cue)."""
    if case.cue is None:
        return {}
    attribute, agrees = case.cue
    samples = pd.read_parquet(folder / "run" / "samples.parquet")
    truth = None
    if (folder / TRUTH).exists():
        table = pd.read_csv(folder / TRUTH, keep_default_na=False)
        truth = pd.Series(table[attribute].to_numpy(), index=table["path"].astype(str))
    elif attribute not in samples.columns:
        return {}  # a run kept before the truth file existed: no oracle for it
    return cue_gaps(samples, attribute, agrees, truth)


def _gap(result: dict[str, Any], model: str) -> str:
    """The oracle's gap in points, ``*`` when the model relies on the cue."""
    g = (result["metrics"].get(model) or {}).get("cue_gap")
    if not g or g["gap"] is None or g["gap"] != g["gap"]:
        return "?"
    return f"{100 * g['gap']:.0f}{'*' if g['relies'] else ''}"


def table(results: list[dict[str, Any]]) -> str:
    """The markdown table: per case and finding kind, hits and false alarms."""
    lines = ["| case | seeds | hits (baseline: high, planted region, causal) | false alarms "
             "(high, by kind) | high findings the oracle shows true | medium findings listed | "
             "worst group baseline → rebalanced | planted-cue gap baseline → rebalanced |",
             "|---|---|---|---|---|---|---|---|"]
    order = list(CASES)
    for name in sorted(dict.fromkeys(r["case"] for r in results), key=order.index):
        rows = [r for r in results if r["case"] == name]
        case = CASES[name]
        seeds = ",".join(str(r["seed"]) for r in rows)
        hits = (f"{sum(bool(r['hit']) for r in rows)}/{len(rows)} ({case.planted})"
                if case.planted else "– (null)")
        fa: dict[str, int] = {}
        med: dict[str, int] = {}
        true_high: dict[str, int] = {}
        for r in rows:
            for f in r["false_alarms"]:
                key = f"{f['model']} {f['kind']}({f['region']})"
                fa[key] = fa.get(key, 0) + 1
            for f in r["listed"]:
                key = f"{f['model']} {f['kind']}({f['region']})"
                if f["severity"] == "medium":
                    med[key] = med.get(key, 0) + 1
                elif f["severity"] == "high" and (case.planted is None
                                                  or f["model"] != "baseline"):
                    why = ("replicates" if f.get("replicates") else
                           "the mark is not balanced" if f.get("on_mark") else "relies")
                    true_high[f"{key}, {why}"] = true_high.get(f"{key}, {why}", 0) + 1
        worst = "; ".join(
            f"{100 * (r['metrics']['baseline']['worst_group_accuracy'] or 0):.0f}% → "
            f"{100 * (r['metrics']['rebalanced']['worst_group_accuracy'] or 0):.0f}%"
            for r in rows)
        gap = "; ".join(f"{_gap(r, 'baseline')} → {_gap(r, 'rebalanced')}" for r in rows
                        ) if case.cue else "–"
        lines.append(f"| {name} | {seeds} | {hits} | "
                     f"{', '.join(f'{k} ×{v}' for k, v in fa.items()) or '0'} | "
                     f"{', '.join(f'{k} ×{v}' for k, v in true_high.items()) or 'none'} | "
                     f"{', '.join(f'{k} ×{v}' for k, v in med.items()) or 'none'} | {worst} | "
                     f"{gap} |")
    return "\n".join(lines)


def medium_texts(results: list[dict[str, Any]]) -> str:
    """Every MEDIUM finding scored above (null cases: all kinds), with its text."""
    lines = [f"- `{r['case']}` seed {r['seed']}, {f['model']}, {f['kind']}: {f['title']}"
             for r in results for f in r["listed"]
             if f["severity"] == "medium" and (CASES[r["case"]].planted is None
                                               or f["model"] != "baseline")]
    return "\n".join(lines) or "(no medium findings)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(n for n, c in CASES.items() if c.default),
                   help="comma-separated case names, or `other` for every other-* case "
                        "(default: every case but those)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--work", type=Path, default=Path("runs/validity"), help="scratch folder")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--keep", action="store_true",
                   help="keep each run directory under --work (for --rescore)")
    p.add_argument("--rescore", action="store_true",
                   help="resume the kept runs: same data and trained models, the audit pass "
                        "and findings rerun with the current code (runs not kept are made)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--table", type=Path, nargs="+", default=None, metavar="JSON",
                   help="print the table of earlier --out files (e.g. cases run in parallel)")
    args = p.parse_args(argv)
    if args.list:
        for c in CASES.values():
            print(f"{c.name:<24} planted={c.planted or '-':<11} {c.note}")
        return 0
    if args.table:
        loaded = [r for f in args.table for r in json.loads(f.read_text())]
        print(f"{table(loaded)}\n\nMedium findings:\n{medium_texts(loaded)}")
        return 0
    names = [n for c in args.cases.split(",") if c.strip()
             for n in ([k for k, v in CASES.items() if not v.default] if c.strip() == "other"
                       else [c.strip()])]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)} (known: {', '.join(CASES)})",
              file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    logging.basicConfig(level=logging.WARNING)
    results, t0 = [], time.perf_counter()
    for name in names:
        for seed in seeds:
            r = run_case(CASES[name], seed, args.work, keep=args.keep, rescore=args.rescore)
            results.append(r)
            print(f"{name} seed {seed}: {r['seconds']:.0f} s, hit={r['hit']}, "
                  f"false alarms={len(r['false_alarms'])}, listed={len(r['listed'])}",
                  flush=True)
            for f in r["false_alarms"] + r["listed"]:
                print(f"    {f['severity']:<6} {f['model']}: {f['title']}", flush=True)
            if args.out:  # after every run, so a long sweep leaves what it finished
                args.out.write_text(json.dumps(results, indent=2))
    print(f"\n{table(results)}\n\nMedium findings:\n{medium_texts(results)}\n\n"
          f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Before and after: compare two models on the same samples.

:func:`compare_models` takes the per-sample table of a run (``samples.parquet``: one row per
(model, sample)) and compares two of its models sample by sample: accuracy, worst-group
accuracy, per-group accuracy, attention mass per region, McNemar's test on correctness and
the shift of each sample's top region. :func:`auditor.pipeline.compare_runs.compare_runs` does the
same for two run directories.

Groups. *Per-group accuracy* is reported per attribute value (e.g. ``hair=blond``). The
*worst group* follows the rule and the naming of a run's summary
(:func:`auditor.metrics.groups.worst_and_best`): the lowest-accuracy cell of (true label x
attribute value) over every attribute, named like ``"hair=blond & label=doctor"``, among cells
with at least ``min_group_support`` (default 10) samples, so one odd sample cannot be "the
worst group" (all cells compete, with a note, when none is that large); with no attributes
the cells are the classes. The baseline's and the candidate's worst cells may differ; the
delta compares their accuracies.

With no method (the two models' maps are not comparable) only accuracy is compared:
``attention`` and ``top_region`` stay empty.

Every delta is ``candidate - baseline``; every interval is a paired percentile bootstrap
(``level``, ``n_boot`` resamples, seeded per quantity).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from auditor.errors import CompareError
from auditor.metrics.columns import area_column, mass_column
from auditor.metrics.groups import group_cells, worst_and_best
from auditor.metrics.paired import (
    McNemarResult,
    mcnemar,
    paired_bootstrap_ci,
    paired_group_delta_ci,
    wilcoxon_p,
)
from auditor.metrics.stats import json_clean, json_float

__all__ = ["Comparison", "compare_models", "MIN_GROUP_SUPPORT", "EXAMPLES_PER_TRANSITION"]

#: Smallest (label x attribute value) cell that can be the worst group.
MIN_GROUP_SUPPORT = 10
#: Example sample ids kept per top-region transition.
EXAMPLES_PER_TRANSITION = 8


@dataclass
class Comparison:
    """The paired comparison of a candidate model against a baseline on the same samples.

    Attributes:
        baseline: baseline model name.
        candidate: candidate model name.
        n: number of paired samples.
        level: confidence level of every interval.
        accuracy: ``{"baseline", "candidate", "delta", "ci": [lo, hi]}``.
        balanced_accuracy: ``{"baseline", "candidate", "delta", "ci", "n"}`` (mean
            per-class recall; ``ci``: paired bootstrap of the delta).
        worst_group: ``{"baseline": {"group", "n", "accuracy"}, "candidate": {...}, "delta",
            "ci", "min_support"}`` (``ci``: paired bootstrap of the delta, each replicate
            taking each model's worst competing cell anew).
        by_group: ``{attr: {value: {"n", "baseline", "candidate", "delta", "ci"}}}``.
        attention: ``{method: {region: {"n", "baseline", "candidate", "delta", "ci",
            "wilcoxon_p"}}}`` (mean attention mass).
        mcnemar: McNemar's test on per-sample correctness.
        top_region: ``{"method", "n", "n_changed", "changed_share", "transitions":
            {"face->object": count}, "examples": {"face->object": [ids]}, "share":
            {"baseline": {region: share}, "candidate": {...}}}``.
        seed: base seed of the bootstraps.
        n_boot: bootstrap resamples.
    """

    baseline: str
    candidate: str
    n: int
    level: float
    accuracy: dict
    balanced_accuracy: dict
    worst_group: dict
    by_group: dict
    attention: dict
    mcnemar: McNemarResult
    top_region: dict
    seed: int = 0
    n_boot: int = 2000
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The ``comparisons`` entry of summary.json (DESIGN.md) plus the detail blocks.

        Returns:
            ``{"baseline", "candidate", "delta": {...}, "mcnemar_p", ...}``, JSON-ready
            (NaN becomes ``None``).
        """
        delta = {
            "accuracy": json_float(self.accuracy["delta"]),
            "balanced_accuracy": json_float(self.balanced_accuracy["delta"]),
            "worst_group_accuracy": json_float(self.worst_group["delta"]),
            "attention": {
                m: {r: json_float(v["delta"]) for r, v in regions.items()}
                for m, regions in self.attention.items()
            },
            "top_region_changed": json_float(self.top_region.get("changed_share")),
        }
        return json_clean(
            {
                "baseline": self.baseline,
                "candidate": self.candidate,
                "delta": delta,
                "mcnemar_p": self.mcnemar.p,
                "n": self.n,
                "level": self.level,
                "seed": self.seed,
                "n_boot": self.n_boot,
                "accuracy": self.accuracy,
                "balanced_accuracy": self.balanced_accuracy,
                "worst_group": self.worst_group,
                "by_group": self.by_group,
                "attention": self.attention,
                "mcnemar": self.mcnemar.to_dict(),
                "top_region": self.top_region,
                "notes": list(self.notes),
            }
        )


def compare_models(
    samples: pd.DataFrame,
    baseline: str,
    candidate: str,
    *,
    methods: list[str],
    regions: list[str],
    attributes: list[str],
    level: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    min_group_support: int = MIN_GROUP_SUPPORT,
) -> Comparison:
    """Compare ``candidate`` against ``baseline`` sample by sample.

    Args:
        samples: per-sample table of all models (``model, id, label, correct``, attribute
            columns, ``mass_<method>_<region>``); rows of the two models are matched by ``id``.
            Label and attribute values are taken from the baseline's rows.
        baseline: name of the baseline model (``model`` column).
        candidate: name of the candidate model.
        methods: saliency methods to compare; the first one defines each sample's top region.
        regions: region names (``mass_<method>_<region>`` columns).
        attributes: subgroup attribute columns.
        level: confidence level of the bootstrap intervals.
        seed: base seed of the bootstraps.
        n_boot: bootstrap resamples per interval.
        min_group_support: smallest (label x attribute value) cell eligible as worst group.

    Returns:
        The :class:`Comparison`.

    Raises:
        CompareError: a model or column is missing, ids repeat, or no sample is shared.
    """
    paired = _pair(samples, baseline, candidate, methods, regions, attributes)
    base_ok = paired["correct_b"].to_numpy(dtype=bool)
    cand_ok = paired["correct_c"].to_numpy(dtype=bool)
    diff = cand_ok.astype(float) - base_ok.astype(float)
    n = len(paired)

    mean, lo, hi = paired_bootstrap_ci(diff, level=level, n_boot=n_boot, seed=seed, key="acc")
    accuracy = {
        "baseline": float(base_ok.mean()),
        "candidate": float(cand_ok.mean()),
        "delta": mean,
        "ci": [lo, hi],
        "n": n,
    }
    labels = paired["label"].astype(str).to_numpy()
    bal_b = _balanced_accuracy(labels, base_ok)
    bal_c = _balanced_accuracy(labels, cand_ok)
    classes = (labels[:, None] == np.unique(labels)[None, :]).astype(float)
    balanced = {"baseline": bal_b, "candidate": bal_c, "delta": bal_c - bal_b,
                "ci": list(paired_group_delta_ci(classes, base_ok, cand_ok, reduce=np.nanmean,
                                                 level=level, n_boot=n_boot, seed=seed,
                                                 key="balanced_accuracy")), "n": n}

    by_group: dict[str, dict] = {}
    for attr in attributes:
        values = paired[attr].astype(str).to_numpy()
        by_group[attr] = {}
        for value in sorted(set(values)):
            sel = values == value
            g_mean, g_lo, g_hi = paired_bootstrap_ci(
                diff[sel], level=level, n_boot=n_boot, seed=seed, key=f"group:{attr}={value}"
            )
            by_group[attr][value] = {
                "n": int(sel.sum()),
                "baseline": float(base_ok[sel].mean()),
                "candidate": float(cand_ok[sel].mean()),
                "delta": g_mean,
                "ci": [g_lo, g_hi],
            }

    notes: list[str] = []
    worst_group = _worst_groups(paired, attributes, base_ok, cand_ok, min_group_support, notes)
    worst_group["ci"] = list(paired_group_delta_ci(
        _competing_cells(paired, attributes, min_group_support), base_ok, cand_ok,
        reduce=np.nanmin, level=level, n_boot=n_boot, seed=seed, key="worst_group"))

    attention: dict[str, dict] = {}
    for method in methods:
        attention[method] = {}
        for region in regions:
            col = mass_column(method, region)
            mb = paired[f"{col}_b"].to_numpy(dtype=float)
            mc = paired[f"{col}_c"].to_numpy(dtype=float)
            keep = ~(np.isnan(mb) | np.isnan(mc))
            d_mean, d_lo, d_hi = paired_bootstrap_ci(
                mc[keep] - mb[keep], level=level, n_boot=n_boot, seed=seed, key=col
            )
            attention[method][region] = {
                "n": int(keep.sum()),
                "baseline": float(mb[keep].mean()) if keep.any() else float("nan"),
                "candidate": float(mc[keep].mean()) if keep.any() else float("nan"),
                "delta": d_mean,
                "ci": [d_lo, d_hi],
                "wilcoxon_p": wilcoxon_p(mb, mc),
            }

    return Comparison(
        baseline=baseline,
        candidate=candidate,
        n=n,
        level=level,
        accuracy=accuracy,
        balanced_accuracy=balanced,
        worst_group=worst_group,
        by_group=by_group,
        attention=attention,
        mcnemar=mcnemar(base_ok, cand_ok),
        top_region=_top_region_shift(paired, methods[0], regions) if methods else {},
        seed=seed,
        n_boot=n_boot,
        notes=notes,
    )


def _pair(
    samples: pd.DataFrame,
    baseline: str,
    candidate: str,
    methods: list[str],
    regions: list[str],
    attributes: list[str],
) -> pd.DataFrame:
    """One row per shared sample id: baseline columns ``*_b``, candidate columns ``*_c``.

    Rows are sorted by id so every result is independent of the input order.
    """
    for col in ("model", "id", "label", "correct"):
        if col not in samples.columns:
            raise CompareError(f"samples table has no column '{col}'")
    if methods and not regions:
        raise CompareError("no region to compare (regions is empty)")
    models = list(dict.fromkeys(samples["model"].astype(str)))
    for name in (baseline, candidate):
        if name not in models:
            raise CompareError(f"no model named '{name}' in the samples table (models: {models})")
    if baseline == candidate:
        raise CompareError(f"baseline and candidate are the same model '{baseline}'")
    mass_cols = [mass_column(m, r) for m in methods for r in regions]
    missing = [c for c in [*attributes, *mass_cols] if c not in samples.columns]
    if missing:
        raise CompareError(f"samples table has no column '{missing[0]}' ({len(missing)} missing)")

    def side(name: str, suffix: str, with_meta: bool) -> pd.DataFrame:
        rows = samples[samples["model"].astype(str) == name]
        dup = rows["id"][rows["id"].duplicated()]
        if len(dup):
            raise CompareError(f"model '{name}' has sample id '{dup.iloc[0]}' more than once")
        areas = [area_column(r) for r in regions if area_column(r) in rows.columns]
        cols = ["correct", *mass_cols] + (["label", *attributes, *areas] if with_meta else [])
        out = rows[["id", *cols]].copy()
        out["id"] = out["id"].astype(str)
        rename = {c: f"{c}_{suffix}" for c in ["correct", *mass_cols]}
        if not with_meta:
            out["label_check"] = rows["label"].to_numpy()
            rename["label_check"] = "label_c"
        return out.rename(columns=rename)

    paired = side(baseline, "b", True).merge(side(candidate, "c", False), on="id", how="inner")
    if paired.empty:
        raise CompareError(f"models '{baseline}' and '{candidate}' share no sample id")
    bad = paired["label"].astype(str) != paired["label_c"].astype(str)
    if bad.any():
        first = paired.loc[bad, "id"].iloc[0]
        raise CompareError(
            f"different labels for the same id: {int(bad.sum())} ids, e.g. '{first}'"
        )
    for suffix in ("b", "c"):
        paired[f"correct_{suffix}"] = paired[f"correct_{suffix}"].astype(bool)
    return paired.sort_values("id", kind="stable").reset_index(drop=True)


def _balanced_accuracy(labels: np.ndarray, correct: np.ndarray) -> float:
    """Mean per-class recall. labels: str [N]; correct: bool [N]."""
    return float(np.mean([correct[labels == c].mean() for c in np.unique(labels)]))


def _worst_groups(paired: pd.DataFrame, attributes: list[str], base_ok: np.ndarray,
                  cand_ok: np.ndarray, min_support: int, notes: list[str]) -> dict:
    """The worst group of each model by the summary's rule, and their accuracy delta."""
    labels = paired["label"].astype(str).to_numpy()
    out: dict = {"min_support": min_support}
    for side, ok in (("baseline", base_ok), ("candidate", cand_ok)):
        # cell accuracy depends only on correctness: a wrong answer becomes a non-class
        frame = paired[["label", *attributes]].astype(str).assign(
            pred=np.where(ok, labels, "\x00wrong"))
        worst, _, size_met = worst_and_best(group_cells(frame, attributes), min_support)
        out[side] = {"group": worst.name, "n": worst.n, "accuracy": worst.accuracy}
        if not size_met and side == "baseline":
            notes.append(f"no (label x attribute) cell has {min_support} or more samples; the "
                         "worst of all cells is shown")
    out["delta"] = out["candidate"]["accuracy"] - out["baseline"]["accuracy"]
    return out


def _competing_cells(paired: pd.DataFrame, attributes: list[str], min_support: int
                     ) -> np.ndarray:
    """``[N, K]`` 0/1 membership of each sample in the cells that compete for the worst
    group (:func:`~auditor.metrics.groups.worst_and_best`: label x attribute value cells of
    at least ``min_support`` samples, all of them when none is that large; classes without
    attributes)."""
    labels = paired["label"].astype(str).to_numpy()
    keys = [labels + "\x00" + paired[a].astype(str).to_numpy() for a in attributes] or [labels]
    cols = [k[:, None] == np.unique(k)[None, :] for k in keys]
    hot = np.concatenate(cols, axis=1).astype(float)
    large = hot.sum(axis=0) >= min_support
    return hot[:, large] if large.any() else hot


def _top_region_shift(paired: pd.DataFrame, method: str, regions: list[str]) -> dict:
    """Share of samples whose top region changed, with transitions and example ids.

    The top region is the one with the highest lift (mass / area) when the table has
    ``area_<region>`` columns — raw mass would almost always name the largest region
    (background) — and the highest mass otherwise. Regions absent from an image (area 0)
    cannot be its top region.
    """
    mb = paired[[f"{mass_column(method, r)}_b" for r in regions]].to_numpy(dtype=float)
    mc = paired[[f"{mass_column(method, r)}_c" for r in regions]].to_numpy(dtype=float)
    area_cols = [f"{area_column(r)}_b" if f"{area_column(r)}_b" in paired else area_column(r)
                 for r in regions]
    if all(c in paired for c in area_cols):
        area = paired[area_cols].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mb = np.where(area > 0, mb / area, -np.inf)
            mc = np.where(area > 0, mc / area, -np.inf)
    keep = ~(np.isnan(mb).any(axis=1) | np.isnan(mc).any(axis=1)
             | np.isneginf(mb).all(axis=1) | np.isneginf(mc).all(axis=1))
    ids = paired["id"].to_numpy()[keep]
    top_b = np.asarray(regions, dtype=object)[mb[keep].argmax(axis=1)]
    top_c = np.asarray(regions, dtype=object)[mc[keep].argmax(axis=1)]
    changed = top_b != top_c
    n = int(keep.sum())
    counts = Counter(f"{a}->{b}" for a, b in zip(top_b[changed], top_c[changed], strict=True))
    transitions = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    examples: dict[str, list[str]] = {k: [] for k in transitions}
    for sid, a, b in zip(ids[changed], top_b[changed], top_c[changed], strict=True):
        bucket = examples[f"{a}->{b}"]
        if len(bucket) < EXAMPLES_PER_TRANSITION:
            bucket.append(str(sid))

    def share(top: np.ndarray) -> dict[str, float]:
        return {r: (float(np.mean(top == r)) if n else float("nan")) for r in regions}

    return {
        "method": method,
        "by": "lift" if all(c in paired for c in area_cols) else "mass",
        "n": n,
        "n_changed": int(changed.sum()),
        "changed_share": float(changed.mean()) if n else float("nan"),
        "transitions": transitions,
        "examples": examples,
        "share": {"baseline": share(top_b), "candidate": share(top_c)},
    }

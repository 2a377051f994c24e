"""Findings: flags with the evidence behind them, for one model.

Kinds (DESIGN meaning kept); their severity rules live in :mod:`auditor.metrics.severity` and
are documented, with their tests, corrections and minimum effect sizes, in docs/findings.md.

* ``spurious_cue`` — see :mod:`auditor.metrics.spurious`.
* ``ignored_region`` — see :mod:`auditor.metrics.ignored`.
* ``group_gap`` — among the (class x attribute value) cells with at least ``min_group_size``
  samples, compared within their class, and separately among the values of each attribute:
  worst vs best group (:func:`auditor.metrics.groups.worst_and_best`), Fisher exact test
  Bonferroni-corrected over every pair the two were picked from; high needs the gap's
  Newcombe lower bound at that corrected level to reach ``gap_threshold``.
* ``misclassification_cluster`` — a cluster (:mod:`auditor.metrics.clusters`) with an enriched
  attribute value; its severity depends on the slice behind it (does that value's own error
  rate for the cluster's confusion differ?).
* ``unreliable_saliency`` — the saliency sanity check failed (``passed`` is False); ``high``;
  or a method's maps are empty (all zero) for many images (:mod:`auditor.metrics.empty_maps`).
* ``coarse_map`` (extra) — the target layer's maps are coarser than 4x4 at the audit's input
  size, so region masses and the sanity check say little; ``medium``. The evidence names a finer
  layer when the model has one.
* ``disparity`` (extra, Aequitas-style) — a group's accuracy, or its attention on a spurious
  region, far from the largest group's: see :mod:`auditor.metrics.disparity`.
* ``slice`` (extra) — a significant slice (:mod:`auditor.metrics.slices`), graded on its
  excess over the rest of its parent; a class on its own is at most medium and worded as a
  harder class. At most three, skipping slices nested in or around one already reported, a
  group gap's worst group, or a cell a cluster reports in full.

Findings come back sorted by severity, then kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from scipy import stats as sps

from auditor.common.text import span
from auditor.metrics.base import (
    SEVERITIES,
    Finding,
    Severity,
    describe_group,
    fmt_p,
    pct,
)
from auditor.metrics.chance import chance_findings
from auditor.metrics.cluster_findings import cells_in_full, cluster_findings
from auditor.metrics.clusters import Cluster
from auditor.metrics.disparity import disparity_findings
from auditor.metrics.empty_maps import empty_map_findings, mostly_empty
from auditor.metrics.groups import (
    GroupPerformance,
    GroupStat,
    group_performance,
    worst_and_best,
)
from auditor.metrics.headline import headline_intervals
from auditor.metrics.ignored import ignored_region_findings
from auditor.metrics.sanity import sanity_findings
from auditor.metrics.settings import AnalysisSettings
from auditor.metrics.severity import (
    group_gap_severity,
    slice_severity,
)
from auditor.metrics.slices import Slice
from auditor.metrics.spurious import resolve_regions, spurious_cue_findings
from auditor.metrics.stats import json_float, newcombe_diff_ci

__all__ = [
    "Finding",
    "cluster_findings",
    "coarse_map_finding",
    "compute_findings",
    "disparity_findings",
    "group_gap_findings",
    "sanity_findings",
    "slice_findings",
    "spurious_cue_findings",
]

def _gap_finding(families: list[list[GroupStat]], scope: str, gap_threshold: float,
                 level: float) -> Finding | None:
    """The largest worst-vs-best gap within one of ``families`` (groups compared together)."""
    families = [f for f in families if len(f) >= 2]
    if not families:
        return None
    n_pairs = sum(len(f) * (len(f) - 1) // 2 for f in families)  # the pairs we picked from
    pairs = [worst_and_best(f, min_group_size=0)[:2] for f in families]
    worst, best = max(pairs, key=lambda wb: (wb[1].accuracy - wb[0].accuracy, -wb[0].accuracy,
                                             wb[0].name))
    gap = best.accuracy - worst.accuracy
    if gap <= gap_threshold:
        return None
    table = [[worst.correct, worst.n - worst.correct], [best.correct, best.n - best.correct]]
    p = float(sps.fisher_exact(table).pvalue)
    p_adj = min(1.0, p * n_pairs)
    gap_level = 1 - (1 - level) / n_pairs  # Bonferroni, like p_adj: the largest of n_pairs
    lo, hi = newcombe_diff_ci(best.correct, best.n, worst.correct, worst.n, gap_level)
    severity = group_gap_severity(gap, lo, p_adj, gap_threshold)
    if severity is None:
        return None
    title = (f"Accuracy for {describe_group(worst.features)} is {pct(worst.accuracy)} "
             f"({level:.0%} CI {pct(worst.ci[0])}–{pct(worst.ci[1])}, n={worst.n}), "
             f"{100 * gap:.0f} points (corrected CI {span(f'{100 * lo:.0f}', f'{100 * hi:.0f}')})"
             f" below "
             f"{describe_group(best.features)} ({pct(best.accuracy)}, n={best.n}; corrected "
             f"{fmt_p(p_adj)}).")
    return Finding("group_gap", severity, title, {
        "scope": scope, "worst_group": worst.to_dict(), "best_group": best.to_dict(),
        "gap": json_float(gap), "gap_ci": [json_float(lo), json_float(hi)],
        "gap_ci_level": gap_level, "gap_threshold": gap_threshold, "p": json_float(p),
        "p_adj": json_float(p_adj), "n_pairs": n_pairs})


def group_gap_findings(perf: GroupPerformance, *, gap_threshold: float, min_group_size: int,
                       level: float = 0.95) -> list[Finding]:
    """Group-gap findings from :func:`~auditor.metrics.groups.group_performance` results.

    Scope ``cells``: the (class x attribute value) cells are compared within their class (and
    attribute), so a class that is simply harder than another is not a group gap (the
    ``slice`` kind reports it); without attributes the classes are compared. Scope
    ``attribute:<name>``: the values of one attribute over all classes.

    Args:
        perf: group performance of one model (computed at the same ``level``).
        gap_threshold: accuracy gap (0..1) that must be exceeded.
        min_group_size: smallest group compared.
        level: confidence level of the intervals (for the title).
    """
    cells = [c for c in perf.cells if c.n >= min_group_size]
    families: dict[tuple[str, ...], list[GroupStat]] = {}
    for c in cells:
        key = tuple(sorted(k for k in c.features if k != "label"))
        key = (c.features["label"], *key) if key else ()
        families.setdefault(key, []).append(c)
    out = []
    f = _gap_finding(list(families.values()), "cells", gap_threshold, level)
    if f is not None:
        out.append(f)
    for attr, values in perf.by_group.items():
        f = _gap_finding([[s for s in values.values() if s.n >= min_group_size]],
                         f"attribute:{attr}", gap_threshold, level)
        if f is not None:
            out.append(f)
    return out


def coarse_map_finding(target_layer: str, map_size: Sequence[int], image_size: int,
                       note: str, finer: str | None = None,
                       finer_size: Sequence[int] | None = None) -> Finding:
    """``coarse_map`` for a target layer whose ``map_size`` ``(h, w)`` is below 4x4; ``note``
    is the sentence the run shows (it names ``finer`` when there is one)."""
    evidence: dict[str, Any] = {"target_layer": target_layer, "map_size": list(map_size),
                                "image_size": int(image_size)}
    if finer:
        evidence.update({"finer_layer": finer, "finer_map_size": list(finer_size or [])})
    return Finding("coarse_map", "medium", note[0].upper() + note[1:] + ".", evidence)


def _slice_title(s: Slice, severity: Severity, gap_threshold: float, level: float) -> str:
    """``Samples with class doctor, hair=blond are misclassified 94% ... against 2% for samples
    of class doctor with another hair (n=150; ...)``; a class alone is worded as a harder
    class."""
    head = (f"{pct(s.error_rate)} of the time ({level:.0%} CI {pct(s.ci[0])}–{pct(s.ci[1])}, "
            f"n={s.n})")
    tail = (f"; {100 * s.excess:.0f} points, under the {100 * gap_threshold:.0f}-point minimum "
            "effect" if severity == "low" else "")
    if s.class_only:
        return (f"Class {s.features['label']} is misclassified {head} against "
                f"{pct(s.reference_error_rate)} for the other classes (n={s.reference_n}; "
                f"corrected {fmt_p(s.p_adj)}{tail}): a harder class, not a subgroup of it. "
                "More or clearer training examples of it help; rebalancing by an attribute "
                "does not.")
    ref = dict(s.reference)
    other = "another class" if s.other == "label" else f"another {s.other}"
    who = f"samples of {describe_group(ref)} with {other}" if ref else f"samples of {other}"
    return (f"Samples with {describe_group(s.features)} are misclassified {head} against "
            f"{pct(s.reference_error_rate)} for {who} (n={s.reference_n}; corrected "
            f"{fmt_p(s.p_adj)}{tail}).")


def slice_findings(slices: Sequence[Slice], *, gap_threshold: float, max_findings: int = 3,
                   level: float = 0.95, skip: Sequence[set[tuple[str, str]]] = ()
                   ) -> list[Finding]:
    """``slice`` findings for the strongest significant slices (see the module docstring).

    Each slice is graded on its excess over its reference (the rest of its parent, see
    :mod:`auditor.metrics.slices`) and the Newcombe lower bound of that excess at the
    Bonferroni-corrected level; a class on its own is at most medium (a harder class is no
    subgroup finding). Slices are taken by severity, then excess; a slice nested in or around
    one already taken adds nothing.

    Args:
        skip: feature sets already reported (e.g. the worst group of a ``group_gap``
            finding); like a reported slice, a slice with these features, or nested in or
            around them, adds nothing and is left out.
    """
    graded = []
    for s in slices:
        severity = slice_severity(s.excess, s.excess_ci[0], s.p_adj, gap_threshold)
        if severity is None:
            continue
        if severity == "high" and s.class_only:
            severity = "medium"
        graded.append((severity, s))
    graded.sort(key=lambda g: (SEVERITIES.index(g[0]), -g[1].excess, g[1].name))
    out: list[Finding] = []
    reported: list[set[tuple[str, str]]] = [set(items) for items in skip]
    for severity, s in graded:
        items = set(s.features.items())
        if any(items <= r or r <= items for r in reported):
            continue
        out.append(Finding("slice", severity, _slice_title(s, severity, gap_threshold, level),
                           s.to_dict()))
        reported.append(items)
        if len(out) >= max_findings:
            break
    return out


def compute_findings(df: pd.DataFrame, *, methods: Sequence[str], regions: Sequence[str],
                     attributes: Sequence[str], config: AnalysisSettings,
                     performance: GroupPerformance | None = None,
                     clusters: Sequence[Cluster] = (), slices: Sequence[Slice] = (),
                     sanity: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
                     balanced_interval: Sequence[float | None] | None = None,
                     seed: int = 0) -> list[Finding]:
    """All findings of one model, sorted by severity then kind.

    Args:
        df: per-sample table of ONE model (see docs/internals.md), with optional
            ``flip_<region>`` / ``conf_drop_<region>`` reliance columns.
        methods: saliency methods in the engine's order; the first is the primary one.
        regions: region names (``background`` included).
        attributes: attribute columns.
        config: thresholds, regions and bootstrap settings (built from the config's
            ``analysis`` section by the pipeline).
        performance: :func:`group_performance` result (computed here when None).
        clusters: ``ClusterResult.clusters`` of this model.
        slices: :func:`~auditor.metrics.slices.find_slices` result of this model.
        sanity: the sanity-check result(s) ``{method, spearman, passed}``.
        balanced_interval: the interval of ``performance.balanced_accuracy``
            (:func:`~auditor.metrics.headline.headline_intervals`; computed here when None).
        seed: bootstrap seed.

    Raises:
        ConfigError: ``expected_regions`` / ``spurious_regions`` name an unknown region.
    """
    methods = list(methods)
    if performance is None:
        performance = group_performance(df, attributes, level=config.ci_level,
                                        min_group_size=config.min_group_size)
    expected, spurious = resolve_regions(regions, config.expected_regions,
                                         config.spurious_regions)
    if balanced_interval is None:
        balanced_interval = headline_intervals(
            df, attributes, n_boot=config.n_bootstrap, level=config.ci_level, seed=seed,
            min_group_size=config.min_group_size)["balanced_accuracy"]
    out: list[Finding] = chance_findings(df, balanced=performance.balanced_accuracy,
                                         interval=balanced_interval,
                                         gap_threshold=config.gap_threshold,
                                         level=config.ci_level)
    out += sanity_findings(sanity)
    out += empty_map_findings(df, methods, regions, level=config.ci_level)
    if methods:
        out += spurious_cue_findings(
            df, methods[0], regions, attributes, expected_regions=config.expected_regions,
            spurious_regions=config.spurious_regions, lift_threshold=config.lift_threshold,
            min_group_size=config.min_group_size, other_methods=methods[1:],
            reliance_threshold=config.reliance_threshold, gap_threshold=config.gap_threshold,
            n_boot=config.n_bootstrap, level=config.ci_level, seed=seed)
    readable = bool(methods) and not mostly_empty(df, methods[0], regions)
    out += ignored_region_findings(df, expected, attributes,  # empty maps: causal tests only
                                   method=methods[0] if readable else None,
                                   min_group_size=config.min_group_size,
                                   level=config.ci_level, n_boot=config.n_bootstrap, seed=seed)
    gaps = group_gap_findings(performance, gap_threshold=config.gap_threshold,
                              min_group_size=config.min_group_size, level=config.ci_level)
    out += gaps
    grouped = cluster_findings(clusters, gap_threshold=config.gap_threshold,
                               level=config.ci_level)
    out += grouped
    known = [{(str(k), str(v)) for k, v in g.evidence["worst_group"]["features"].items()}
             for g in gaps] + cells_in_full(grouped, slices)
    out += slice_findings(slices, gap_threshold=config.gap_threshold, level=config.ci_level,
                          skip=known)
    out += disparity_findings(df, attributes, tau=config.disparity_tau,
                              min_group_size=config.min_group_size,
                              method=methods[0] if methods else None, spurious_regions=spurious,
                              gap_threshold=config.gap_threshold, level=config.ci_level,
                              n_boot=config.n_bootstrap, seed=seed)
    return sorted(out, key=Finding.sort_key)

"""Findings: flags with the evidence behind them, for one model.

Kinds (DESIGN meaning kept) and when they are raised:

* ``spurious_cue`` — see :mod:`auditor.metrics.spurious`.
* ``group_gap`` — among the (class x attribute value) cells with at least ``min_group_size``
  samples (the worst-group definition of :mod:`auditor.metrics.groups`), and separately among
  the values of each attribute, the worst group's accuracy trails the best group's by more than
  ``gap_threshold`` and their Wilson intervals do not overlap. ``high`` when the gap is at least
  twice the threshold, else ``medium``.
* ``misclassification_cluster`` — a cluster (:mod:`auditor.metrics.clusters`) has an enriched
  attribute value (Holm-corrected Fisher p < 0.05). ``high`` when the cluster holds at least a
  quarter of the errors and the value is at least 1.5x as common as in the whole set.
* ``unreliable_saliency`` — the saliency sanity check failed (``passed`` is False); ``high``.
* ``disparity`` (extra, Aequitas-style) — per attribute, the ratio of a value's accuracy, or of
  its mean mass on a spurious region, to the reference value (the largest group) lies outside
  ``[tau, 1/tau]``; ``medium`` when the difference is also significant (Fisher exact for
  accuracy, Mann-Whitney for mass; p < 0.05), else ``low``. Masses below 1% on both sides are
  not compared.
* ``slice`` (extra) — a significant slice (:mod:`auditor.metrics.slices`); ``high`` when its
  error rate exceeds the overall one by at least twice ``gap_threshold``, ``medium`` by at least
  ``gap_threshold``, else ``low``. At most three, skipping slices nested in one already reported.

Findings come back sorted by severity, then kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from auditor.config import AnalysisConfig
from auditor.metrics.attention import mass_column
from auditor.metrics.base import Finding, describe_group, fmt_p, method_label, pct
from auditor.metrics.clusters import Cluster
from auditor.metrics.groups import GroupPerformance, GroupStat, attribute_values, group_performance
from auditor.metrics.slices import Slice
from auditor.metrics.spurious import resolve_regions, spurious_cue_findings
from auditor.metrics.stats import json_float

__all__ = [
    "Finding",
    "cluster_findings",
    "compute_findings",
    "disparity_findings",
    "group_gap_findings",
    "sanity_findings",
    "slice_findings",
    "spurious_cue_findings",
]

_ALPHA = 0.05
_MIN_MASS = 0.01


def _gap_finding(stats: list[GroupStat], scope: str, gap_threshold: float, level: float
                 ) -> Finding | None:
    if len(stats) < 2:
        return None
    worst = min(stats, key=lambda s: (s.accuracy, -s.n, s.name))
    best = max(stats, key=lambda s: (s.accuracy, s.n, s.name))
    gap = best.accuracy - worst.accuracy
    if gap <= gap_threshold or not worst.ci[1] < best.ci[0]:
        return None
    title = (f"Accuracy for {describe_group(worst.features)} is {pct(worst.accuracy)} "
             f"({level:.0%} CI {pct(worst.ci[0])}–{pct(worst.ci[1])}, n={worst.n}), "
             f"{100 * gap:.0f} points below {describe_group(best.features)} "
             f"({pct(best.accuracy)}, n={best.n}).")
    return Finding("group_gap", "high" if gap >= 2 * gap_threshold else "medium", title, {
        "scope": scope, "worst_group": worst.to_dict(), "best_group": best.to_dict(),
        "gap": json_float(gap), "gap_threshold": gap_threshold})


def group_gap_findings(perf: GroupPerformance, *, gap_threshold: float, min_group_size: int,
                       level: float = 0.95) -> list[Finding]:
    """Group-gap findings from :func:`~auditor.metrics.groups.group_performance` results.

    Args:
        perf: group performance of one model (computed at the same ``level``).
        gap_threshold: accuracy gap (0..1) that must be exceeded.
        min_group_size: smallest group compared.
        level: confidence level of the intervals (for the title).
    """
    out = []
    f = _gap_finding([c for c in perf.cells if c.n >= min_group_size], "cells", gap_threshold,
                     level)
    if f is not None:
        out.append(f)
    for attr, values in perf.by_group.items():
        f = _gap_finding([s for s in values.values() if s.n >= min_group_size],
                         f"attribute:{attr}", gap_threshold, level)
        if f is not None:
            out.append(f)
    return out


def _outside(ratio: float, tau: float) -> bool:
    return np.isfinite(ratio) and (ratio < tau or ratio > 1.0 / tau)


def disparity_findings(df: pd.DataFrame, attributes: Sequence[str], *, tau: float,
                       min_group_size: int, method: str | None = None,
                       spurious_regions: Sequence[str] = ()) -> list[Finding]:
    """Aequitas-style disparity flags (kind ``disparity``) against the largest group.

    Args:
        df: per-sample table of ONE model (``correct``, attribute columns, masses).
        attributes: attribute columns.
        tau: a ratio outside ``[tau, 1/tau]`` is flagged (``AnalysisConfig.disparity_tau``).
        min_group_size: smaller attribute values are not compared.
        method: saliency method whose masses are compared (None: accuracy only).
        spurious_regions: regions whose mass ratios are compared.
    """
    out = []
    correct = df["correct"].astype(bool).to_numpy()
    for attr in attributes:
        values = attribute_values(df, attr).to_numpy()
        sizes = pd.Series(values).value_counts()
        sizes = sizes[sizes >= min_group_size]
        if len(sizes) < 2:
            continue
        ref = sorted(sizes.index, key=lambda v: (-sizes[v], v))[0]
        in_ref = values == ref
        for value in sorted(v for v in sizes.index if v != ref):
            in_v = values == value
            acc_v, acc_r = correct[in_v].mean(), correct[in_ref].mean()
            ratio = acc_v / acc_r if acc_r > 0 else np.nan
            if _outside(ratio, tau):
                table = [[int(correct[in_v].sum()), int((~correct[in_v]).sum())],
                         [int(correct[in_ref].sum()), int((~correct[in_ref]).sum())]]
                p = float(sps.fisher_exact(table).pvalue)
                out.append(Finding(
                    "disparity", "medium" if p < _ALPHA else "low",
                    f"Accuracy for {attr}={value} is {ratio:.2f} times that of the reference "
                    f"group {attr}={ref} ({pct(acc_v)} vs {pct(acc_r)}, n={int(in_v.sum())} "
                    f"and {int(in_ref.sum())}, {fmt_p(p)}).",
                    {"metric": "accuracy", "attribute": attr, "value": value, "reference": ref,
                     "ratio": json_float(ratio), "tau": tau, "group_value": json_float(acc_v),
                     "reference_value": json_float(acc_r), "n": int(in_v.sum()),
                     "n_reference": int(in_ref.sum()), "p": json_float(p)}))
            if method is None:
                continue
            for region in spurious_regions:
                mass = df[mass_column(method, region)].to_numpy(dtype=float)
                m_v, m_r = np.nanmean(mass[in_v]), np.nanmean(mass[in_ref])
                if max(m_v, m_r) < _MIN_MASS or m_r <= 0:
                    continue
                ratio = m_v / m_r
                if not _outside(ratio, tau):
                    continue
                a, b = mass[in_v][np.isfinite(mass[in_v])], mass[in_ref][np.isfinite(mass[in_ref])]
                p = float(sps.mannwhitneyu(a, b).pvalue) if np.ptp(np.r_[a, b]) > 0 else 1.0
                out.append(Finding(
                    "disparity", "medium" if p < _ALPHA else "low",
                    f"Samples with {attr}={value} get {ratio:.2f} times the "
                    f"{method_label(method)} attention on {region} of the reference group "
                    f"{attr}={ref} ({pct(m_v)} vs {pct(m_r)}, {fmt_p(p)}).",
                    {"metric": "mass", "method": method, "region": region, "attribute": attr,
                     "value": value, "reference": ref, "ratio": json_float(ratio), "tau": tau,
                     "group_value": json_float(m_v), "reference_value": json_float(m_r),
                     "n": int(in_v.sum()), "n_reference": int(in_ref.sum()),
                     "p": json_float(p)}))
    return out


def cluster_findings(clusters: Sequence[Cluster]) -> list[Finding]:
    """One ``misclassification_cluster`` finding per cluster with an enriched value."""
    out = []
    for c in clusters:
        if not c.enriched:
            continue
        top = min((e for e in c.enrichment
                   if e["attribute"] in c.enriched and e["value"] == c.enriched[e["attribute"]]),
                  key=lambda e: e["p_adj"])
        strong = c.share_of_errors >= 0.25 and (top["ratio"] or 0) >= 1.5
        values = ", ".join(f"{a}={v}" for a, v in c.enriched.items())
        title = (f"{c.size} misclassifications ({pct(c.share_of_errors)} of all errors, "
                 f"mostly {c.confusion}) form a cluster enriched for {values} "
                 f"({pct(top['share_in_cluster'])} of the cluster vs "
                 f"{pct(top['share_overall'])} of all samples, corrected {fmt_p(top['p_adj'])}).")
        out.append(Finding("misclassification_cluster", "high" if strong else "medium", title,
                           {"cluster": c.id, "size": c.size, "confusion": c.confusion,
                            "share_of_errors": json_float(c.share_of_errors),
                            "error_rate": json_float(c.error_rate),
                            "enriched": dict(c.enriched), "top_enrichment": top,
                            "mean_mass": {k: json_float(v) for k, v in c.mean_mass.items()},
                            "members": list(c.members)}))
    return out


def sanity_findings(sanity: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
                    ) -> list[Finding]:
    """``unreliable_saliency`` for each sanity result ``{method, spearman, passed}`` that failed."""
    if sanity is None:
        return []
    results = [sanity] if isinstance(sanity, Mapping) else list(sanity)
    out = []
    for s in results:
        if s.get("passed", True):
            continue
        rho = json_float(s.get("spearman"))
        rho_txt = f"Spearman {rho:.2f}" if rho is not None else "Spearman n/a"
        out.append(Finding(
            "unreliable_saliency", "high",
            f"{method_label(str(s.get('method')))} maps barely change when the model's weights "
            f"are randomised ({rho_txt}), so they may not show what the model learned.",
            {k: (json_float(v) if isinstance(v, float) else v) for k, v in s.items()}))
    return out


def slice_findings(slices: Sequence[Slice], *, gap_threshold: float, max_findings: int = 3,
                   level: float = 0.95, skip: Sequence[set[tuple[str, str]]] = ()
                   ) -> list[Finding]:
    """``slice`` findings for the worst significant slices (see the module docstring).

    Args:
        skip: feature sets already reported (e.g. the worst group of a ``group_gap``
            finding); like a reported slice, a slice with these features, or nested in or
            around them, adds nothing and is left out.
    """
    out: list[Finding] = []
    reported: list[set[tuple[str, str]]] = [set(items) for items in skip]
    for s in sorted((s for s in slices if s.significant), key=lambda s: (-s.error_rate, s.name)):
        items = set(s.features.items())
        if any(items <= r or r <= items for r in reported):
            continue
        excess = s.error_rate - s.overall_error_rate
        severity = ("high" if excess >= 2 * gap_threshold
                    else "medium" if excess >= gap_threshold else "low")
        out.append(Finding(
            "slice", severity,
            f"Samples with {describe_group(s.features)} are misclassified {pct(s.error_rate)} "
            f"of the time ({level:.0%} CI {pct(s.ci[0])}–{pct(s.ci[1])}, n={s.n}) against "
            f"{pct(s.overall_error_rate)} overall (corrected {fmt_p(s.p_adj)}).",
            s.to_dict()))
        reported.append(items)
        if len(out) >= max_findings:
            break
    return out


def compute_findings(df: pd.DataFrame, *, methods: Sequence[str], regions: Sequence[str],
                     attributes: Sequence[str], config: AnalysisConfig,
                     performance: GroupPerformance | None = None,
                     clusters: Sequence[Cluster] = (), slices: Sequence[Slice] = (),
                     sanity: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
                     seed: int = 0) -> list[Finding]:
    """All findings of one model, sorted by severity then kind.

    Args:
        df: per-sample table of ONE model (see docs/internals.md), with optional
            ``flip_<region>`` / ``conf_drop_<region>`` reliance columns.
        methods: saliency methods in the engine's order; the first is the primary one.
        regions: region names (``background`` included).
        attributes: attribute columns.
        config: the ``analysis`` section (thresholds, regions, bootstrap settings).
        performance: :func:`group_performance` result (computed here when None).
        clusters: ``ClusterResult.clusters`` of this model.
        slices: :func:`~auditor.metrics.slices.find_slices` result of this model.
        sanity: the sanity-check result(s) ``{method, spearman, passed}``.
        seed: bootstrap seed.

    Raises:
        ConfigError: ``expected_regions`` / ``spurious_regions`` name an unknown region.
    """
    methods = list(methods)
    if performance is None:
        performance = group_performance(df, attributes, level=config.ci_level,
                                        min_group_size=config.min_group_size)
    _, spurious = resolve_regions(regions, config.expected_regions, config.spurious_regions)
    out: list[Finding] = []
    out += sanity_findings(sanity)
    if methods:
        out += spurious_cue_findings(
            df, methods[0], regions, attributes, expected_regions=config.expected_regions,
            spurious_regions=config.spurious_regions, lift_threshold=config.lift_threshold,
            min_group_size=config.min_group_size, other_methods=methods[1:],
            n_boot=config.n_bootstrap, level=config.ci_level, seed=seed)
    gaps = group_gap_findings(performance, gap_threshold=config.gap_threshold,
                              min_group_size=config.min_group_size, level=config.ci_level)
    out += gaps
    out += cluster_findings(clusters)
    known = [{(str(k), str(v)) for k, v in g.evidence["worst_group"]["features"].items()}
             for g in gaps]
    out += slice_findings(slices, gap_threshold=config.gap_threshold, level=config.ci_level,
                          skip=known)
    out += disparity_findings(df, attributes, tau=config.disparity_tau,
                              min_group_size=config.min_group_size,
                              method=methods[0] if methods else None, spurious_regions=spurious)
    return sorted(out, key=Finding.sort_key)

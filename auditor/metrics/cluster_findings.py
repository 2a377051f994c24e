"""``misclassification_cluster`` findings: a cluster of errors enriched for an attribute value,
graded by the slice behind it (does that value's own error rate for the cluster's confusion
differ?); see :mod:`auditor.metrics.severity` and docs/findings.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.common.text import span
from auditor.metrics.base import SEVERITIES, Finding, fmt_p, pct
from auditor.metrics.cluster_merge import merge_alike
from auditor.metrics.clusters import Cluster
from auditor.metrics.confusion_slices import ConfusionSlice
from auditor.metrics.severity import (
    CLUSTER_MIN_RATIO,
    CLUSTER_MIN_SHARE,
    cluster_severity,
    high_gap_bar,
    significant,
)
from auditor.metrics.slices import Slice
from auditor.metrics.stats import json_float, wilson_ci

__all__ = ["cells_in_full", "cluster_findings"]


def _slice_sentence(sl: ConfusionSlice | None, level: float) -> str:
    if sl is None:
        return ""
    t, p = sl.true, sl.pred
    if sl.n_rest == 0:
        return (f"every class-{t} sample has {sl.attribute}={sl.value}, so its own error rate "
                "cannot be compared with the rest of the class")
    lo, hi = wilson_ci(sl.confused, sl.n, level)
    return (f"class-{t} samples with {sl.attribute}={sl.value} are predicted {p} "
            f"{pct(sl.rate)} of the time ({level:.0%} CI {pct(lo)}–{pct(hi)}, n={sl.n}) "
            f"against {pct(sl.rate_rest)} for the rest of class {t} (n={sl.n_rest}, "
            f"corrected {fmt_p(sl.p_adj)})")


def _under(value: float, bar: float, *, scale: float = 100, unit: str = "%",
           first: int = 0) -> str:
    """``scale * value`` (under ``bar``) at the fewest decimals from ``first`` up to 2 that
    do not round it up to the bar: a share of 24.96% is "24.96%", not "25%" under a 25% bar;
    9.6 points "9.6", not "10" under a 10-point minimum."""
    for d in range(first, 3):
        text = f"{round(scale * value, 9):.{d}f}"
        if float(text) < scale * bar:
            break
    return f"{text}{unit}"


def _medium_clause(c: Cluster, top: dict[str, Any], sl: ConfusionSlice | None,
                   gap_threshold: float, several: bool) -> str:
    """For a medium cluster: each bar of a high one it misses, with its numbers (the rule of
    :func:`auditor.metrics.severity.cluster_severity`)."""
    if sl is None:
        return ""
    misses = []
    its = "their" if several else "its"
    in_slice = top.get("share_in_slice", 1.0)
    share = c.share_of_errors * in_slice
    if share < CLUSTER_MIN_SHARE:
        n_errors = round(c.size / c.share_of_errors) if c.share_of_errors else 0
        k = round(in_slice * c.size)
        who = (f"{its} {k} errors are" if in_slice >= 1 else
               f"only {k} of {its} members are {sl.confusion} errors with "
               f"{sl.attribute}={sl.value}:")
        misses.append(f"{who} {_under(share, CLUSTER_MIN_SHARE)} of all {n_errors} errors, "
                      f"under the {pct(CLUSTER_MIN_SHARE)} a high cluster needs")
    ratio = top.get("ratio")
    if ratio is None or not ratio >= CLUSTER_MIN_RATIO:
        times = ("an unknown number of" if ratio is None
                 else _under(ratio, CLUSTER_MIN_RATIO, scale=1, unit="", first=1))
        misses.append(f"{sl.attribute}={sl.value} is {times} times as common among "
                      f"{its} members as in all samples, under the "
                      f"{CLUSTER_MIN_RATIO:g} times a high cluster needs")
    lo, hi = sl.effect_ci
    if not high_gap_bar(sl.effect, lo, gap_threshold):
        misses.append(f"{100 * sl.effect:.0f} points (corrected CI "
                      f"{span(f'{100 * lo:.0f}', f'{100 * hi:.0f}')}), short of the "
                      f"{200 * gap_threshold:.0f} points with a lower bound of "
                      f"{100 * gap_threshold:.0f} a high finding needs")
    return "; only medium: " + "; ".join(misses) if misses else ""


def _low_clause(sl: ConfusionSlice | None, level: float, gap_threshold: float,
                several: bool) -> str:
    """The end of a low cluster's title: why its slice does not make it a group the model
    fails more often, or that the samples are too few to tell."""
    alike = f"the {'clusters group' if several else 'cluster groups'} errors that look alike"
    if sl is None:
        return f": {alike}, not a group the model fails much more often."
    text = f", but {_slice_sentence(sl, level)}"
    if sl.n_rest == 0:
        return f"{text}: {alike}; whether the model fails this group more often cannot be told."
    if significant(sl.p_adj):
        return (f"{text}; {_under(sl.effect, gap_threshold, unit=' points')}, under the "
                f"{100 * gap_threshold:.0f}"
                f"-point minimum effect: {alike}, not a group the model fails much more often.")
    if sl.effect == sl.effect and sl.effect >= gap_threshold:  # large but not significant
        return (f"{text}: {100 * sl.effect:.0f} points, but too few samples to tell whether "
                f"the model fails this group more often; {alike}.")
    return f"{text}: {alike}, not a group the model fails much more often."


def _choose(c: Cluster, gap_threshold: float
            ) -> tuple[str, dict[str, Any], ConfusionSlice | None]:
    """The enriched value giving the highest severity (then the smallest corrected p): its
    severity, enrichment entry and slice."""
    chosen = None  # (sort key, severity, enrichment entry, slice): highest severity first
    for e in c.enrichment:
        if c.enriched.get(e["attribute"]) != e["value"]:
            continue
        sl = c.confusion_slice(e["attribute"], e["value"])
        # the errors its slice explains: with several classes a cluster can pool confusions
        # (errors predicted "two" on brick, from three digits), and only the cluster's
        # confusion with this value is the slice's
        severity = cluster_severity(
            share_of_errors=c.share_of_errors * e.get("share_in_slice", 1.0), ratio=e["ratio"],
            slice_p_adj=None if sl is None else sl.p_adj,
            slice_effect=None if sl is None else sl.effect, gap_threshold=gap_threshold,
            slice_effect_lower=None if sl is None else sl.effect_ci[0])
        key = (SEVERITIES.index(severity), e["p_adj"], e["attribute"])
        if chosen is None or key < chosen[0]:
            chosen = (key, severity, e, sl)
    assert chosen is not None  # c.enriched names values of c.enrichment
    return chosen[1], chosen[2], chosen[3]


def _cluster_finding(c: Cluster, ids: list[int], gap_threshold: float, level: float
                     ) -> Finding:
    """The finding of one cluster, or of several merged (``ids``) that name one slice."""
    severity, top, sl = _choose(c, gap_threshold)
    values = ", ".join(f"{a}={v}" for a, v in c.enriched.items())
    form = ("form a cluster enriched for" if len(ids) == 1 else
            f"form {len(ids)} clusters that look different, all enriched for")
    # with more than two classes a cluster can pool several confusions: "mostly" only when
    # the commonest is most of it
    confusion = (f"mostly {c.confusion}" if c.confusion_share >= 0.5 else
                 f"{c.confusion} the commonest confusion at {pct(c.confusion_share)}")
    title = (f"{c.size} misclassifications ({pct(c.share_of_errors)} of all errors, "
             f"{confusion}) {form} {values} "
             f"({pct(top['share_in_cluster'])} of {'the cluster' if len(ids) == 1 else 'them'} vs "
             f"{pct(top['share_overall'])} of all samples and "
             f"{pct(top['share_in_confusion_errors'])} of all {c.confusion} errors, "
             f"corrected {fmt_p(top['p_adj'])})")
    if severity == "low":
        title += _low_clause(sl, level, gap_threshold, len(ids) > 1)
    else:
        medium = (_medium_clause(c, top, sl, gap_threshold, len(ids) > 1)
                  if severity == "medium" else "")
        title += f"; {_slice_sentence(sl, level)}{medium}."
    return Finding("misclassification_cluster", severity, title,
                   {"cluster": c.id, "clusters": list(ids), "size": c.size,
                    "confusion": c.confusion,
                    "share_of_errors": json_float(c.share_of_errors),
                    "error_rate": json_float(c.error_rate),
                    "enriched": dict(c.enriched), "top_enrichment": top,
                    "slice": None if sl is None else sl.to_dict(),
                    "appearance_only": severity == "low",
                    "mean_mass": {k: json_float(v) for k, v in c.mean_mass.items()},
                    "members": list(c.members)})


def cluster_findings(clusters: Sequence[Cluster], *, gap_threshold: float = 0.10,
                     level: float = 0.95) -> list[Finding]:
    """One ``misclassification_cluster`` finding per cluster with an enriched value, or per
    group of clusters whose chosen value names the same slice (the clustering split one
    group's errors by their looks: :mod:`auditor.metrics.cluster_merge`).

    When several values are enriched, the one giving the highest severity (then the smallest
    corrected p) is the finding's ``top_enrichment`` and ``slice``.

    Args:
        clusters: ``ClusterResult.clusters``.
        gap_threshold: minimum effect size of the slice behind a high cluster.
        level: confidence level of the slice's Wilson interval in the title.
    """
    groups = merge_alike(clusters, lambda c: _choose(c, gap_threshold)[1:])
    return [_cluster_finding(c, ids, gap_threshold, level) for c, ids in groups]


def cells_in_full(findings: Sequence[Finding], slices: Sequence[Slice]
                  ) -> list[set[tuple[str, str]]]:
    """The cells (``label`` and an attribute value) whose every error a medium or high
    cluster reports: its slice's confusion counts all the errors of the cell (two classes, or
    one confusion). A ``slice`` finding on such a cell states the same fact with the same
    numbers, so :func:`auditor.metrics.findings.slice_findings` skips it.
    """
    errors = {frozenset((str(k), str(v)) for k, v in s.features.items()): s.errors
              for s in slices}
    out = []
    for f in findings:
        sl = f.evidence.get("slice") if f.kind == "misclassification_cluster" else None
        if not sl or f.severity == "low":
            continue
        cell = {("label", str(sl["true"])), (str(sl["attribute"]), str(sl["value"]))}
        if errors.get(frozenset(cell)) == sl["confused"]:
            out.append(cell)
    return out


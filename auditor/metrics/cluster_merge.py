"""Clusters that report one fact: k-means splits the errors of one slice by what they look
like, and each part used to be its own finding, each with a share of the errors too small to
be high ("form a cluster enriched for scene=urban; class-cat samples with scene=urban are
predicted cup 100% of the time", five times, each medium). Clusters whose chosen enrichment
names the same slice (confusion, attribute, value) are merged into one cluster for the
finding; the clustering itself (summary.json ``clusters``, the report's table and scatter)
is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from auditor.metrics.clusters import Cluster

__all__ = ["merge_alike"]


def _weighted(parts: Sequence[Cluster], value: Callable[[Cluster], float]) -> float:
    total = sum(c.size for c in parts)
    return sum(c.size * value(c) for c in parts) / total if total else float("nan")


def _merge(parts: Sequence[Cluster], top: Sequence[dict[str, Any]]) -> Cluster:
    """One cluster standing for ``parts`` (largest first), enriched for their shared value;
    ``top``: each part's chosen enrichment entry (the same attribute and value)."""
    first, e = parts[0], top[0]
    size = sum(c.size for c in parts)
    inside = sum(c.size * t["share_in_cluster"] for c, t in zip(parts, top, strict=True)) / size
    in_slice = sum(c.size * t.get("share_in_slice", 1.0)
                   for c, t in zip(parts, top, strict=True)) / size
    entry = {**e, "share_in_cluster": inside, "share_in_slice": in_slice,
             "ratio": inside / e["share_overall"] if e["share_overall"] else float("nan"),
             "p": max(t["p"] for t in top), "p_adj": max(t["p_adj"] for t in top)}
    nearby = sum(c.n_nearby for c in parts)
    shared = {k: v for k, v in first.enriched.items()
              if all(c.enriched.get(k) == v for c in parts)}
    return replace(
        first, size=size,
        error_rate=(sum(c.error_rate * c.n_nearby for c in parts) / nearby if nearby
                    else first.error_rate),
        n_nearby=nearby, error_rate_ci=None,
        confusion_share=_weighted(parts, lambda c: c.confusion_share),
        enriched=shared, enrichment=[entry],
        mean_mass={r: _weighted(parts, lambda c, r=r: c.mean_mass.get(r, float("nan")))
                   for r in first.mean_mass},
        members=[m for c in parts for m in c.members],
        share_of_errors=sum(c.share_of_errors for c in parts))


def merge_alike(clusters: Sequence[Cluster],
                choose: Callable[[Cluster], tuple[dict[str, Any], Any]]
                ) -> list[tuple[Cluster, list[int]]]:
    """Group the enriched clusters by the slice their chosen enrichment names.

    Args:
        clusters: ``ClusterResult.clusters``, largest first.
        choose: a cluster -> its chosen enrichment entry and slice (None: no slice).

    Returns:
        ``(cluster, ids)`` per group, in the order of each group's largest cluster: the
        cluster itself when alone, else the merged one; ``ids`` the clusters it stands for.
    """
    groups: dict[Any, list[tuple[Cluster, dict[str, Any]]]] = {}
    for n, c in enumerate(clusters):
        if not c.enriched:
            continue
        top, sl = choose(c)
        key = (("slice", sl.true, sl.pred, sl.attribute, sl.value) if sl is not None
               else ("alone", n))
        groups.setdefault(key, []).append((c, top))
    out = []
    for members in groups.values():
        parts = [c for c, _ in members]
        merged = parts[0] if len(parts) == 1 else _merge(parts, [t for _, t in members])
        out.append((merged, [c.id for c in parts]))
    return out

"""One call per model: every metric and finding, and the summary.json block they make.

:func:`measure_model` runs, in order, group performance, attention aggregation, reliance
aggregation (when the table has ``flip_<region>`` columns), misclassification clusters (when
embeddings are given), slice discovery and the findings, all from the per-sample table of one
model and the :class:`~auditor.metrics.settings.AnalysisSettings` the pipeline builds from the
``analysis`` config section. It is a convenience for the pipeline; each step is
also public on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics.attention import attention_summary
from auditor.metrics.base import Finding
from auditor.metrics.clusters import ClusterResult, cluster_misclassified
from auditor.metrics.columns import flip_column
from auditor.metrics.findings import compute_findings
from auditor.metrics.groups import GroupPerformance, group_performance
from auditor.metrics.headline import headline_intervals
from auditor.metrics.reliance import lead_summary, reliance_summary, swap_summary
from auditor.metrics.settings import AnalysisSettings
from auditor.metrics.slices import Slice, find_slices

__all__ = ["ModelAnalysis", "measure_model"]


@dataclass
class ModelAnalysis:
    """Everything measured for one model.

    Attributes:
        performance: disaggregated accuracy.
        attention: the attention blocks (see :func:`attention_summary`).
        reliance: :func:`reliance_summary` result, or None without reliance columns.
        swaps: :func:`swap_summary` result, or None without swap columns.
        leads: :func:`lead_summary` result, or None without lead-paste columns.
        clusters: misclassification clusters; ``clusters.labels`` is the ``cluster`` column.
        slices: tested slices.
        findings: sorted findings.
        sanity: the sanity-check result passed in (or None).
        metrics_ci: :func:`headline_intervals` (``metrics_ci`` of summary.json).
    """

    performance: GroupPerformance
    attention: dict[str, Any]
    reliance: dict[str, Any] | None
    clusters: ClusterResult
    slices: list[Slice]
    findings: list[Finding]
    sanity: Mapping[str, Any] | None = None
    swaps: dict[str, Any] | None = None
    leads: dict[str, Any] | None = None
    metrics_ci: dict[str, Any] | None = None

    @property
    def cluster_labels(self) -> np.ndarray:
        """``[len(df)]`` int cluster id per row (-1 = correct / not clustered)."""
        return self.clusters.labels

    def summary_block(self) -> dict[str, Any]:
        """The ``models[NAME]`` block of summary.json: DESIGN keys first, then extras.

        DESIGN keys: ``metrics``, ``by_group``, ``attention``, ``attention_by_class``,
        ``findings``, ``clusters`` (and ``sanity`` when given). Extras: ``groups`` (cells,
        intersections, TPR/FPR), ``attention_by_group``, ``attention_by_class_group``,
        ``attention_by_correctness``, ``reliance``, ``swaps``, ``leads``, ``slices``,
        ``cluster_projection``.
        """
        block: dict[str, Any] = {
            "metrics": self.performance.metrics_dict(),
            "by_group": self.performance.by_group_dict(),
            "attention": self.attention["attention"],
            "attention_by_class": self.attention["attention_by_class"],
            "findings": [f.to_dict() for f in self.findings],
            "clusters": self.clusters.to_dict(),
        }
        if self.sanity is not None:
            block["sanity"] = dict(self.sanity)
        extra = self.performance.to_dict()
        block["groups"] = {k: v for k, v in extra.items() if k not in ("metrics", "by_group")}
        for key in ("attention_by_group", "attention_by_class_group", "attention_by_correctness"):
            if key in self.attention:
                block[key] = self.attention[key]
        if self.reliance is not None:
            block["reliance"] = self.reliance
        if self.swaps:
            block["swaps"] = self.swaps
        if self.leads:
            block["leads"] = self.leads
        block["slices"] = [s.to_dict() for s in self.slices]
        block["cluster_projection"] = self.clusters.projection
        return block


def measure_model(df: pd.DataFrame, embeddings: np.ndarray | None, *, methods: Sequence[str],
                  regions: Sequence[str], attributes: Sequence[str], config: AnalysisSettings,
                  sanity: Mapping[str, Any] | None = None, seed: int = 0) -> ModelAnalysis:
    """Measure one model.

    Args:
        df: per-sample table of ONE model (docs/internals.md), optionally with the reliance
            columns ``flip_<region>`` / ``conf_drop_<region>``.
        embeddings: ``[len(df), D]`` row-aligned embeddings, or None to skip clustering.
        methods: saliency methods (the first is the primary one for findings and clusters).
        regions: region names, ``background`` included.
        attributes: attribute columns.
        config: thresholds and statistics settings (:class:`AnalysisSettings`).
        sanity: the sanity-check result ``{method, test, spearman, passed}`` or None.
        seed: seeds every bootstrap, k-means and t-SNE.

    Raises:
        ConfigError: ``analysis.expected_regions`` / ``spurious_regions`` name an unknown region.
    """
    methods, regions, attributes = list(methods), list(regions), list(attributes)
    level, n_boot = config.ci_level, config.n_bootstrap
    perf = group_performance(df, attributes, level=level, min_group_size=config.min_group_size)
    attention = attention_summary(df, methods, regions, attributes=attributes, n_boot=n_boot,
                                  level=level, seed=seed)
    has_reliance = any(flip_column(r) in df.columns for r in regions)
    reliance = (reliance_summary(df, regions, attributes, level=level, n_boot=n_boot, seed=seed)
                if has_reliance else None)
    swap_cols = [c.removeprefix("swap_pred_") for c in df.columns if c.startswith("swap_pred_")]
    swaps = (swap_summary(df, swap_cols, attributes, regions=regions, level=level)
             if swap_cols else None)
    leads = lead_summary(df, regions, attributes, level=level) or None
    if embeddings is not None and methods:
        clusters = cluster_misclassified(df, embeddings, regions, methods[0], attributes,
                                         seed=seed, level=level)
    else:
        clusters = ClusterResult(labels=np.full(len(df), -1, dtype=int))
    slices = find_slices(df, attributes, min_support=config.min_group_size, level=level)
    metrics_ci = headline_intervals(df, attributes, n_boot=n_boot, level=level, seed=seed,
                                    min_group_size=config.min_group_size)
    findings = compute_findings(df, methods=methods, regions=regions, attributes=attributes,
                                config=config, performance=perf, clusters=clusters.clusters,
                                slices=slices, sanity=sanity,
                                balanced_interval=metrics_ci["balanced_accuracy"], seed=seed)
    return ModelAnalysis(performance=perf, attention=attention, reliance=reliance,
                         clusters=clusters, slices=slices, findings=findings, sanity=sanity,
                         swaps=swaps, leads=leads, metrics_ci=metrics_ci)

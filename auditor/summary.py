"""Metrics and findings stage: per-sample tables -> the typed blocks of summary.json."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from auditor.audit_loop import AuditTables
from auditor.compare import compare_models
from auditor.config import AnalysisConfig, SaliencyConfig
from auditor.data.dataset import DataBundle
from auditor.data.summary import describe
from auditor.metrics.attention import attention_summary
from auditor.metrics.clusters import cluster_misclassified
from auditor.metrics.findings import compute_findings
from auditor.metrics.groups import group_performance
from auditor.metrics.reliance import reliance_summary
from auditor.metrics.slices import find_slices
from auditor.progress import ProgressSink
from auditor.saliency.sanity import model_randomization_check

log = logging.getLogger(__name__)

__all__ = ["analyse_model", "compare_all", "dataset_block"]

SANITY_IMAGES = 32


def _sanity(model: nn.Module, loader: DataLoader, method: str, target_layer: str,
            seed: int, device: torch.device) -> dict[str, Any]:
    batch = next(iter(loader))
    images = batch["image"][:SANITY_IMAGES].to(device)
    with torch.no_grad():
        targets = model(images).argmax(1)
    result = model_randomization_check(model, images, targets, method=method,
                                       target_layer=target_layer, seed=seed)
    return {"method": result.method, "test": result.test, "spearman": result.spearman,
            "ssim": result.ssim, "passed": result.passed, "threshold": result.threshold,
            "n_images": int(len(images)),
            "per_layer": [{"layer": name, "spearman": rho, "ssim": s}
                          for name, rho, s in result.per_layer]}


def analyse_model(
    name: str,
    df: pd.DataFrame,
    tables: AuditTables,
    model: nn.Module,
    loader: DataLoader,
    acfg: AnalysisConfig,
    scfg: SaliencyConfig,
    *,
    regions: list[str],
    attributes: list[str],
    classes: list[str],
    target_layer: str,
    seed: int,
    device: torch.device,
    progress: ProgressSink | None = None,
) -> dict[str, Any]:
    """Every summary block of one model, plus ``_frame`` (the table with cluster ids).

    Args:
        name: model name.
        df: the model's per-sample table (see :func:`auditor.audit_loop.sample_frame`).
        tables: the merged audit arrays (embeddings are used for clustering).
        model, loader: for the saliency sanity check on the first batch.
        acfg, scfg: the ``analysis`` and ``saliency`` config sections.
    """
    methods = list(scfg.methods)
    steps = 6
    tick = (lambda i: progress(f"analyse {name}", i, steps)) if progress else (lambda i: None)
    perf = group_performance(df, attributes, level=acfg.ci_level,
                             min_group_size=acfg.min_group_size)
    tick(1)
    att = attention_summary(df, methods, regions, attributes=attributes,
                            n_boot=acfg.n_bootstrap, level=acfg.ci_level, seed=seed)
    tick(2)
    reliance = reliance_summary(df, regions, attributes, level=acfg.ci_level,
                                n_boot=acfg.n_bootstrap, seed=seed) if acfg.reliance else {}
    clusters = cluster_misclassified(df, tables.embeddings, regions, methods[0], attributes,
                                     seed=seed)
    df = df.copy()
    df["cluster"] = clusters.labels
    tick(3)
    slices = find_slices(df, attributes, min_support=acfg.min_group_size,
                         level=acfg.ci_level)
    tick(4)
    sanity = None
    if acfg.sanity_check:
        sanity = _sanity(model, loader, methods[0], target_layer, seed, device)
    tick(5)
    findings = compute_findings(df, methods=methods, regions=regions, attributes=attributes,
                                config=acfg, performance=perf, clusters=clusters.clusters,
                                slices=slices, sanity=sanity, seed=seed)
    tick(6)
    perf_d = perf.to_dict()
    block: dict[str, Any] = {
        "metrics": perf_d.pop("metrics"),
        "by_group": perf_d.pop("by_group"),
        **att,
        "findings": [f.to_dict() for f in findings],
        "clusters": clusters.to_dict(),
        "sanity": sanity,
        "reliance": reliance,
        "slices": [s.to_dict() for s in slices],
        "tsne": clusters.projection_dict() if hasattr(clusters, "projection_dict") else None,
        "performance_detail": perf_d,
        "n": int(len(df)),
        "_frame": df,
    }
    log.info("%s: accuracy %.3f, %d findings", name, block["metrics"]["accuracy"],
             len(findings))
    return block


def compare_all(samples: pd.DataFrame, names: list[str], baseline: str, *, methods: list[str],
                regions: list[str], attributes: list[str], level: float,
                seed: int) -> list[dict[str, Any]]:
    """Every model against ``baseline`` (paired on the same samples)."""
    out = []
    for other in names:
        if other == baseline:
            continue
        comp = compare_models(samples, baseline, other, methods=methods, regions=regions,
                              attributes=attributes, level=level, seed=seed)
        out.append(comp.to_dict())
    return out


def dataset_block(bundle: DataBundle, audit_split: str) -> dict[str, Any]:
    """The ``dataset`` block: counts, classes, regions, attributes, skipped files."""
    table = bundle.table
    desc = describe(bundle)
    audit = table[table["split"] == audit_split]
    keys = ["split", "label", *bundle.attributes]
    counts = [
        {**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), "n": int(n)}
        for key, n in table.groupby(keys, observed=True).size().items()
    ]
    for row in counts:
        row["label"] = bundle.classes[int(row["label"])]
    return {
        "n_samples": int(len(audit)),
        "n_skipped": len(bundle.skipped),
        "skipped": list(bundle.skipped),
        "classes": list(bundle.classes),
        "regions": list(bundle.regions),
        "attributes": list(bundle.attributes),
        "audit_split": audit_split,
        "splits": {str(k): int(v) for k, v in table["split"].value_counts().sort_index().items()},
        "counts": counts,
        "coverage": desc.get("coverage", {}),
        "small_groups": desc.get("small_groups", []),
        "warnings": list(desc.get("warnings", [])),
        "data_hash": bundle.data_hash,
        "n_audit_by_class": {str(bundle.classes[int(k)]): int(v)
                             for k, v in audit["label"].value_counts().sort_index().items()},
    }

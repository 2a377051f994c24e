"""Metrics and findings stage: per-sample tables -> the typed blocks of summary.json."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from auditor.config import AnalysisConfig, ModelConfig, SaliencyConfig
from auditor.data.dataset import DataBundle
from auditor.data.describe import describe
from auditor.metrics.analysis import measure_model
from auditor.metrics.comparison import compare_models
from auditor.metrics.cue_findings import concept_findings, hotspot_findings
from auditor.metrics.cues import average_maps_block, concepts_block, hotspots_block
from auditor.metrics.findings import Finding, coarse_map_finding
from auditor.metrics.groups import balanced_attributes
from auditor.metrics.settings import AnalysisSettings
from auditor.metrics.verdict import model_verdict
from auditor.pipeline.audit_pass import AuditTables
from auditor.pipeline.cues_pass import CueTables
from auditor.pipeline.progress import ProgressSink
from auditor.saliency.target_choice import TargetChoice

log = logging.getLogger(__name__)

__all__ = ["analysis_settings", "compare_all", "dataset_block", "layer_fields",
           "summarise_model", "trained_balanced_by"]


def analysis_settings(acfg: AnalysisConfig) -> AnalysisSettings:
    """The plain values the metrics need from the config's ``analysis`` section."""
    return AnalysisSettings(
        expected_regions=tuple(acfg.expected_regions),
        spurious_regions=None if acfg.spurious_regions is None else tuple(acfg.spurious_regions),
        lift_threshold=acfg.lift_threshold, reliance_threshold=acfg.reliance_threshold,
        gap_threshold=acfg.gap_threshold,
        disparity_tau=acfg.disparity_tau, min_group_size=acfg.min_group_size,
        n_bootstrap=acfg.n_bootstrap, ci_level=acfg.ci_level)


def summarise_model(
    name: str,
    df: pd.DataFrame,
    tables: AuditTables,
    sanity: dict[str, Any] | None,
    acfg: AnalysisConfig,
    scfg: SaliencyConfig,
    *,
    regions: list[str],
    attributes: list[str],
    seed: int,
    progress: ProgressSink | None = None,
    cues: CueTables | None = None,
    balanced_by: list[str] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The ``models[name]`` block of summary.json and the table with its cluster ids.

    Args:
        name: model name.
        df: the model's per-sample table (see :func:`auditor.pipeline.audit_pass.sample_frame`).
        tables: the merged audit arrays (embeddings are used for clustering).
        sanity: the saliency sanity check's block (:mod:`auditor.pipeline.sanity_pass`), or
            None when ``analysis.sanity_check`` is off.
        acfg, scfg: the ``analysis`` and ``saliency`` config sections.
        regions, attributes: names from the data stage.
        seed: seeds bootstraps, clustering and t-SNE.
        progress: optional progress sink.
        cues: the cues pass's results (average maps, hotspots, concepts; the table already
            has the hotspot columns), or None.
        balanced_by: the attributes the model's training data was balanced by
            (:func:`trained_balanced_by`), for the verdict's next steps.
    """
    methods = list(scfg.methods)
    if progress:
        progress(f"analyse {name}", 0, 1)
    result = measure_model(df, tables.embeddings, methods=methods, regions=regions,
                           attributes=attributes, config=analysis_settings(acfg),
                           sanity=sanity, seed=seed)
    df = df.assign(cluster=result.cluster_labels)
    block = result.summary_block()
    block["n"] = int(len(df))
    block["metrics_ci"] = result.metrics_ci
    if cues is not None:
        _add_cues(block, df, cues, acfg, methods, attributes, seed)
    block["verdict"] = model_verdict(block, balanced_by=balanced_by or [])
    if progress:
        progress(f"analyse {name}", 1, 1)
    log.info("%s: accuracy %.3f, %d findings", name, block["metrics"]["accuracy"],
             len(block["findings"]))
    return block, df


def trained_balanced_by(mcfg: ModelConfig, bundle: DataBundle) -> list[str]:
    """The attributes the training ``mcfg`` gets (or got, for a checkpoint: none known) is
    balanced by: ``train.balance: group``, ``loss: group_weighted`` or ``dfr`` with their
    ``balance_by``, or a train split (``data.train_manifest`` from ``audit rebalance``)
    whose (label x value) cells weigh the same."""
    if mcfg.checkpoint is not None or mcfg.train.epochs == 0:
        return []
    t = mcfg.train
    by = list(t.balance_by) if (t.balance == "group" or t.loss == "group_weighted"
                                or t.dfr) else []
    train = bundle.table[bundle.table["split"] == "train"]
    return sorted(set(by) | set(balanced_attributes(train, bundle.attributes)))


def layer_fields(block: dict[str, Any], choice: TargetChoice) -> dict[str, Any]:
    """Add ``target_layer`` and ``map_size`` to a model block, and a ``coarse_map`` finding
    (kept in severity order) when the maps are coarser than 4x4."""
    block["target_layer"] = choice.name
    block["map_size"] = list(choice.map_size)
    if choice.note:
        finding = coarse_map_finding(choice.name, choice.map_size, choice.image_size,
                                     choice.note, choice.finer, choice.finer_size)
        order = Finding.sort_key(finding)
        findings = list(block.get("findings") or [])
        at = next((i for i, f in enumerate(findings)
                   if Finding(f["kind"], f["severity"], f["title"]).sort_key() > order),
                  len(findings))
        findings.insert(at, finding.to_dict())
        block["findings"] = findings
    return block


def _add_cues(block: dict[str, Any], df: pd.DataFrame, cues: CueTables, acfg: AnalysisConfig,
              methods: list[str], attributes: list[str], seed: int) -> None:
    """Add ``average_maps``, ``hotspots``, ``concepts`` and their findings to ``block``."""
    kw = {"level": acfg.ci_level, "n_boot": acfg.n_bootstrap, "seed": seed}
    block["average_maps"] = average_maps_block(cues.average, methods[0])
    block["hotspots"] = hotspots_block(df, cues.hotspots, methods, attributes,
                                       min_group_size=acfg.min_group_size, **kw)
    block["concepts"] = concepts_block(
        df, presence=cues.presence, where=cues.where, grid=cues.grid, imp_rows=cues.imp_rows,
        prob_drop=cues.prob_drop, logit_drop=cues.logit_drop, imp_flip=cues.imp_flip,
        attributes=attributes, n_fit=len(cues.fit_rows), min_group_size=acfg.min_group_size,
        **kw)
    found = [Finding(**f) for f in block["findings"]]
    found += hotspot_findings(df, block["hotspots"], methods[0], attributes,
                              reliance_threshold=acfg.reliance_threshold,
                              tau=acfg.disparity_tau, min_group_size=acfg.min_group_size,
                              level=acfg.ci_level,
                              expected_annotated=bool(acfg.expected_regions))
    found += concept_findings(block["concepts"]["items"],
                              reliance_threshold=acfg.reliance_threshold)
    block["findings"] = [f.to_dict() for f in sorted(found, key=Finding.sort_key)]


def compare_all(samples: pd.DataFrame, names: list[str], baseline: str, *, methods: list[str],
                regions: list[str], attributes: list[str], level: float,
                seed: int, n_boot: int = 2000) -> list[dict[str, Any]]:
    """Every model against ``baseline`` (paired on the same samples; ``n_boot``: bootstrap
    resamples, ``analysis.n_bootstrap``)."""
    out = []
    for other in names:
        if other == baseline:
            continue
        comp = compare_models(samples, baseline, other, methods=methods, regions=regions,
                              attributes=attributes, level=level, seed=seed, n_boot=n_boot)
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
    block = bundle.summary()
    block.update({
        "n_samples": int(len(audit)),
        "audit_split": audit_split,
        "splits": {str(k): int(v) for k, v in table["split"].value_counts().sort_index().items()},
        "counts": counts,
        "coverage": desc.get("coverage", {}),
        "small_groups": desc.get("small_groups", []),
        "warnings": list(desc.get("warnings", [])),
        "data_hash": bundle.data_hash,
    })
    return block

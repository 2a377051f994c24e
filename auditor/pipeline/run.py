"""``run_audit(cfg)``: the stages in order, each given only its own part of the config.

    config -> data -> models -> saliency -> metrics -> findings -> report

Every intermediate result a later run can reuse (synthetic data, trained checkpoints, per-batch
result shards) is kept in the run directory, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from auditor import __version__
from auditor.config import AuditConfig, config_to_yaml
from auditor.data.dataset import load_data, resolve_synthetic
from auditor.data.fingerprints import split_fingerprints
from auditor.data.inputs import input_paths
from auditor.data.jpeg_on_device import EncodedJpegDataset, use_device_decode
from auditor.data.torch_dataset import RememberedItems
from auditor.metrics.columns import IMAGE_HASH
from auditor.metrics.cues import hotspot_columns
from auditor.metrics.reliance import context_classes
from auditor.metrics.spurious import resolve_regions
from auditor.metrics.verdict import comparison_headline
from auditor.models.prepare import TrainSplit, prepare_model
from auditor.pipeline.audit_pass import (
    audit_model,
    collate_samples,
    merge_shards,
    reliance_regions,
    sample_frame,
    shard_layout,
)
from auditor.pipeline.cues_pass import discover_cues
from auditor.pipeline.distributed import Dist, distributed_context
from auditor.pipeline.model_check import check_models, naming
from auditor.pipeline.model_summary import (
    compare_all,
    dataset_block,
    layer_fields,
    summarise_model,
    trained_balanced_by,
)
from auditor.pipeline.preflight import (
    apply_weights_preprocessing,
    check_registries,
    fit_to_data,
    resolve_device,
)
from auditor.pipeline.progress import ProgressSink, scoped
from auditor.pipeline.reliance_pass import SwapPlan, build_swap_plan
from auditor.pipeline.run_keys import first_difference, run_key, shard_key
from auditor.pipeline.rundir import RunDir
from auditor.pipeline.sanity_pass import sanity_block
from auditor.saliency.target_choice import choose_target_layer

log = logging.getLogger(__name__)

__all__ = ["RunResult", "resolve_device", "run_audit"]


@dataclass
class RunResult:
    """What a run produced: the paths written and the summary dict."""

    output_dir: Path
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    resumed: bool = False
    notes: list[str] = field(default_factory=list)  # what the user should know (restarts ...)


def _check_shards(rundir: RunDir, name: str, key: str) -> str | None:
    """Drop ``name``'s audit shards when they were made for other data or weights; write the
    current key. Returns a note for the user when shards were dropped."""
    rel = f"shards/{name}/key.json"
    note = None
    if rundir.exists(f"shards/{name}"):
        try:
            old = json.loads(rundir.path(rel).read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError, AttributeError, RecursionError):
            old = None
        if old != key:
            rundir.remove_tree(f"shards/{name}")
            note = (f"model {name}: the data, annotations, weights, model code or the "
                    "auditor's audit layout changed since the interrupted run; its audit "
                    "starts over")
            log.warning(note)
    rundir.write_json(rel, {"key": key})
    return note


def environment_block(cfg: AuditConfig, device: torch.device, data_hash: str) -> dict[str, Any]:
    """Versions, seed and data hash recorded for reproducibility."""
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "auditor_version": __version__,
            "platform": platform.platform(terse=True), "device": str(device),
            "seed": cfg.seed, "data_hash": data_hash}


def _resolve_cues(cfg: AuditConfig, regions: list[str]) -> AuditConfig:
    """``analysis.cues``: hotspots and concepts off (``hotspots.n = concepts.n = 0``) when
    ``off``, or ``auto`` on data with annotated regions."""
    acfg = cfg.analysis
    annotated = any(r != "background" for r in regions)
    if acfg.cues == "on" or (acfg.cues == "auto" and not annotated):
        return cfg
    log.info("analysis.cues is %s: hotspots and concepts are off (average maps only)",
             acfg.cues)
    return cfg.model_copy(update={"analysis": acfg.model_copy(update={
        "hotspots": acfg.hotspots.model_copy(update={"n": 0}),
        "concepts": acfg.concepts.model_copy(update={"n": 0})})})


def _swap_plan(cfg: AuditConfig, bundle) -> SwapPlan | None:
    """The counterfactual swaps of ``analysis.reliance`` (None when off)."""
    rcfg = cfg.analysis.reliance
    if rcfg is None or not rcfg.swap:
        return None
    _, spurious = resolve_regions(bundle.regions, cfg.analysis.expected_regions,
                                  cfg.analysis.spurious_regions)
    masked = reliance_regions(bundle.regions, rcfg)
    return build_swap_plan(bundle.table, bundle.regions, bundle.attributes,
                           expected=cfg.analysis.expected_regions,
                           swapped=[r for r in spurious if r in masked], seed=cfg.seed)


def run_audit(cfg: AuditConfig, *, progress: ProgressSink | None = None,
              overwrite: bool = False, fresh: bool = False) -> RunResult:
    """Run the whole audit described by ``cfg`` and write its run directory.

    Args:
        cfg: a validated config (see :func:`auditor.config.load_config`).
        progress: optional sink for progress bars.
        overwrite: replace an existing output_dir of another run.
        fresh: start over instead of resuming a run of the same config.

    Returns:
        The :class:`RunResult` (summary dict and written paths).
    """
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    check_registries(cfg)
    apply_weights_preprocessing(cfg)
    device = resolve_device(cfg.device)
    with distributed_context(device) as dist:
        return _run(cfg, dist, dist.device(device), progress=progress,
                    overwrite=overwrite, fresh=fresh)


def _run(cfg: AuditConfig, dist: Dist, device: torch.device, *,
         progress: ProgressSink | None, overwrite: bool, fresh: bool) -> RunResult:
    # Rank 0 prepares (run dir, data, training) while the other ranks wait, then follow.
    if not dist.is_main:
        progress = None
        dist.barrier()
    with RunDir(cfg.output_dir, key=run_key(cfg), overwrite=overwrite and dist.is_main,
                fresh=fresh and dist.is_main, protect=list(input_paths(cfg).values()),
                lock=dist.is_main, explain=first_difference(cfg)) as rundir:
        return _stages(cfg, dist, device, rundir, progress=progress)


def _stages(cfg: AuditConfig, dist: Dist, device: torch.device, rundir: RunDir, *,
            progress: ProgressSink | None) -> RunResult:
    files: dict[str, Path] = {}
    notes = list(rundir.notes)
    with rundir.log_to_file(enabled=dist.is_main):
        log.info("run %s (%s) on %s, rank %d of %d, resumed=%s", cfg.name, rundir.key, device,
                 dist.rank, dist.world, rundir.resumed)
        if dist.is_main:
            files["config"] = rundir.write_text("config.resolved.yaml", config_to_yaml(cfg))

        # -- data ------------------------------------------------------------------------
        data_cfg = cfg.data
        if data_cfg.synthetic is not None:
            data_cfg = resolve_synthetic(data_cfg, rundir.path("data"), cfg.seed,
                                         progress=scoped(progress, "generate data"))
        bundle = load_data(data_cfg, seed=cfg.seed)
        # the audited files' fingerprints as loaded (the moment files_stamp, the shards' resume
        # key, describes); samples.parquet records them for audit report and audit compare
        hashes = split_fingerprints(bundle.table, cfg.data.audit_split) if dist.is_main else {}
        cfg, fit_notes = fit_to_data(cfg, bundle)
        for note in fit_notes:
            log.info("%s", note)
        fitted = _resolve_cues(cfg, bundle.regions)
        if (fit_notes or fitted is not cfg) and dist.is_main:  # the file holds what runs
            files["config"] = rundir.write_text("config.resolved.yaml", config_to_yaml(fitted))
        cfg = fitted
        plan = _swap_plan(cfg, bundle)
        models, choices = [], {}
        audit_items = bundle.dataset(cfg.data.audit_split)
        probe = torch.stack([audit_items[k]["image"] for k in range(min(2, len(audit_items)))])
        checked = check_models(cfg, list(bundle.classes), probe)  # before any training
        example = probe[:1].to(device)
        train_split = TrainSplit(bundle, num_workers=cfg.data.num_workers)
        for mcfg in cfg.models:
            model, _, meta = prepare_model(
                mcfg, bundle, rundir, seed=cfg.seed, device=device, progress=progress,
                num_workers=cfg.data.num_workers, train_split=train_split,
                built=checked.built.pop(mcfg.name, None))
            with naming(f"models[{mcfg.name}]"):
                choices[mcfg.name] = choose_target_layer(model, cfg.saliency.target_layer,
                                                         example)
            if choices[mcfg.name].note:
                log.warning("%s: %s", mcfg.name, choices[mcfg.name].note)
            models.append((model, choices[mcfg.name].name, meta))
            if dist.is_main:
                note = _check_shards(rundir, mcfg.name,
                                     shard_key(rundir.key, bundle, model, shard_layout(plan)))
                notes += [note] if note else []
        del train_split  # the decoded train images
        if dist.is_main:
            dist.barrier()  # the others now find the data and checkpoints in the run dir

        # -- saliency + region metrics, every rank on its share of the batches -------------
        audit_ds = bundle.dataset(cfg.data.audit_split)
        feed: Dataset = audit_ds
        if use_device_decode(cfg.data, device):
            feed = EncodedJpegDataset(audit_ds)
            log.info("audit: plain JPEGs are decoded on %s (data.decode: %s)", device,
                     cfg.data.decode)
        elif (len(cfg.models) > 1 and cfg.data.num_workers == 0
              and RememberedItems.fits(audit_ds)):
            feed = RememberedItems(audit_ds)  # decoded once for all the models
        n_batches: dict[str, int] = {}
        for mcfg, (model, target_layer, _) in zip(cfg.models, models, strict=True):
            with naming(f"models[{mcfg.name}]"):
                n_batches[mcfg.name] = audit_model(
                    model, mcfg.name, feed, bundle.regions, cfg.saliency, cfg.analysis, rundir,
                    target_layer=target_layer, device=device,
                    num_workers=cfg.data.num_workers, rank=dist.rank, world=dist.world,
                    progress=progress, swap_plan=plan, seed=cfg.seed)
        del feed  # the audit split's decoded items, when kept for several models
        dist.barrier()
        if not dist.is_main:
            return RunResult(cfg.output_dir, {}, {}, rundir.resumed, notes)

        # -- metrics and findings per model ----------------------------------------------
        train = bundle.table[bundle.table["split"] == "train"]
        context = {a: context_classes(train if len(train) else bundle.table, a, bundle.classes)
                   for a in bundle.attributes}
        frames: list[pd.DataFrame] = []
        per_model: dict[str, dict[str, Any]] = {}
        first_batch = DataLoader(audit_ds, batch_size=cfg.saliency.batch_size,
                                 collate_fn=collate_samples)
        for mcfg, (model, target_layer, meta) in zip(cfg.models, models, strict=True):
            tables = merge_shards(rundir, mcfg.name, n_batches[mcfg.name], bundle.regions,
                                  cfg.analysis.reliance,
                                  plan.swaps if plan else [])
            df = sample_frame(mcfg.name, tables, bundle.table, bundle.classes,
                              bundle.attributes, list(cfg.saliency.methods), bundle.regions,
                              context={a: {v: c["class"] for v, c in ctx.items()
                                           if c["class"] is not None}
                                       for a, ctx in context.items()})
            df.insert(2, IMAGE_HASH, df["id"].map(hashes))
            sanity = None
            if cfg.analysis.sanity_check:
                sanity = sanity_block(model, first_batch, method=cfg.saliency.methods[0],
                                      target_layer=target_layer, seed=cfg.seed, device=device,
                                      layers=cfg.analysis.sanity_layers,
                                      level=cfg.analysis.ci_level,
                                      n_boot=cfg.analysis.n_bootstrap)
            cues = discover_cues(
                model, df, tables.maps[:, 0], tables.cover, tables.concept_vectors, audit_ds,
                cfg.analysis, attributes=bundle.attributes, target_layer=target_layer,
                device=device, batch_size=cfg.saliency.batch_size, seed=cfg.seed,
                num_workers=cfg.data.num_workers)
            df = pd.concat([df, hotspot_columns(tables.maps, tables.cover, cues.hotspots,
                                                list(cfg.saliency.methods), cues.flip,
                                                cues.conf_drop, cues.swap_follow,
                                                cues.swap_placebo)], axis=1)
            block, df = summarise_model(
                mcfg.name, df, tables, sanity, cfg.analysis, cfg.saliency,
                regions=bundle.regions, attributes=bundle.attributes, seed=cfg.seed,
                progress=progress, cues=cues, balanced_by=trained_balanced_by(mcfg, bundle))
            rundir.write_npz(f"cues/{mcfg.name}.npz", **cues.arrays())
            per_model[mcfg.name] = {"meta": meta, **layer_fields(block, choices[mcfg.name])}
            frames.append(df)
            rundir.write_npz(f"maps/{mcfg.name}.npz", ids=df["id"].to_numpy().astype(str),
                             maps=tables.maps,
                             methods=np.asarray(list(cfg.saliency.methods)))
        del models
        samples = pd.concat(frames, ignore_index=True)

        # -- findings across models, summary -------------------------------------------
        baseline = cfg.baseline or cfg.models[0].name
        comparisons = compare_all(samples, [m.name for m in cfg.models], baseline,
                                  methods=list(cfg.saliency.methods), regions=bundle.regions,
                                  attributes=bundle.attributes, level=cfg.analysis.ci_level,
                                  seed=cfg.seed, n_boot=cfg.analysis.n_bootstrap)
        summary = {
            "schema": "auditor.summary/1",
            "name": cfg.name,
            "auditor_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": {**dataset_block(bundle, cfg.data.audit_split),
                        "context_classes": context},
            "models": {k: {kk: vv for kk, vv in v.items() if kk != "meta"}
                       for k, v in per_model.items()},
            "comparisons": comparisons,
            "baseline": baseline,
            "headline": comparison_headline(per_model, baseline, level=cfg.analysis.ci_level),
            "methods": list(cfg.saliency.methods),
            "expected_regions": list(cfg.analysis.expected_regions),
            "environment": environment_block(cfg, device, bundle.data_hash),
            "training": {k: v["meta"] for k, v in per_model.items()},
        }
        files["samples"] = rundir.write_parquet("samples.parquet", samples)
        files["summary"] = rundir.write_json("summary.json", summary)

        # -- report ----------------------------------------------------------------------
        if cfg.report.formats:
            from auditor.report.stage import write_report

            files.update(write_report(summary, samples, bundle, rundir, cfg.report,
                                      config_yaml=config_to_yaml(cfg),
                                      progress=progress))
        rundir.remove_tree("shards")
        rundir.mark_complete()
        log.info("run complete: %s", ", ".join(str(p) for p in files.values()))
    return RunResult(cfg.output_dir, summary, files, rundir.resumed, notes)

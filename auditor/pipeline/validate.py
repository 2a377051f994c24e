"""``audit validate``: check a config and its data, build every model and run it once (CPU)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from auditor.config import AuditConfig, load_config
from auditor.data.dataset import load_data
from auditor.data.describe import describe, skipped_kinds
from auditor.data.rebalance import source_manifest
from auditor.data.train_rows import describe_weights
from auditor.pipeline.model_check import check_models
from auditor.pipeline.preflight import (
    apply_weights_preprocessing,
    check_registries,
    fit_to_data,
    resolve_device,
)

__all__ = ["ValidateReport", "validate_config"]


@dataclass
class ValidateReport:
    """What ``audit validate`` found: lines to show and warnings."""

    config: AuditConfig
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_config(path: str | Path, *, min_group_size: int | None = None) -> ValidateReport:
    """Load ``path``, check names and files, describe the data, build every model, load its
    files and run it once on one batch (CPU).

    Raises:
        AuditorError: the first problem, as one line.
    """
    cfg = load_config(path)
    check_registries(cfg)
    resolve_device(cfg.device)  # what audit run refuses, validate refuses (device: cuda here)
    report = ValidateReport(cfg)
    report.lines.extend(apply_weights_preprocessing(cfg))
    if cfg.data.synthetic is not None:
        s = cfg.data.synthetic
        report.lines.append(
            f"synthetic {s.kind} dataset (generated at run time): train {s.n_train} "
            f"(bias {s.bias}), val {s.n_val}, test {s.n_test}, {s.image_size}px; "
            "classes doctor, nurse; attribute hair; regions face, object, background")
        if cfg.data.train_manifest is not None:
            table, _ = source_manifest(cfg)  # checks every train row against the generator
            line = describe_weights(table.assign(weight=table.get("weight", 1.0)),
                                    str(cfg.data.train_manifest))
            report.lines.append(line or f"train split from {cfg.data.train_manifest}: "
                                        f"{int((table['split'] == 'train').sum())} images")
        size = cfg.data.image_size
        images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
        _add_models(report, check_models(cfg, ["doctor", "nurse"], images))
        return report
    bundle = load_data(cfg.data, seed=cfg.seed)
    cfg, notes = fit_to_data(cfg, bundle)
    report.lines.extend(notes)
    desc = describe(bundle, min_group_size=min_group_size or cfg.analysis.min_group_size)
    splits = ", ".join(f"{k} {v}" for k, v in desc["splits"].items())
    report.lines.append(f"{desc['n_samples']} samples ({splits}), {desc['n_skipped']} skipped")
    weights = describe_weights(bundle.table, str(cfg.data.train_manifest or cfg.data.manifest))
    if weights:
        report.lines.append(weights)
    report.lines.append(f"classes: {', '.join(bundle.classes)}")
    report.lines.append(f"attributes: {', '.join(bundle.attributes) or 'none'}")
    report.lines.append("regions: " + ", ".join(
        f"{r} ({desc['coverage'][r]:.0%} annotated)" if desc["coverage"].get(r) is not None
        else r for r in bundle.regions))
    for split, per_class in desc["counts"].items():
        for cls, entry in per_class.items():
            parts = [f"n={entry['n']}"]
            for attr in bundle.attributes:
                parts.append(f"{attr}: " + ", ".join(f"{v}={n}" for v, n in entry[attr].items()))
            report.lines.append(f"  {split:<5} {cls:<16} " + "; ".join(parts))
    for kind, (n, first) in skipped_kinds(bundle.skipped).items():
        report.warnings.append(f"{n} sample(s) skipped ({kind}); the first: {first['id']}: "
                               f"{first['reason']}")
    report.warnings.extend(desc["warnings"])
    split = next((sp for sp in (cfg.data.audit_split, "test", "val", "train")
                  if (bundle.table["split"] == sp).any()), None)
    if split is not None:
        ds = bundle.dataset(split)
        images = torch.stack([ds[k]["image"] for k in range(min(2, len(ds)))])
        _add_models(report, check_models(cfg, list(bundle.classes), images))
    return report


def _add_models(report: ValidateReport, found) -> None:
    report.lines.extend(found.lines)
    report.warnings.extend(found.warnings)

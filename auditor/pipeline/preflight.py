"""Cross-section checks of a config: names that only the registries or the data can confirm.

Run before any work starts, so a typo fails in a second, not after training.
"""

from __future__ import annotations

from pathlib import Path

import torch

from auditor.common.names import BACKGROUND
from auditor.config import AuditConfig, NormalizeStats
from auditor.data.dataset import DataBundle
from auditor.data.describe import annotated_anywhere, annotation_coverage
from auditor.data.regions import region_format_layout
from auditor.errors import ConfigError, DataError, ModelError, SaliencyError
from auditor.models import get_arch
from auditor.models.torchvision_zoo import weights_info
from auditor.saliency import get_method
from auditor.saliency.methods import resolve_options

__all__ = ["apply_weights_preprocessing", "check_against_data", "check_registries", "fit_to_data"]


def check_registries(cfg: AuditConfig) -> None:
    """Architectures, saliency methods and checkpoint files exist.

    Raises:
        ModelError, SaliencyError: one line naming the model or method.
    """
    for m in cfg.models:
        try:
            info = get_arch(m.arch)
        except ModelError as err:
            raise ModelError(f"models[{m.name}].arch: {err}") from None
        if info.family == "torchscript" and m.checkpoint is None:
            raise ModelError(f"models[{m.name}]: arch: torchscript needs checkpoint: "
                             "path/to/model.pt (the TorchScript file is the model)")
        for key in ("checkpoint", "pretrained"):
            path = getattr(m, key)
            if path is not None and not Path(path).is_file():
                what = ("a TorchScript file saved with torch.jit.save" if
                        info.family == "torchscript" else "a state_dict saved with "
                        "torch.save(model.state_dict(), path)")
                raise ModelError(f"models[{m.name}].{key}: {path} not found (give {what}; "
                                 "nothing is downloaded)")
        if m.weights is not None:
            if m.pretrained is not None:
                raise ConfigError(f"models[{m.name}]: give weights or pretrained, not both")
            weights_info(m.arch, m.weights, f"models[{m.name}].weights").local_file(
                f"models[{m.name}].weights")
    for method in cfg.saliency.methods:
        get_method(method)
    stray = sorted(set(cfg.saliency.options) - set(cfg.saliency.methods))
    if stray:
        raise ConfigError(f"saliency.options: {stray[0]!r} is not one of saliency.methods "
                          f"({', '.join(cfg.saliency.methods)})")
    for method, opts in cfg.saliency.options.items():
        try:
            resolve_options(method, opts, image_size=cfg.data.image_size)
        except SaliencyError as err:
            raise ConfigError(f"saliency.options.{method}: {err}") from None


def check_against_data(cfg: AuditConfig, regions: list[str], attributes: list[str]) -> None:
    """Region and attribute names used in the config exist in the loaded data.

    Raises:
        ConfigError: naming the key and listing what the data has.
    """
    reliance = cfg.analysis.reliance.regions if cfg.analysis.reliance else "all"
    for key, names in (("analysis.expected_regions", cfg.analysis.expected_regions),
                       ("analysis.spurious_regions", cfg.analysis.spurious_regions or []),
                       ("analysis.reliance.regions", [] if reliance == "all" else reliance)):
        unknown = [n for n in names if n not in regions]
        if unknown:  # a typo in reliance.regions silently turned the causal tests off
            raise ConfigError(f"{key}: unknown region {unknown[0]!r}; the data has "
                              f"{', '.join(regions)}")
    both = [n for n in cfg.analysis.spurious_regions or []
            if n in cfg.analysis.expected_regions]
    if both:  # the shortcut tests would swap the expected region as if it were spurious
        raise ConfigError(f"analysis.spurious_regions: {both[0]!r} is also in "
                          "analysis.expected_regions; a region is either what should decide "
                          "the class or a cue that should not, not both")
    for m in cfg.models:
        if m.train is not None:
            bad = [a for a in m.train.balance_by if a not in attributes]
            if bad:
                raise ConfigError(f"models[{m.name}].train.balance_by: {bad[0]!r} is not one "
                                  f"of data.attributes ({', '.join(attributes) or 'none'})")


def apply_weights_preprocessing(cfg: AuditConfig) -> list[str]:
    """Input size and normalisation from torchvision weights metadata, where the config
    leaves ``data.image_size`` / ``data.normalize`` unset and a model names ``weights``.

    The first such model decides (every model sees the same images). Set in place, so
    ``config.resolved.yaml`` records them; returns one line per value set.

    Raises:
        ModelError: unknown weights name.
    """
    lines: list[str] = []
    for m in cfg.models:
        if m.weights is None:
            continue
        info = weights_info(m.arch, m.weights, f"models[{m.name}].weights")
        if "image_size" not in cfg.data.model_fields_set:
            cfg.data.image_size = info.crop_size
            lines.append(f"data.image_size: {info.crop_size} (from {info.name})")
        if "normalize" not in cfg.data.model_fields_set:
            cfg.data.normalize = NormalizeStats(mean=info.mean, std=info.std)
            lines.append(f"data.normalize: mean {info.mean}, std {info.std} (from {info.name})")
        break
    return lines


# the settings fitted to the data (by fit_to_data, and analysis.cues: auto, which turns
# hotspots and concepts off on annotated data): config.resolved.yaml holds them as fitted
FITTED_KEYS = ("analysis.expected_regions", "analysis.hotspots.n", "analysis.concepts.n")


def fit_to_data(cfg: AuditConfig, bundle: DataBundle) -> tuple[AuditConfig, list[str]]:
    """The config as it applies to the loaded data, checked against it: what ``audit
    validate`` and ``audit run`` both do once the data is loaded, so that one accepts
    exactly what the other does.

    - data without annotated regions: ``analysis.expected_regions`` defaults to ``[]``;
    - region and attribute names exist in the data (:func:`check_against_data`);
    - every expected region is annotated on some samples of the audit split;
    - auditing the split a model is trained on here is a data warning.

    Returns:
        ``(config, notes)``: notes are one-line facts for the log.

    Raises:
        ConfigError, DataError: one line naming the key, the split or the region.
    """
    notes = []
    if (not any(r != BACKGROUND for r in bundle.regions)
            and "expected_regions" not in cfg.analysis.model_fields_set):
        notes.append("the data has no annotated regions: analysis.expected_regions is []")
        cfg = cfg.model_copy(update={"analysis": cfg.analysis.model_copy(
            update={"expected_regions": []})})
    check_against_data(cfg, bundle.regions, bundle.attributes)
    split = cfg.data.audit_split  # load_data made sure it has samples
    trained = [m.name for m in cfg.models if m.checkpoint is None and m.train.epochs > 0]
    if split == "train" and trained and not any("data.audit_split is train" in w
                                                for w in bundle.warnings):
        bundle.warnings.append(  # shown with the data's warnings (validate, the report)
            f"data.audit_split is train, the split {', '.join(trained)} "
            f"{'is' if len(trained) == 1 else 'are'} trained on: accuracy and findings "
            "describe images the model has learned, not how it does on new ones (audit val "
            "or test)")
    n = int((bundle.table["split"] == split).sum())
    if cfg.data.regions is not None and cfg.analysis.expected_regions:
        here = annotated_anywhere(bundle, cfg.analysis.expected_regions, split)
        for region in cfg.analysis.expected_regions:
            if here[region] is not False:  # annotated here, or by no file (auto: face)
                continue
            overall = annotation_coverage(bundle).get(region) or 0.0
            if overall == 0:
                fmt = cfg.data.regions.format or "coco"
                raise DataError(
                    f"data.regions: expected region {region!r} is annotated on 0% of the "
                    f"{len(bundle.table)} samples: the annotation files do not match the "
                    f"images. Expected layout: {region_format_layout(fmt)} (audit methods "
                    "lists every format)")
            raise DataError(
                f"data.regions: expected region {region!r} is annotated on none of the {n} "
                f"{split!r} samples (the audit split; {overall:.0%} of all samples): "
                "annotate them or choose another data.audit_split")
    return cfg, notes


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> the first CUDA device when there is one, else CPU.

    Raises:
        ConfigError: ``cuda`` asked for on a machine without it.
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {spec!r} asked for, but no CUDA device is available here "
                          "(use device: auto or cpu)")
    if spec.startswith("cuda:") and int(spec[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"device: {spec!r} does not exist ({torch.cuda.device_count()} GPUs)")
    return torch.device(spec)

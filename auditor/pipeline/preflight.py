"""Cross-section checks of a config: names that only the registries or the data can confirm.

Run before any work starts, so a typo fails in a second, not after training.
"""

from __future__ import annotations

from pathlib import Path

from auditor.config import AuditConfig
from auditor.errors import ConfigError, ModelError, SaliencyError
from auditor.models import get_arch
from auditor.saliency import get_method
from auditor.saliency.methods import resolve_options

__all__ = ["check_against_data", "check_registries"]


def check_registries(cfg: AuditConfig) -> None:
    """Architectures, saliency methods and checkpoint files exist.

    Raises:
        ModelError, SaliencyError: one line naming the model or method.
    """
    for m in cfg.models:
        get_arch(m.arch)
        for key in ("checkpoint", "pretrained"):
            path = getattr(m, key)
            if path is not None and not Path(path).is_file():
                raise ModelError(
                    f"models[{m.name}].{key}: {path} not found (give a state_dict saved with "
                    "torch.save(model.state_dict(), path); nothing is downloaded)")
    for method in cfg.saliency.methods:
        get_method(method)
    stray = sorted(set(cfg.saliency.options) - set(cfg.saliency.methods))
    if stray:
        raise ConfigError(f"saliency.options: {stray[0]!r} is not one of saliency.methods "
                          f"({', '.join(cfg.saliency.methods)})")
    for method, opts in cfg.saliency.options.items():
        try:
            resolve_options(method, opts)
        except SaliencyError as err:
            raise ConfigError(f"saliency.options.{method}: {err}") from None


def check_against_data(cfg: AuditConfig, regions: list[str], attributes: list[str]) -> None:
    """Region and attribute names used in the config exist in the loaded data.

    Raises:
        ConfigError: naming the key and listing what the data has.
    """
    for key, names in (("analysis.expected_regions", cfg.analysis.expected_regions),
                       ("analysis.spurious_regions", cfg.analysis.spurious_regions or [])):
        unknown = [n for n in names if n not in regions]
        if unknown:
            raise ConfigError(f"{key}: unknown region {unknown[0]!r}; the data has "
                              f"{', '.join(regions)}")
    for m in cfg.models:
        if m.train is not None:
            bad = [a for a in m.train.balance_by if a not in attributes]
            if bad:
                raise ConfigError(f"models[{m.name}].train.balance_by: {bad[0]!r} is not one "
                                  f"of data.attributes ({', '.join(attributes) or 'none'})")

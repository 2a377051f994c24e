"""The saliency sanity check of one model (Adebayo et al. 2018): runs the model, so it belongs to
the audit pass, not to the metrics. Its result is the ``sanity`` block of summary.json.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from auditor.metrics.stats import bootstrap_mean_ci, json_float
from auditor.saliency.sanity import model_randomization_check

__all__ = ["SANITY_IMAGES", "sanity_block"]

log = logging.getLogger(__name__)

#: Images of the first audit batch used by the model-parameter randomisation test.
SANITY_IMAGES = 32


def sanity_block(model: nn.Module, loader: DataLoader, *, method: str, target_layer: str,
                 seed: int, device: torch.device, layers: str, level: float = 0.95,
                 n_boot: int = 1000) -> dict[str, Any] | None:
    """Cascading model-parameter randomisation on the first batch of ``loader``.

    Args:
        model: the audited classifier (restored afterwards by the check).
        loader: the audit split's loader; its first ``SANITY_IMAGES`` images are used.
        method: the saliency method whose maps are tested (the first configured one).
        target_layer: the layer the maps are computed at.
        seed: seeds the re-initialisation.
        device: where the model lives.
        layers: ``analysis.sanity_layers``.
        level, n_boot: the bootstrap interval of the lowest step's mean Spearman (over images).

    Returns:
        ``{"method", "test", "spearman", "ssim", "passed", "threshold", "empty_maps",
        "n_images", "layers", "per_layer": [{"layer", "spearman", "ssim"}], "lowest": {"layer",
        "spearman", "ci", "n"}}`` (``spearman``: the fully randomised copy; ``lowest``: the step
        ``passed`` reads, None when every map is empty), or None (with a warning in the log)
        for a model without parameters: nothing to randomise.
    """
    if not any(True for _ in model.parameters()):
        log.warning("sanity check skipped: the model has no parameters to randomise (a frozen "
                    "TorchScript file keeps its weights as constants)")
        return None
    batch = next(iter(loader))
    images = batch["image"][:SANITY_IMAGES].to(device)
    with torch.no_grad():
        targets = model(images).argmax(1)
    result = model_randomization_check(model, images, targets, method=method,
                                       target_layer=target_layer, seed=seed,
                                       layers=layers)  # type: ignore[arg-type]
    lowest = None
    if result.lowest >= 0:
        rhos = result.per_image[result.lowest]
        mean, lo, hi = bootstrap_mean_ci(rhos, n_boot=n_boot, level=level, seed=seed)
        lowest = {"layer": result.per_layer[result.lowest][0], "spearman": json_float(mean),
                  "ci": [json_float(lo), json_float(hi)], "n": int(np.isfinite(rhos).sum())}
    return {"method": result.method, "test": result.test, "spearman": result.spearman,
            "ssim": result.ssim, "passed": result.passed, "threshold": result.threshold,
            "empty_maps": result.empty_maps,
            "n_images": int(len(images)), "layers": layers,
            "per_layer": [{"layer": name, "spearman": rho, "ssim": s}
                          for name, rho, s in result.per_layer],
            "lowest": lowest}

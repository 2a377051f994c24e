"""Saliency sanity check: model-parameter randomisation (Adebayo et al., NeurIPS 2018).

If a saliency method explains the model, its maps must change when the model's weights are
replaced by random ones. We re-initialise the layers of a deep copy of the model from the head
down (cascading), recompute the maps for the same images and classes, and compare them with the
original maps by Spearman rank correlation and SSIM. The maps depend on the weights when the
similarity falls below the threshold at some step of the cascade; high similarity at every step
means they do not depend on what the model learned -- the check fails. The fully randomised
copy alone is not the test: a random network's maps can follow the image's structure (an object
on a plain background) as the trained one's do, and correlate with them again at the end of a
cascade that decorrelated them on the way (measured: a resnet18 at 48 px, rho -0.02 after
``layer3.1``, 0.52 after ``conv1``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.saliency.engine import CamEngine, normalize

__all__ = ["SanityResult", "model_randomization_check", "spearman_per_map", "ssim"]


@dataclass
class SanityResult:
    """Outcome of the model-parameter randomisation test.

    Attributes:
        method: the saliency method checked.
        test: always ``"model_parameter_randomization"``.
        spearman: mean over images of the rank correlation between original and fully
            randomised maps.
        ssim: mean SSIM between the (min-max normalised) original and fully randomised maps.
        per_layer: ``(layer randomised last, spearman, ssim)`` after each cascade step.
        passed: the lowest Spearman of ``per_layer`` is below ``threshold`` (the maps depend
            on the weights); False when every original map is empty (``spearman`` NaN:
            nothing to compare).
        threshold: the Spearman threshold used.
        empty_maps: how many of the original maps are constant (e.g. all zero); they are
            left out of ``spearman``.
        per_image: ``[N]`` rank correlation per image at each step of ``per_layer`` (NaN for
            an empty original map), for intervals.
    """

    method: str
    spearman: float
    ssim: float
    passed: bool
    threshold: float
    per_layer: list[tuple[str, float, float]] = field(default_factory=list)
    test: str = "model_parameter_randomization"
    empty_maps: int = 0
    per_image: list[np.ndarray] = field(default_factory=list)

    @property
    def lowest(self) -> int:
        """Index in ``per_layer`` of the step with the lowest Spearman (-1: all NaN)."""
        rhos = np.array([r for _, r, _ in self.per_layer], dtype=float)
        return int(np.nanargmin(rhos)) if np.isfinite(rhos).any() else -1


def spearman_per_map(a: Tensor, b: Tensor) -> np.ndarray:
    """Spearman rank correlation per map (``scipy.stats.spearmanr``, ties averaged).

    Args:
        a, b: ``[N, H, W]``.

    Returns:
        ``[N]`` float64. A constant map ``b`` counts as 0 (it kept nothing of ``a``); a
        constant reference ``a`` (an empty map: nothing to compare) gives NaN.
    """
    x = a.detach().flatten(1).double().cpu().numpy()
    y = b.detach().flatten(1).double().cpu().numpy()
    out = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        if np.ptp(x[i]) == 0:
            out[i] = np.nan
        elif np.ptp(y[i]) > 0:
            out[i] = spearmanr(x[i], y[i]).statistic
    return out


def ssim(a: Tensor, b: Tensor, *, sigma: float = 1.5, data_range: float = 1.0) -> Tensor:
    """Mean structural similarity per map with an 11x11 Gaussian window (Wang et al. 2004).

    Same conventions as ``skimage.metrics.structural_similarity(gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)``: statistics over the positions where the window
    fits (``valid``), ``K1 = 0.01``, ``K2 = 0.03``. The window shrinks for maps under 11 px.

    Args:
        a, b: ``[N, H, W]`` maps on the same scale.

    Returns:
        ``[N]`` SSIM values.
    """
    size = min(11, *a.shape[-2:])
    size -= 1 - size % 2
    radius = (size - 1) / 2
    coords = torch.arange(size, dtype=torch.float64, device=a.device) - radius
    g1 = torch.exp(-(coords**2) / (2 * sigma**2))
    g1 = g1 / g1.sum()
    x, y = a[:, None].double(), b[:, None].double()
    # The five local statistics in one separable, grouped filter pass (the window factorises).
    st = torch.cat([x, y, x * x, y * y, x * y], 1)
    st = F.conv2d(st, g1.view(1, 1, 1, -1).expand(5, 1, 1, size), groups=5)
    st = F.conv2d(st, g1.view(1, 1, -1, 1).expand(5, 1, size, 1), groups=5)
    mx, my, xx, yy, xy = st.unbind(1)
    vx, vy, cxy = xx - mx**2, yy - my**2, xy - mx * my
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1).float()


def _param_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules owning parameters, from the head down (reverse registration order)."""
    found = [(n, m) for n, m in model.named_modules() if any(True for _ in m.parameters(False))]
    return found[::-1]


@contextlib.contextmanager
def _scratch(model: nn.Module) -> Iterator[nn.Module]:
    """A deep copy of ``model`` to randomise; a model that cannot be copied (a ``__getattr__``
    raising KeyError for ``__deepcopy__``) is randomised itself, and every parameter and buffer
    is restored on exit, whatever happens."""
    try:
        clone = copy.deepcopy(model)
    except Exception:  # noqa: BLE001  (any user code)
        clone = None
    if clone is not None:
        yield clone
        return
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        yield model
    finally:
        model.load_state_dict(saved)


def _randomize(module: nn.Module) -> None:
    """Re-initialise ``module``'s own parameters (its ``reset_parameters``, else N(0, 0.02))."""
    reset = getattr(type(module), "reset_parameters", None)  # not the instance: a user's
    if callable(reset):                                     # __getattr__ may raise anything
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(0.0, 0.02)


MAX_STEPS = 20  # "blocks" and "auto": at most this many cascade steps


def _steps(model: nn.Module, layers: str,
           max_steps: int = MAX_STEPS) -> list[tuple[str, list[nn.Module]]]:
    """Cascade steps, head first: ``[(name, modules randomised at this step)]``.

    ``blocks`` groups the parameterised modules by their name prefix at the deepest depth that
    gives at most ``max_steps`` groups (resnet50: ``fc``, ``layer4.2`` ... ``layer1.0``,
    ``bn1``, ``conv1``, 19 steps), never coarser than the top-level children. ``auto`` is
    ``cascade`` up to ``max_steps`` modules and ``blocks`` above. Every mode randomises the
    same modules in the same order, so the fully randomised copy (the headline numbers) does
    not depend on the mode.
    """
    mods = _param_modules(model)
    if not mods:
        raise SaliencyError("the model has no parameters to randomise")
    if layers == "auto":
        layers = "cascade" if len(mods) <= max_steps else "blocks"
    if layers == "cascade":
        return [(n, [m]) for n, m in mods]
    if layers == "blocks":
        depth = max((n.count(".") + 1 for n, _ in mods), default=1)
        while depth > 1 and len(_group(mods, depth)) > max_steps:
            depth -= 1
        return list(_group(mods, depth).items())
    if layers == "full":
        return [("all", [m for _, m in mods])]
    raise SaliencyError(f"layers must be auto, cascade, blocks or full, got {layers!r}")


def _group(mods: list[tuple[str, nn.Module]], depth: int) -> dict[str, list[nn.Module]]:
    steps: dict[str, list[nn.Module]] = {}
    for n, m in mods:
        steps.setdefault(".".join(n.split(".")[:depth]) or "<root>", []).append(m)
    return steps


def model_randomization_check(
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None = None,
    *,
    method: str = "gradcam",
    target_layer: str | nn.Module = "auto",
    seed: int = 0,
    layers: Literal["auto", "cascade", "blocks", "full"] = "cascade",
    threshold: float = 0.5,
    chunk_size: int = 64,
    options: Mapping[str, Any] | None = None,
) -> SanityResult:
    """Cascading model-parameter randomisation test on a deep copy of ``model``.

    Args:
        model: the trained classifier (never modified).
        images: ``[N, C, H, W]`` a few audit images.
        targets: ``[N]`` classes to explain; ``None`` = the original model's predictions (kept
            fixed while the copy is randomised).
        method: saliency method to check.
        target_layer: as for :class:`CamEngine`.
        seed: seeds the re-initialisation.
        layers: ``"cascade"`` (one parameterised module at a time, head first), ``"blocks"``
            (modules grouped by name prefix into at most 20 steps, head first), ``"auto"``
            (cascade up to 20 parameterised modules, else blocks) or ``"full"`` (everything
            at once).
        threshold: the check passes when the Spearman correlation of some step is below it.
        chunk_size: as for :class:`CamEngine`.
        options: the method's options.

    Returns:
        :class:`SanityResult`; ``spearman`` and ``ssim`` are those of the fully randomised
        copy, ``passed`` reads the lowest step.
    """
    opts = {method: dict(options)} if options else None
    engine = CamEngine(model, target_layer, [method], chunk_size=chunk_size, options=opts)
    base = engine(images, targets)
    ref = normalize(base.maps[:, 0])
    layer_name = engine.target_layer
    params = list(model.parameters())
    if not params:
        raise SaliencyError("the model has no parameters to randomise (a frozen TorchScript "
                            "file keeps its weights as constants)")
    device = params[0].device
    flat = ref.flatten(1)
    empty = int((flat.amax(1) == flat.amin(1)).sum())
    per_layer: list[tuple[str, float, float]] = []
    per_image: list[np.ndarray] = []
    rng_devices = [] if device.type != "cuda" else [
        device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=rng_devices), _scratch(model) as clone:
        torch.manual_seed(seed)
        for name, modules in _steps(clone, layers):
            for m in modules:
                _randomize(m)
            rand = CamEngine(clone, layer_name, [method], chunk_size=chunk_size, options=opts)
            maps = normalize(rand(images, base.targets).maps[:, 0])
            rhos = spearman_per_map(ref, maps)
            rho = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else float("nan")
            sim = float(ssim(ref, maps).mean())
            per_layer.append((name, rho, sim))
            per_image.append(rhos)
    _, rho, sim = per_layer[-1]
    result = SanityResult(method=method, spearman=rho, ssim=sim, passed=False,
                          threshold=threshold, per_layer=per_layer, empty_maps=empty,
                          per_image=per_image)
    low = result.lowest
    result.passed = bool(low >= 0 and per_layer[low][1] < threshold)
    return result

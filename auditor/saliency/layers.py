"""Target-layer resolution and the context managers that touch a model.

Everything that changes a model (eval mode, ``requires_grad`` flags, hooks) is a context manager
here that restores the model on exit, also when the body raises.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.models.containers import container_problem
from auditor.models.state import frozen

__all__ = [
    "MIN_MAP_SIDE",
    "NO_SPATIAL_LAYER",
    "ActivationCapture",
    "LayerProbe",
    "grid_shape",
    "module_layout",
    "probe_layers",
    "capture_activation",
    "frozen",
    "module_name",
    "container_problem",
    "not_logits",
    "registered_hooks",
    "resolve_target_layer",
    "tokens_to_grid",
]

logger = logging.getLogger(__name__)

_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
#: 1-D operations: their ``[N, C, L]`` outputs are channels-first sequences (Swin's token
#: pooler gives ``[N, C, 1]``), never ``[N, T, D]`` tokens, though ``C`` may look like a token
#: count (32 = a 5x5 grid after 7 "class tokens")
_SEQUENCE_OPS = (nn.Conv1d, nn.AvgPool1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d,
                 nn.AdaptiveMaxPool1d)


@contextlib.contextmanager
def registered_hooks() -> Iterator[list[torch.utils.hooks.RemovableHandle]]:
    """Yield a list to append hook handles to; every handle is removed on exit."""
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()


def _token_prefix(tokens: int) -> int | None:
    """How many leading non-grid tokens (class, distillation, register tokens) to drop so that
    the rest is a square grid: the fewest from 0 to 8, None when there is no such count."""
    for extra in range(0, min(8, tokens - 1) + 1):
        side = math.isqrt(tokens - extra)
        if side * side == tokens - extra:
            return extra
    return None


#: Modules whose 4-D output is channels-first ``[N, C, h, w]`` whatever its sizes.
_CHANNELS_FIRST = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d,
                   nn.MaxPool2d, nn.AvgPool2d, nn.Upsample)


def module_layout(module: nn.Module) -> bool | None:
    """Whether a module's 4-D output is channels-last, from what the module is: True for a
    linear layer or a ``LayerNorm`` over the last dimension (exactly those types: torchvision's
    ``LayerNorm2d`` subclass permutes back), False for convolutions, 2-D norms and poolings,
    None when only the shape can tell. A block whose channel count equals its grid side
    (``[N, 8, 8, 8]``) is ambiguous by shape alone."""
    if type(module) is nn.Linear or (type(module) is nn.LayerNorm
                                     and len(module.normalized_shape) == 1):
        return True
    if isinstance(module, _CHANNELS_FIRST):
        return False
    return None


def grid_shape(shape: tuple[int, ...] | torch.Size,
               channels_last: bool | None = None) -> tuple[int, int] | None:
    """``(h, w)`` of the grid :func:`tokens_to_grid` makes of an output of ``shape``, or None.

    ``channels_last``: the layout of a 4-D output when the module says it
    (:func:`module_layout`). Else inputs are square, so a 4-D output is a map only when two
    neighbouring dimensions are equal (``[N, C, h, h]`` or ``[N, h, h, C]``); ``[N, heads, T,
    d]`` attention internals are not.
    """
    if len(shape) == 4 and channels_last is not None:
        return (shape[1], shape[2]) if channels_last else (shape[2], shape[3])
    if len(shape) == 4:
        if shape[2] == shape[3]:
            return shape[2], shape[3]
        return (shape[1], shape[2]) if shape[1] == shape[2] else None
    if len(shape) == 3:
        if shape[2] < 2:  # one feature per "token": a pooled [N, C, 1], not tokens
            return None
        extra = _token_prefix(shape[1])
        if extra is None:
            return None
        side = math.isqrt(shape[1] - extra)
        return side, side
    return None


def _channels_last(shape: tuple[int, ...] | torch.Size) -> bool:
    """``[N, h, w, C]`` (Swin stages, ConvNeXt's inner linears) rather than ``[N, C, h, w]``.

    Inputs are square here, so a grid is square: the two equal dimensions are the spatial ones.
    """
    return shape[2] != shape[3] and shape[1] == shape[2]


def tokens_to_grid(t: Tensor, channels_last: bool | None = None) -> Tensor:
    """Turn a layer output into a spatial grid ``[N, K, h, w]``.

    Args:
        t: ``[N, K, h, w]`` (returned as is), channels-last ``[N, h, w, K]`` (permuted; told
            apart by ``channels_last`` when the module says it, else by which two dimensions
            are equal, the grid of a square input being square) or transformer tokens
            ``[N, T, D]``; leading class / distillation / register tokens are dropped (the
            fewest, up to 8, that leave a square number of grid tokens).
        channels_last: :func:`module_layout` of the module that produced ``t``.

    Raises:
        SaliencyError: a token count that is not a square grid after dropping up to 8 tokens.
    """
    if t.dim() == 4:
        last = _channels_last(t.shape) if channels_last is None else channels_last
        return t.permute(0, 3, 1, 2) if last else t
    if t.dim() != 3:
        raise SaliencyError(f"target layer output has shape {tuple(t.shape)}; need [N,C,H,W] "
                            "or transformer tokens [N,T,D]")
    n, tokens, d = t.shape
    if d < 2:
        raise SaliencyError(f"target layer output has shape {tuple(t.shape)}: one feature per "
                            "position is a pooled output, not a map or transformer tokens")
    extra = _token_prefix(tokens)
    if extra is None:
        raise SaliencyError(f"cannot arrange {tokens} tokens as a square grid (after dropping "
                            "up to 8 class or register tokens)")
    side = math.isqrt(tokens - extra)
    return t[:, extra:].reshape(n, side, side, d).permute(0, 3, 1, 2)


def module_name(model: nn.Module, module: nn.Module) -> str:
    """The dotted name of ``module`` inside ``model``.

    Raises:
        SaliencyError: ``module`` is not part of ``model``.
    """
    for name, m in model.named_modules():
        if m is module:
            return name
    raise SaliencyError(f"target layer {type(module).__name__} is not a submodule of the model")


def resolve_target_layer(
    model: nn.Module, spec: str | nn.Module, example: Tensor | None = None
) -> tuple[str, nn.Module]:
    """Find the target layer.

    Args:
        model: the classifier.
        spec: ``"auto"``, a dotted module name (``"layer4"``, ``"features.28"``) or a module.
        example: a ``[1, 3, H, W]`` batch for the dry forward ``"auto"`` needs.

    Returns:
        ``(dotted name, module)``.

    Raises:
        SaliencyError: unknown name (with close valid names) or no usable layer found.
    """
    if isinstance(spec, nn.Module):
        return module_name(model, spec), spec
    if spec != "auto":
        try:
            return spec, model.get_submodule(spec)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n]
            close = difflib.get_close_matches(spec, names, n=4, cutoff=0.3) or names[-4:]
            raise SaliencyError(f"unknown target layer {spec!r}; close valid names: "
                                f"{', '.join(close)}") from None
    if example is None:
        raise SaliencyError("target_layer='auto' needs an example batch to find the layer")
    name = probe_layers(model, example).auto
    logger.info("target layer (auto): %s (%s)", name, type(model.get_submodule(name)).__name__)
    return name, model.get_submodule(name)


@dataclass
class LayerProbe:
    """What one dry forward found: usable layers in the order they finish, their grids.

    Attributes:
        layers: ``(dotted name, (h, w))`` of every module called once whose output is a grid
            (``[N,C,h,w]``, channels-last, or square token sequences) and reaches the logits.
        auto: the layer ``"auto"`` takes: the last one whose grid is at least
            ``MIN_MAP_SIDE`` on each side (token models: the last one whose grid tokens
            get a gradient, typically the first norm of the last block), else the last one.
    """

    layers: list[tuple[str, tuple[int, int]]]
    auto: str

    def size(self, name: str) -> tuple[int, int] | None:
        """The grid of layer ``name`` (None when it is not a probed layer)."""
        return dict(self.layers).get(name)

    def finest_fine_enough(self) -> str | None:
        """The last layer with a grid of at least ``MIN_MAP_SIDE`` a side (None if none)."""
        fine = [n for n, hw in self.layers if min(hw) >= MIN_MAP_SIDE]
        return fine[-1] if fine else None


MIN_MAP_SIDE = 4  # a map coarser than 4x4 cannot separate regions of a typical image

# No module of the model outputs a map or a token grid: there is nothing to name either, and
# the engine takes every method's activations (and the features it clusters) from that layer.
NO_SPATIAL_LAYER = ("no layer of this model outputs a spatial map [N,C,H,W] or a token grid "
                    "[N,T,D] (does its forward flatten the image first?): every saliency "
                    "method, gradient and occlusion included, needs one (auditor also takes "
                    "the features it clusters from it), so this model cannot be audited")
_NOT_DIFFERENTIABLE = ("the logits do not depend on the image through autograd (does the "
                       "forward go through numpy, .detach(), .item() or torch.no_grad()?): "
                       "saliency needs gradients from the logits back to a layer")


def not_logits(out: object) -> str | None:
    """Why a model's output cannot be read as logits when it is a mapping (one line), else
    None: a dict output (Hugging Face style) needs a wrapper returning the logits tensor
    (:func:`container_problem`)."""
    return container_problem(out) if isinstance(out, Mapping) else None


def probe_layers(model: nn.Module, example: Tensor) -> LayerProbe:
    """One dry forward and backward on one image: the candidate target layers and ``auto``.

    Modules finish in post-order, so a block container (``layer4``) comes after its last child
    and wins over it. Global pooling and anything after it (1x1 grids) never qualifies; modules
    called more than once per forward (a shared ReLU) are skipped, as a hook would see only
    their last call. Token layers whose grid tokens get no gradient (everything after the
    last attention, when the head reads the class token) are skipped; with an untrained head
    (all gradients zero) the last token output feeding a ``MultiheadAttention`` is taken.

    Raises:
        SaliencyError: no module with a spatial or token-grid output reaches the logits.
    """
    seen: list[tuple[str, Tensor]] = []
    calls: dict[str, int] = {}
    layout: dict[str, bool | None] = {}
    before_attention: list[str] = []  # token outputs that feed a MultiheadAttention call
    modules = {id(m): n for n, m in model.named_modules() if n}
    # inside an attention block, 4-D and token outputs are heads, windows or attention
    # matrices, not the image grid
    inner = tuple(f"{n}." for n, m in model.named_modules()
                  if n and "attention" in type(m).__name__.lower())

    def hook(module: nn.Module, _inp: object, out: object) -> None:
        if isinstance(module, nn.MultiheadAttention) and seen and seen[-1][1].dim() == 3:
            before_attention.append(seen[-1][0])
        name = modules[id(module)]
        calls[name] = calls.get(name, 0) + 1
        if isinstance(out, Tensor) and out.is_floating_point() and out.dim() >= 3 \
                and out.shape[0] == 1 and not isinstance(module, _GLOBAL_POOLS + _SEQUENCE_OPS) \
                and not name.startswith(inner or ("\0",)):
            layout[name] = module_layout(module)
            hw = grid_shape(out.shape, layout[name])
            if hw is not None and hw[0] * hw[1] > 1:
                seen.append((name, out))

    with frozen(model), registered_hooks() as handles:
        for m in model.modules():
            if id(m) in modules:
                handles.append(m.register_forward_hook(hook))
        x = example[:1].detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(x)
            if isinstance(logits, (tuple, list)):
                logits = logits[0]
    problem = not_logits(logits)
    if problem:
        raise SaliencyError(problem)
    if not seen:
        raise SaliencyError(NO_SPATIAL_LAYER)
    seen = [(n, t) for n, t in seen if calls[n] == 1 and t.requires_grad]
    if not isinstance(logits, Tensor) or not logits.requires_grad:
        raise SaliencyError(_NOT_DIFFERENTIABLE)
    grads = torch.autograd.grad(logits.float().sum(), [t for _, t in seen],
                                allow_unused=True) if seen else ()
    reach = [(n, t, g) for (n, t), g in zip(seen, grads, strict=True) if g is not None]
    if not reach:
        raise SaliencyError("target_layer='auto' found no layer with a spatial output "
                            "[N,C,H,W] or token grid [N,T,D] that reaches the logits (one "
                            "called once per forward); name one explicitly")
    layers = [(n, grid_shape(t.shape, layout[n])) for n, t, _ in reach]
    live = [(n, hw) for (n, t, g), (_, hw) in zip(reach, layers, strict=True)
            if tokens_to_grid(g, layout[n]).abs().sum() > 0]
    if not live and before_attention:  # untrained head (zero gradients): structural fallback
        live = [(n, hw) for n, hw in layers if n == before_attention[-1]]
    if not any(t.dim() == 3 for _, t, _ in reach):
        live = live or layers  # conv nets: zero gradients do not disqualify a layer
    if not live:
        live = layers
    fine = [n for n, hw in live if min(hw) >= MIN_MAP_SIDE]
    return LayerProbe(layers=layers, auto=fine[-1] if fine else live[-1][0])  # type: ignore[misc]


@dataclass
class ActivationCapture:
    """What the target-layer hook caught in the last forward.

    ``leaf`` is the raw layer output (a leaf requiring grad when gradients were asked for);
    ``grid`` is the same as ``[N, K, h, w]``.
    """

    leaf: Tensor | None = None
    calls: int = 0
    extra: dict = field(default_factory=dict)
    channels_last: bool | None = None  # module_layout of the layer

    @property
    def grid(self) -> Tensor:
        if self.leaf is None:
            raise SaliencyError("the target layer was not called during the forward pass")
        return tokens_to_grid(self.leaf, self.channels_last)


@contextlib.contextmanager
def capture_activation(layer: nn.Module, *, grad: bool) -> Iterator[ActivationCapture]:
    """Hook ``layer`` so its output is caught; with ``grad`` it becomes a leaf requiring grad.

    The hook returns a clone of the caught tensor to the rest of the network, so in-place ops
    after the layer (``ReLU(inplace=True)``) cannot touch the captured activation, and gradients
    reach it even when no parameter and not the input requires grad.
    """
    cap = ActivationCapture(channels_last=module_layout(layer))

    def hook(_module: nn.Module, _inp: object, out: object) -> Tensor | None:
        if not isinstance(out, Tensor):
            raise SaliencyError(f"target layer {type(_module).__name__} returns "
                                f"{type(out).__name__}, not a tensor")
        cap.calls += 1
        cap.leaf = out.detach().requires_grad_(grad)
        return cap.leaf.clone()

    with registered_hooks() as handles:
        handles.append(layer.register_forward_hook(hook))
        yield cap

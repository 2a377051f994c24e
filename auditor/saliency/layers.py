"""Target-layer resolution and the context managers that touch a model.

Everything that changes a model (eval mode, ``requires_grad`` flags, hooks) is a context manager
here that restores the model on exit, also when the body raises.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.models.state import frozen

__all__ = [
    "ActivationCapture",
    "capture_activation",
    "frozen",
    "module_name",
    "registered_hooks",
    "resolve_target_layer",
    "tokens_to_grid",
]

logger = logging.getLogger(__name__)

_GLOBAL_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


@contextlib.contextmanager
def registered_hooks() -> Iterator[list[torch.utils.hooks.RemovableHandle]]:
    """Yield a list to append hook handles to; every handle is removed on exit."""
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        yield handles
    finally:
        for h in handles:
            h.remove()


def tokens_to_grid(t: Tensor) -> Tensor:
    """Turn a layer output into a spatial grid ``[N, K, h, w]``.

    Args:
        t: ``[N, K, h, w]`` (returned as is) or transformer tokens ``[N, T, D]``; the class token
            is dropped when ``T - 1`` is a perfect square, the grid is ``sqrt(T)`` square.

    Raises:
        SaliencyError: a token count that is not a square grid (with or without one class token).
    """
    if t.dim() == 4:
        return t
    if t.dim() != 3:
        raise SaliencyError(f"target layer output has shape {tuple(t.shape)}; need [N,C,H,W] "
                            "or transformer tokens [N,T,D]")
    n, tokens, d = t.shape
    side = math.isqrt(tokens)
    if side * side != tokens:
        side = math.isqrt(tokens - 1)
        if side * side != tokens - 1:
            raise SaliencyError(f"cannot arrange {tokens} tokens as a square grid (with or without "
                                "one class token)")
        t = t[:, 1:]
    return t.reshape(n, side, side, d).permute(0, 3, 1, 2)


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
    name = _auto_layer(model, example)
    logger.info("target layer (auto): %s (%s)", name, type(model.get_submodule(name)).__name__)
    return name, model.get_submodule(name)


def _auto_layer(model: nn.Module, example: Tensor) -> str:
    """The last module with a spatial 4-D output before global pooling (dry forward, 1 image).

    Modules finish in post-order, so a block container (``layer4``) comes after its last child
    and wins. When token outputs ``[N, T, D]`` follow the last 4-D output (a vision transformer
    after its patch embedding), the last one whose grid tokens get a non-zero gradient is taken
    instead (typically the first norm of the last transformer block); with an untrained head
    (all gradients zero) the last token output feeding a ``MultiheadAttention`` is taken.
    """
    seen: list[tuple[str, Tensor]] = []
    before_attention: list[str] = []  # token outputs that feed a MultiheadAttention call
    modules = {id(m): n for n, m in model.named_modules() if n}

    def hook(module: nn.Module, _inp: object, out: object) -> None:
        if isinstance(module, nn.MultiheadAttention) and seen and seen[-1][1].dim() == 3:
            before_attention.append(seen[-1][0])
        if isinstance(out, Tensor) and not isinstance(module, _GLOBAL_POOLS):
            seen.append((modules[id(module)], out))

    with frozen(model), registered_hooks() as handles:
        for m in model.modules():
            if id(m) in modules:
                handles.append(m.register_forward_hook(hook))
        x = example[:1].detach().requires_grad_(True)
        with torch.enable_grad():
            logits = model(x)
    spatial = [i for i, (_, t) in enumerate(seen) if t.dim() == 4 and t.shape[-1] * t.shape[-2] > 1]
    start = spatial[-1] + 1 if spatial else 0
    tokens = [(n, t) for n, t in seen[start:] if t.dim() == 3 and t.shape[1] > 1]
    if tokens and logits.requires_grad:
        grads = torch.autograd.grad(logits.sum(), [t for _, t in tokens], allow_unused=True)
        for (n, t), g in zip(reversed(tokens), reversed(grads), strict=True):
            with contextlib.suppress(SaliencyError):
                if g is not None and tokens_to_grid(g).abs().sum() > 0:
                    tokens_to_grid(t)
                    return n
    if tokens and before_attention:  # untrained head (zero gradients): structural fallback
        return before_attention[-1]
    if spatial:
        return seen[spatial[-1]][0]
    raise SaliencyError("target_layer='auto' found no layer with a spatial output "
                        "[N,C,H,W] or token grid [N,T,D]; name one explicitly")


@dataclass
class ActivationCapture:
    """What the target-layer hook caught in the last forward.

    ``leaf`` is the raw layer output (a leaf requiring grad when gradients were asked for);
    ``grid`` is the same as ``[N, K, h, w]``.
    """

    leaf: Tensor | None = None
    calls: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def grid(self) -> Tensor:
        if self.leaf is None:
            raise SaliencyError("the target layer was not called during the forward pass")
        return tokens_to_grid(self.leaf)


@contextlib.contextmanager
def capture_activation(layer: nn.Module, *, grad: bool) -> Iterator[ActivationCapture]:
    """Hook ``layer`` so its output is caught; with ``grad`` it becomes a leaf requiring grad.

    The hook returns a clone of the caught tensor to the rest of the network, so in-place ops
    after the layer (``ReLU(inplace=True)``) cannot touch the captured activation, and gradients
    reach it even when no parameter and not the input requires grad.
    """
    cap = ActivationCapture()

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

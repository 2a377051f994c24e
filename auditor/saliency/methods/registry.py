"""The saliency-method registry.

A method is a function ``fn(ctx: CamContext) -> Tensor`` registered with
``@register_method(name, passes=..., description=...)``. Activation-space methods (the CAM family)
return only their weighting of the target activation ``A [N, K, h, w]``, like torch-cam's
``methods/core.py``; the engine does the rest (weighted sum, ReLU, bilinear upsampling):

* ``[N, K]`` channel weights ``w``: map = ReLU(sum_k w_k A_k);
* ``[N, K, h, w]`` element-wise weights ``W``: map = ReLU(sum_k W_k * A_k);
* ``[N, h, w]`` a finished low-resolution map (eigencam): map = ReLU(map).

Pixel-space methods (``space="pixel"``) return a non-negative ``[N, H, W]`` map at input
resolution from their own passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from auditor.common.registry import Registry
from auditor.errors import SaliencyError

__all__ = [
    "CamContext",
    "MethodInfo",
    "get_method",
    "list_methods",
    "methods_need_input_grad",
    "number_option",
    "register_method",
    "resolve_options",
]

Space = Literal["activation", "pixel"]


@dataclass
class CamContext:
    """Everything one engine call hands a method.

    Attributes:
        model: the classifier (eval mode, parameters frozen for the duration of the call).
        layer: the target layer module.
        images: ``[N, 3, H, W]`` on the model's device.
        targets: ``[N]`` long, the class each map explains.
        logits: ``[N, C]`` from the shared forward (detached, float32).
        activations: target activation ``A [N, K, h, w]`` (detached, float32).
        grads: ``dA = d sum_i logits[i, t_i] / dA`` ``[N, K, h, w]``, or ``None`` when no
            requested method needs it.
        options: this method's options (defaults merged with the caller's).
        chunk_size: most images per extra forward (score-cam, occlusion, noise samples).
        generator: seeded RNG for the noise-based methods (on the model's device).
        forward: ``images -> logits`` (float32) without gradients, autocast applied.
        activation_grad: ``(images, targets) -> (A, dA)`` one extra forward + backward to the
            target layer (used by smoothgradcam++).
        input_grad: ``(images, targets, guided) -> d score / d images`` ``[B, 3, H, W]``.
    """

    model: nn.Module
    layer: nn.Module
    images: Tensor
    targets: Tensor
    logits: Tensor
    activations: Tensor
    grads: Tensor | None
    options: dict[str, Any]
    chunk_size: int
    generator: torch.Generator
    forward: Callable[[Tensor], Tensor]
    activation_grad: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
    input_grad: Callable[[Tensor, Tensor, bool], Tensor]
    cache: dict[str, Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodInfo:
    """One registered method: ``name``, one-line ``description``, ``passes`` (cost per image)."""

    name: str
    description: str
    passes: str
    space: Space = "activation"
    needs_grad: bool = False
    needs_input_grad: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)
    fn: Callable[[CamContext], Tensor] | None = field(default=None, repr=False, compare=False)
    check: Callable[[Mapping[str, Any], int | None], None] | None = field(
        default=None, repr=False, compare=False)


_METHODS: Registry[MethodInfo] = Registry("saliency method", error=SaliencyError, sort=False)


def register_method(
    name: str,
    *,
    passes: str,
    description: str,
    space: Space = "activation",
    needs_grad: bool = False,
    needs_input_grad: bool = False,
    defaults: Mapping[str, Any] | None = None,
    check: Callable[[Mapping[str, Any], int | None], None] | None = None,
) -> Callable[[Callable[[CamContext], Tensor]], Callable[[CamContext], Tensor]]:
    """Register ``fn(ctx) -> Tensor`` as saliency method ``name``.

    Args:
        name: the method name users write in ``saliency.methods``.
        passes: cost in passes per image (e.g. ``"shared fwd+bwd"``).
        description: one line for ``audit methods``.
        space: ``"activation"`` (a weighting of the target activation) or ``"pixel"``.
        needs_grad: needs ``ctx.grads`` from the shared backward to the target activation.
        needs_input_grad: runs its own backward to the input image.
        defaults: the method's options and their defaults (other keys are rejected).
        check: ``check(options, image_size)`` raises :class:`SaliencyError` for a value out of
            range (``image_size`` None when unknown), before any model runs.
    """
    return _METHODS.decorator(name, lambda fn: MethodInfo(
        name, description, passes, space, needs_grad, needs_input_grad, dict(defaults or {}), fn,
        check))


def number_option(options: Mapping[str, Any], key: str, *, low: float, high: float | None = None,
                  integer: bool = False, optional: bool = False, bound: str = "") -> None:
    """Refuse option ``key`` unless it is a number in ``[low, high]`` (an integer when
    ``integer``; None allowed when ``optional``). ``bound`` names where ``high`` comes from.

    Raises:
        SaliencyError: one line naming the option, the range and the value given.
    """
    value = options.get(key)
    if value is None and optional:
        return
    kind = "an integer" if integer else "a number"
    span = f"from {low:g} to {high:g}{f' ({bound})' if bound else ''}" if high is not None \
        else f"of at least {low:g}"
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and (not integer or float(value).is_integer()) and value == value
          and low <= value and (high is None or value <= high))
    if not ok:
        raise SaliencyError(f"option {key!r} must be {kind} {span}"
                            f"{' or null (the default)' if optional else ''}, got {value!r}")


def list_methods() -> list[MethodInfo]:
    """Every registered method, in registration order (CAM family first, then pixel space)."""
    return _METHODS.values()


def get_method(name: str) -> MethodInfo:
    """The registered method ``name``.

    Raises:
        SaliencyError: unknown name; the message suggests the closest and lists the valid ones.
    """
    return _METHODS.get(name)


def methods_need_input_grad(methods: list[str]) -> bool:
    """Whether any of ``methods`` back-propagates to the input image (pixel-space gradients)."""
    return any(get_method(m).needs_input_grad for m in methods)


def resolve_options(name: str, given: Mapping[str, Any] | None, *,
                    image_size: int | None = None) -> dict[str, Any]:
    """The method's defaults updated with ``given``, checked by the method's ``check``.

    Raises:
        SaliencyError: an option the method does not take, or a value out of its range
            (``image_size``: the side of the images, for options bounded by it).
    """
    info = get_method(name)
    opts = dict(info.defaults)
    for key, value in (given or {}).items():
        if key not in opts:
            valid = ", ".join(opts) or "none"
            raise SaliencyError(f"saliency method {name!r} has no option {key!r}; "
                                f"valid: {valid}")
        opts[key] = value
    if info.check is not None:
        info.check(opts, image_size)
    return opts

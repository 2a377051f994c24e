"""Gradient-weighted CAM methods: all served by ONE shared backward to the target activation.

Notation: ``A [N, K, h, w]`` target activation, ``g = dY^c / dA`` (``Y^c`` the pre-softmax score
of the explained class), sums over ``i, j`` run over the ``h x w`` positions.
"""

from __future__ import annotations

import torch
from torch import Tensor

from auditor.saliency.methods.registry import CamContext, register_method

SHARED = "shared fwd+bwd (1 for all gradient methods)"


def _grads(ctx: CamContext) -> Tensor:
    assert ctx.grads is not None, "engine must compute grads for gradient methods"
    return ctx.grads


def gradcam_weights(grads: Tensor) -> Tensor:
    """Grad-CAM channel weights ``w_k = 1/(hw) sum_ij g_kij`` ``[N, K]``."""
    return grads.mean(dim=(2, 3))


def gradcampp_weights(acts: Tensor, grads: Tensor, eps: float = 1e-6) -> Tensor:
    """Grad-CAM++ channel weights from the exp-free closed form ``[N, K]``.

    ``alpha_kij = g^2 / (2 g^2 + sum_ab A_kab * g^3)`` (Chattopadhay et al. 2018, eq. 19, the
    second/third derivatives of ``exp(Y^c)`` reduced to powers of ``g``), zero where ``g = 0``;
    ``w_k = sum_ij alpha_kij * ReLU(g_kij)``. Same form as pytorch-grad-cam.
    """
    g2 = grads.pow(2)
    g3 = g2 * grads
    sum_a = acts.sum(dim=(2, 3), keepdim=True)
    alpha = g2 / (2 * g2 + sum_a * g3 + eps)
    alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
    return (alpha * grads.clamp(min=0)).sum(dim=(2, 3))


@register_method("gradcam", passes=SHARED, needs_grad=True,
                 description="Grad-CAM: channels weighted by spatially averaged gradients")
def gradcam(ctx: CamContext) -> Tensor:
    """Grad-CAM (Selvaraju et al., ICCV 2017): ``ReLU(sum_k mean_ij(g_kij) A_k)``."""
    return gradcam_weights(_grads(ctx))


@register_method("gradcam++", passes=SHARED, needs_grad=True,
                 description="Grad-CAM++: positive gradients weighted by closed-form alphas")
def gradcampp(ctx: CamContext) -> Tensor:
    """Grad-CAM++ (Chattopadhay et al., WACV 2018), see :func:`gradcampp_weights`."""
    return gradcampp_weights(ctx.activations, _grads(ctx))


@register_method("xgradcam", passes=SHARED, needs_grad=True,
                 description="XGrad-CAM: gradients weighted by normalised activations")
def xgradcam(ctx: CamContext) -> Tensor:
    """XGrad-CAM (Fu et al., BMVC 2020): ``w_k = sum_ij g_kij A_kij / (sum_ij A_kij + eps)``."""
    a, g = ctx.activations, _grads(ctx)
    return (g * a).sum(dim=(2, 3)) / (a.sum(dim=(2, 3)) + 1e-7)


@register_method("layercam", passes=SHARED, needs_grad=True,
                 description="LayerCAM: element-wise positive gradients times activations")
def layercam(ctx: CamContext) -> Tensor:
    """LayerCAM (Jiang et al., TIP 2021): ``ReLU(sum_k ReLU(g_kij) A_kij)``."""
    return _grads(ctx).clamp(min=0)


@register_method("hirescam", passes=SHARED, needs_grad=True,
                 description="HiResCAM: element-wise gradients times activations")
def hirescam(ctx: CamContext) -> Tensor:
    """HiResCAM (Draelos & Carin 2020): ``ReLU(sum_k g_kij A_kij)`` (no spatial averaging)."""
    return _grads(ctx)


@register_method("gradcam-elementwise", passes=SHARED, needs_grad=True,
                 description="Grad-CAM element-wise: ReLU of each gradient x activation product")
def gradcam_elementwise(ctx: CamContext) -> Tensor:
    """Element-wise Grad-CAM (pytorch-grad-cam): ``sum_k ReLU(g_kij A_kij)``."""
    a, g = ctx.activations, _grads(ctx)
    prod = g * a
    # element-wise weights W with W * A = ReLU(g * A); zero where A = 0 (product is 0 there)
    return torch.where(prod > 0, g, torch.zeros_like(g))


@register_method("gradcam-neg", passes=SHARED, needs_grad=True,
                 description="counterfactual Grad-CAM: regions that argue against the class")
def gradcam_neg(ctx: CamContext) -> Tensor:
    """Counterfactual explanation (Selvaraju et al. 2017, sec. 3.2): Grad-CAM with negated
    gradients, ``ReLU(sum_k mean_ij(-g_kij) A_k)``."""
    return gradcam_weights(-_grads(ctx))

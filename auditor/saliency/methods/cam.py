"""CAM: class activation mapping with the weights of a GAP + linear head."""

from __future__ import annotations

import torch
from torch import Tensor

from auditor.errors import ModelError, SaliencyError
from auditor.models.heads import classifier_head
from auditor.saliency.methods.registry import CamContext, register_method


@register_method("cam", passes="shared fwd (no gradient)",
                 description="CAM: channels weighted by the linear head (GAP + linear heads only)")
def cam(ctx: CamContext) -> Tensor:
    """CAM (Zhou et al., CVPR 2016): ``sum_k W[c, k] A_k`` with ``W`` the final linear layer.

    Valid only when the logits are ``linear(global_average_pool(A))``; checked numerically on
    the batch (a mismatch raises :class:`SaliencyError`).
    """
    model = type(ctx.model).__name__
    try:
        _, fc = classifier_head(ctx.model)
    except ModelError:
        raise SaliencyError(f"saliency.methods: 'cam' needs a linear classification head; the "
                            f"model ({model}) has none: use gradcam or another method") from None
    acts = ctx.activations
    if fc.in_features != acts.shape[1]:
        raise SaliencyError(f"saliency.methods: 'cam' needs a GAP + linear head: the last linear "
                            f"layer of the model ({model}) takes {fc.in_features} features, the "
                            f"target layer has {acts.shape[1]}")
    weight = fc.weight.detach().float()
    bias = fc.bias.detach().float() if fc.bias is not None else 0.0
    pooled = acts.mean(dim=(2, 3)) @ weight.T + bias
    scale = ctx.logits.abs().max().clamp(min=1.0)
    if pooled.shape != ctx.logits.shape or not torch.allclose(
            pooled, ctx.logits, atol=1e-2 * float(scale), rtol=1e-2):
        raise SaliencyError(f"saliency.methods: 'cam' needs a global-average-pooling + linear "
                            f"head after the target layer; the logits of the model ({model}) "
                            "are not linear(GAP(A))")
    return weight[ctx.targets]

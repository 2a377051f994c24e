"""CAM: class activation mapping with the weights of a GAP + linear head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from auditor.errors import SaliencyError
from auditor.saliency.methods.registry import CamContext, register_method


def last_linear(model: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of ``model`` (module registration order).

    Raises:
        SaliencyError: the model has no linear layer.
    """
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise SaliencyError("method 'cam' needs a linear classification head; the model has none")
    return linears[-1]


@register_method("cam", passes="shared fwd (no gradient)",
                 description="CAM: channels weighted by the linear head (GAP + linear heads only)")
def cam(ctx: CamContext) -> Tensor:
    """CAM (Zhou et al., CVPR 2016): ``sum_k W[c, k] A_k`` with ``W`` the final linear layer.

    Valid only when the logits are ``linear(global_average_pool(A))``; checked numerically on
    the batch (a mismatch raises :class:`SaliencyError`).
    """
    fc = last_linear(ctx.model)
    acts = ctx.activations
    if fc.in_features != acts.shape[1]:
        raise SaliencyError(f"method 'cam' needs a GAP + linear head: the last linear layer takes "
                            f"{fc.in_features} features, the target layer has {acts.shape[1]}")
    weight = fc.weight.detach().float()
    bias = fc.bias.detach().float() if fc.bias is not None else 0.0
    pooled = acts.mean(dim=(2, 3)) @ weight.T + bias
    scale = ctx.logits.abs().max().clamp(min=1.0)
    if not torch.allclose(pooled, ctx.logits, atol=1e-2 * float(scale), rtol=1e-2):
        raise SaliencyError("method 'cam' needs a global-average-pooling + linear head after the "
                            "target layer; this model's logits are not linear(GAP(A))")
    return weight[ctx.targets]

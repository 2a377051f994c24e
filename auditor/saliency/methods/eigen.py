"""Eigen-CAM: the first principal component of the target activation (class-agnostic)."""

from __future__ import annotations

import torch
from torch import Tensor

from auditor.saliency.methods.registry import CamContext, register_method


def first_component(acts: Tensor) -> Tensor:
    """Projection of each position on the first principal component ``[N, h, w]``.

    ``X = A`` reshaped to ``[hw, K]`` and centred over positions (as pytorch-grad-cam does),
    ``X = U S V^T``, map ``= X v_1``. SVD leaves the sign open; it is fixed so that the map
    correlates positively with the channel-summed activation (salient = strongly active).
    """
    n, k, h, w = acts.shape
    x = acts.reshape(n, k, h * w).transpose(1, 2)
    x = x - x.mean(dim=1, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    proj = x @ vh[:, 0, :, None]  # [N, hw, 1]
    total = x.sum(dim=2, keepdim=True)  # centred channel sum
    sign = (proj * total).sum(dim=(1, 2), keepdim=True).sign()
    sign[sign == 0] = 1.0
    return (proj * sign).reshape(n, h, w)


@register_method("eigencam", passes="shared fwd (no gradient)",
                 description="Eigen-CAM: first principal component of the activation (no class)")
def eigencam(ctx: CamContext) -> Tensor:
    """Eigen-CAM (Muhammad & Yeasin, IJCNN 2020): ``ReLU(X v_1)``, see :func:`first_component`."""
    return first_component(ctx.activations)

"""Score-CAM: channel weights from the class score of activation-masked inputs (no gradient)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from auditor.saliency.methods.registry import CamContext, register_method


def upsampled_unit_masks(acts: Tensor, size: tuple[int, int]) -> Tensor:
    """Channel maps ``[B, h, w]`` -> bilinear to ``size``, min-max scaled ``[B, 1, H, W]``."""
    up = F.interpolate(acts[:, None], size=size, mode="bilinear", align_corners=False)
    flat = up.flatten(1)
    lo = flat.min(dim=1).values[:, None, None, None]
    hi = flat.max(dim=1).values[:, None, None, None]
    return (up - lo) / (hi - lo + 1e-8)


@register_method("scorecam", passes="shared fwd + K masked fwd (K = channels), batched",
                 description="Score-CAM: channels weighted by the score of the masked image")
def scorecam(ctx: CamContext) -> Tensor:
    """Score-CAM (Wang et al., CVPRW 2020, Algorithm 1): ``M_k = s(Up(A_k))`` (min-max scaled),
    ``S_k = Y^c(X * M_k)``, ``w = softmax_k(S)``, map ``= ReLU(sum_k w_k A_k)``.

    As in pytorch-grad-cam and the paper's algorithm, ``Y^c`` is the pre-softmax score and no
    baseline score is subtracted (a constant shift leaves the softmax unchanged). All ``N * K``
    masked images run in batches of ``chunk_size`` without gradients.
    """
    acts, images, targets = ctx.activations, ctx.images, ctx.targets
    n, k = acts.shape[:2]
    size = (images.shape[-2], images.shape[-1])
    scores = torch.empty(n * k, device=acts.device, dtype=torch.float32)
    for start in range(0, n * k, ctx.chunk_size):
        idx = torch.arange(start, min(start + ctx.chunk_size, n * k), device=acts.device)
        img, ch = idx // k, idx % k
        masks = upsampled_unit_masks(acts[img, ch], size)
        logits = ctx.forward(images[img] * masks.to(images.dtype))
        scores[idx] = logits.gather(1, targets[img, None])[:, 0]
    return torch.softmax(scores.view(n, k), dim=1)

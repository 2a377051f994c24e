"""Group-weighted cross-entropy: every (label x attribute) group counts the same in the loss.

An alternative to balanced sampling: each sample's cross-entropy is multiplied by its group's
weight (usually the inverse of the group's frequency in the training set, see
:func:`inverse_frequency_weights`) and the loss is the weighted mean, so a rare group (e.g.
male nurses) pulls on the gradient as hard as a common one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["group_weighted_loss", "inverse_frequency_weights"]


def inverse_frequency_weights(group_ids: Tensor, num_groups: int | None = None) -> Tensor:
    """Per-group weights ``1 / frequency``, normalised so the mean sample weight is 1.

    Args:
        group_ids: LongTensor [N] group index of every training sample.
        num_groups: number of groups G (default ``group_ids.max() + 1``).

    Returns:
        FloatTensor [G] on ``group_ids``' device; groups with no sample get weight 0.
    """
    counts = torch.bincount(group_ids.long(), minlength=num_groups or 0).float()
    weights = torch.zeros_like(counts)
    present = counts > 0
    weights[present] = group_ids.numel() / (present.sum() * counts[present])
    return weights


def group_weighted_loss(
    logits: Tensor, labels: Tensor, group_ids: Tensor, group_weights: Tensor
) -> Tensor:
    """Cross-entropy weighted by group: ``sum_i w[g_i] * CE_i / sum_i w[g_i]``.

    With ``group_weights`` = inverse group frequency this is the mean over groups of each
    group's mean cross-entropy (on the full training distribution).

    Args:
        logits: FloatTensor [N, C].
        labels: LongTensor [N] class indices.
        group_ids: LongTensor [N] group index of each sample.
        group_weights: FloatTensor [G] weight of each group (non-negative).

    Returns:
        Scalar tensor (differentiable w.r.t. ``logits``). Zero if every weight in the batch
        is zero.

    Raises:
        ValueError: shapes do not match or a group id is out of range.
    """
    if logits.ndim != 2 or labels.shape != (logits.shape[0],) or group_ids.shape != labels.shape:
        raise ValueError(
            f"expected logits [N, C], labels [N], group_ids [N]; got {tuple(logits.shape)}, "
            f"{tuple(labels.shape)}, {tuple(group_ids.shape)}"
        )
    if group_ids.numel() and int(group_ids.max()) >= group_weights.numel():
        raise ValueError(
            f"group id {int(group_ids.max())} out of range for {group_weights.numel()} weights"
        )
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    w = group_weights.to(device=logits.device, dtype=per_sample.dtype)[group_ids]
    total = w.sum()
    return (w * per_sample).sum() / torch.clamp(total, min=torch.finfo(total.dtype).tiny)

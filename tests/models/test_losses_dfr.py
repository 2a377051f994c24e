"""Group-weighted loss and Deep Feature Reweighting on planted embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from torch import nn

from auditor.errors import ModelError
from auditor.models.dfr import balanced_subset, dfr_retrain_last_layer
from auditor.models.heads import classifier_head
from auditor.models.losses import group_weighted_loss, inverse_frequency_weights


def test_group_weighted_loss_matches_manual():
    torch.manual_seed(0)
    logits = torch.randn(10, 3, requires_grad=True)
    labels = torch.randint(0, 3, (10,))
    groups = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1, 1, 2])
    weights = torch.tensor([0.5, 2.0, 3.0])
    loss = group_weighted_loss(logits, labels, groups, weights)
    ce = F.cross_entropy(logits, labels, reduction="none")
    w = weights[groups]
    assert loss.item() == pytest.approx(((w * ce).sum() / w.sum()).item())
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_inverse_frequency_equalises_groups():
    torch.manual_seed(1)
    logits = torch.randn(12, 2)
    labels = torch.randint(0, 2, (12,))
    groups = torch.tensor([0] * 8 + [1] * 3 + [3])  # group 2 is empty
    weights = inverse_frequency_weights(groups)
    assert weights.tolist() == pytest.approx([12 / (3 * 8), 12 / (3 * 3), 0.0, 12 / 3])
    assert weights[groups].mean().item() == pytest.approx(1.0)
    ce = F.cross_entropy(logits, labels, reduction="none")
    per_group = [ce[groups == g].mean() for g in (0, 1, 3)]
    loss = group_weighted_loss(logits, labels, groups, weights)
    assert loss.item() == pytest.approx(torch.stack(per_group).mean().item(), rel=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        group_weighted_loss(logits, labels, groups, weights[:2])


def _spurious(n: int, p_aligned: float, rng: np.random.Generator):
    """Embeddings [n, 3]: core = label signal (noisy), spurious = attribute (clean), noise.

    The attribute equals the label with probability ``p_aligned``. Groups: 2 * label + attr.
    """
    y = rng.integers(0, 2, n)
    a = np.where(rng.random(n) < p_aligned, y, 1 - y)
    core = (2 * y - 1) + rng.normal(0, 1.0, n)
    spur = (2 * a - 1) + rng.normal(0, 0.2, n)
    x = np.stack([core, spur, rng.normal(0, 1.0, n)], axis=1)
    return (torch.tensor(x, dtype=torch.float32), torch.tensor(y), torch.tensor(2 * y + a))


def _worst_group_acc(head: nn.Linear, x, y, g) -> float:
    with torch.no_grad():
        pred = head(x).argmax(1)
    return min((pred[g == k] == y[g == k]).float().mean().item() for k in g.unique())


def test_dfr_improves_worst_group():
    rng = np.random.default_rng(0)
    x_tr, y_tr, _ = _spurious(2000, 0.95, rng)
    x_val, y_val, g_val = _spurious(1200, 0.85, rng)  # biased too; DFR balances it
    x_te, y_te, g_te = _spurious(2000, 0.5, rng)
    biased = LogisticRegression().fit(x_tr.numpy(), y_tr.numpy())
    erm = nn.Linear(3, 2)
    with torch.no_grad():
        erm.weight.copy_(torch.tensor(np.vstack([np.zeros(3), biased.coef_[0]])))
        erm.bias.copy_(torch.tensor([0.0, biased.intercept_[0]]))
    model = nn.Sequential(nn.Identity(), erm)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    head = dfr_retrain_last_layer(model, None, x_val, y_val, g_val, seed=0, n_subsets=5)
    assert isinstance(head, nn.Linear) and (head.in_features, head.out_features) == (3, 2)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    erm_wga = _worst_group_acc(erm, x_te, y_te, g_te)
    dfr_wga = _worst_group_acc(head, x_te, y_te, g_te)
    assert erm_wga < 0.4  # the biased head follows the spurious feature
    assert dfr_wga > 0.75 and dfr_wga > erm_wga + 0.35
    # DFR relies on the core feature, not the spurious one
    w = (head.weight[1] - head.weight[0]).abs()
    assert w[0] > 3 * w[1]
    again = dfr_retrain_last_layer(model, None, x_val, y_val, g_val, seed=0, n_subsets=5)
    assert torch.equal(again.weight, head.weight)


def test_dfr_multiclass_l2_and_features_fn():
    rng = np.random.default_rng(1)
    n = 600
    y = rng.integers(0, 3, n)
    centers = np.eye(3) * 3
    x = torch.tensor(np.hstack([centers[y] + rng.normal(0, 1, (n, 3)), rng.normal(0, 1, (n, 2))]),
                     dtype=torch.float32)
    head = dfr_retrain_last_layer(None, lambda e: e[:, :3], x, torch.tensor(y),
                                  torch.tensor(y), seed=0, n_subsets=2, penalty="l2")
    assert head.weight.shape == (3, 3)
    acc = (head(x[:, :3]).argmax(1).numpy() == y).mean()
    assert acc > 0.85


def test_dfr_errors_and_helpers():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    name, head = classifier_head(model)
    assert name == "2" and head.out_features == 2
    with pytest.raises(ModelError, match="have 3 features but the head expects 8"):
        dfr_retrain_last_layer(model, None, torch.zeros(4, 3), torch.tensor([0, 1, 0, 1]),
                               torch.tensor([0, 1, 0, 1]), seed=0)
    with pytest.raises(ModelError, match="no sample of class 1"):
        dfr_retrain_last_layer(model, None, torch.zeros(4, 8), torch.zeros(4, dtype=torch.long),
                               torch.zeros(4, dtype=torch.long), seed=0)
    with pytest.raises(ModelError, match="no nn.Linear"):
        classifier_head(nn.Sequential(nn.ReLU()))
    idx = balanced_subset(np.array([0] * 7 + [1] * 3 + [2] * 5), np.random.default_rng(0))
    assert np.bincount(np.array([0] * 7 + [1] * 3 + [2] * 5)[idx]).tolist() == [3, 3, 3]

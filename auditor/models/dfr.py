"""Deep Feature Reweighting (Kirichenko, Izmailov & Wilson, ICLR 2023; arXiv 2022).

A network trained on biased data still learns the core features in its penultimate layer;
what goes wrong is mostly the last linear layer, which leans on the spurious ones. DFR keeps
the feature extractor and retrains only the last layer on a *group-balanced* held-out set:

1. standardise the held-out embeddings (mean/std over the whole held-out set);
2. draw a balanced subset: every group subsampled, without replacement, to the size of the
   smallest group;
3. fit an L1 (default) or L2 regularised logistic regression on it (scikit-learn);
4. repeat 2-3 ``n_subsets`` times with fresh draws and average the coefficients;
5. fold the standardisation into the weights and return an ``nn.Linear``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn

from auditor.errors import ModelError
from auditor.models.heads import classifier_head

__all__ = ["balanced_subset", "dfr_retrain_last_layer"]


def balanced_subset(group_ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a group-balanced subset: each group subsampled to the smallest group's size.

    Args:
        group_ids: int [N] group of each sample.
        rng: random generator.

    Returns:
        int [G * min_count] sorted indices into ``group_ids``.
    """
    groups, counts = np.unique(group_ids, return_counts=True)
    size = int(counts.min())
    picked = [rng.choice(np.flatnonzero(group_ids == g), size=size, replace=False) for g in groups]
    return np.sort(np.concatenate(picked))


def dfr_retrain_last_layer(
    model: nn.Module | None,
    features_fn: Callable[[Tensor], Tensor] | None,
    embeddings: Tensor,
    labels: Tensor,
    group_ids: Tensor,
    *,
    seed: int = 0,
    n_subsets: int = 10,
    C: float = 1.0,
    penalty: Literal["l1", "l2"] = "l1",
    max_iter: int = 1000,
) -> nn.Linear:
    """Retrain the last linear layer on group-balanced held-out embeddings (DFR).

    Args:
        model: the classifier whose head is being replaced (its last ``nn.Linear`` sets the
            number of classes, device and dtype of the result), or ``None`` (classes =
            ``labels.max() + 1``, CPU float32).
        features_fn: optional map applied to ``embeddings`` first, for when the stored
            embeddings are not yet the head's input; ``None`` = identity.
        embeddings: FloatTensor [N, D] held-out (validation) embeddings, the head's input.
        labels: LongTensor [N] class indices.
        group_ids: LongTensor [N] group (e.g. label x attribute cell) of each sample.
        seed: seed of the balanced draws and of the solver.
        n_subsets: balanced subsets drawn; their fitted coefficients are averaged.
        C: inverse regularisation strength of the logistic regression.
        penalty: ``"l1"`` (the paper's choice) or ``"l2"``.
        max_iter: solver iterations.

    Returns:
        A new ``nn.Linear(D, num_classes)`` (the model is not modified).

    Raises:
        ModelError: shapes do not match the head, or a class is missing from the held-out set.
        ValueError: ``penalty`` or ``n_subsets`` is invalid.
    """
    if penalty not in ("l1", "l2"):
        raise ValueError(f"penalty must be 'l1' or 'l2', got {penalty!r}")
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    with torch.no_grad():
        feats = features_fn(embeddings) if features_fn is not None else embeddings
    x = feats.detach().to("cpu", torch.float64).numpy()
    y = labels.detach().to("cpu").long().numpy()
    g = group_ids.detach().to("cpu").long().numpy()
    if x.ndim != 2 or y.shape != (x.shape[0],) or g.shape != y.shape:
        raise ModelError(
            f"DFR expects embeddings [N, D], labels [N], group_ids [N]; got {x.shape}, "
            f"{y.shape}, {g.shape}"
        )
    if model is not None:
        _, head = classifier_head(model)
        num_classes, device, dtype = head.out_features, head.weight.device, head.weight.dtype
        if head.in_features != x.shape[1]:
            raise ModelError(
                f"DFR embeddings have {x.shape[1]} features but the head expects "
                f"{head.in_features}; pass a features_fn that maps them to the head's input"
            )
    else:
        num_classes, device, dtype = int(y.max()) + 1, torch.device("cpu"), torch.float32
    absent = sorted(set(range(num_classes)) - set(y.tolist()))
    if absent:
        raise ModelError(f"DFR held-out set has no sample of class {absent[0]}")

    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    rng = np.random.default_rng(seed)
    coef = np.zeros((num_classes, x.shape[1]))
    intercept = np.zeros(num_classes)
    for k in range(n_subsets):
        idx = balanced_subset(g, rng)
        w, b = _fit_logreg(z[idx], y[idx], num_classes, C=C, penalty=penalty,
                           seed=seed + k, max_iter=max_iter)
        coef += w / n_subsets
        intercept += b / n_subsets

    new = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():
        new.weight.copy_(torch.from_numpy(coef / std))
        new.bias.copy_(torch.from_numpy(intercept - (coef * (mean / std)).sum(axis=1)))
    return new.to(device=device, dtype=dtype)


def _fit_logreg(
    z: np.ndarray, y: np.ndarray, num_classes: int, *, C: float, penalty: str, seed: int,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit one logistic regression; returns (coef [K, D], intercept [K]) over all K classes.

    Every class is in every balanced subset (each group appears, and groups cover all samples).
    """
    present = np.unique(y)
    if present.size < 2:
        raise ModelError("DFR balanced subset holds a single class; need two or more")
    binary = present.size == 2
    solver = "liblinear" if binary else ("saga" if penalty == "l1" else "lbfgs")
    clf = LogisticRegression(
        C=C, l1_ratio=1.0 if penalty == "l1" else 0.0, solver=solver,
        random_state=seed, max_iter=max_iter,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(z, y)
    coef = np.zeros((num_classes, z.shape[1]))
    intercept = np.zeros(num_classes)
    if binary:
        # sigmoid(w.x + b) = softmax([0, w.x + b])[1]: same probabilities, same argmax.
        hi = clf.classes_[1]
        coef[hi], intercept[hi] = clf.coef_[0], clf.intercept_[0]
    else:
        for row, cls in enumerate(clf.classes_):
            coef[cls], intercept[cls] = clf.coef_[row], clf.intercept_[row]
    return coef, intercept

"""Seeded training loop with class- or group-balanced or weighted sampling.

``balance: group`` draws samples with probability proportional to the inverse frequency of
their (label, ``balance_by`` attributes) cell, so every cell is seen equally often in
expectation — the rebalancing the Grad-CAM paper did by hand (section 6.3) by collecting
more male nurses and female doctors.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, WeightedRandomSampler

from auditor.config import TrainConfig
from auditor.data.torch_dataset import MEMORY_BUDGET_BYTES
from auditor.errors import ModelError
from auditor.models.losses import group_weighted_loss
from auditor.models.losses import inverse_frequency_weights as inverse_group_weights
from auditor.models.state import backbone_frozen, model_state

__all__ = ["TrainHistory", "inverse_frequency_weights", "materialize", "train_model"]


Progress = Callable[[int, int], None]

MIN_ONE_CYCLE_STEPS = 10  # fewer optimiser steps train at a constant learning rate


@dataclass
class TrainHistory:
    """Per-epoch mean training loss and accuracy."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"loss": self.loss, "accuracy": self.accuracy, "seconds": round(self.seconds, 2)}


def inverse_frequency_weights(keys: np.ndarray) -> np.ndarray:
    """Per-sample weight 1 / count(key), normalised to mean 1.

    Args:
        keys: [N] hashable cell ids (label, or label + attribute values joined).

    Returns:
        [N] float64 weights; every cell's weights sum to the same total.
    """
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return w * (len(w) / w.sum())


def _collate_images(batch: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.stack([b["image"] for b in batch])
    labels = torch.as_tensor([b["label"] for b in batch], dtype=torch.long)
    return images, labels


class _WithIndex(Dataset):
    """Items as ``(image, label, position)``, for per-sample loss weights."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, k: int) -> tuple[torch.Tensor, int, int]:
        item = self.ds[k]
        if isinstance(item, dict):
            return item["image"], int(item["label"]), k
        return item[0], int(item[1]), k


def materialize(dataset: Dataset, *, batch_size: int = 256, num_workers: int = 0,
                progress: Progress | None = None) -> TensorDataset | None:
    """Decode a small dataset once into memory (images [N,3,H,W], labels [N]).

    Returns None when the dataset is larger than ``MEMORY_BUDGET_BYTES``.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        return None
    first = dataset[0]["image"]
    if n * first.numel() * 4 > MEMORY_BUDGET_BYTES:
        return None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=_collate_images)
    xs, ys = [], []
    for images, labels in loader:
        xs.append(images)
        ys.append(labels)
        if progress:
            progress(sum(len(x) for x in xs), n)
    return TensorDataset(torch.cat(xs), torch.cat(ys))


def train_model(
    model: nn.Module,
    dataset: Dataset,
    cell_keys: np.ndarray,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    num_workers: int = 0,
    head: str = "",
    progress: Progress | None = None,
    sample_weights: np.ndarray | None = None,
    name: str = "model",
) -> TrainHistory:
    """Train ``model`` in place on ``dataset``.

    Args:
        model: the network (moved to ``device``).
        dataset: items are dicts with ``image`` [3,H,W] and ``label`` (see DataBundle.dataset),
            or an in-memory ``TensorDataset`` from :func:`materialize`.
        cell_keys: [N] per-sample cell: the label for ``balance: class``, the label and
            ``balance_by`` attributes for ``balance: group`` or ``loss: group_weighted`` (the
            loss then weights each cell by its inverse frequency); unused otherwise.
        cfg: the model's ``train`` section.
        sample_weights: [N] sampling weights of the train samples (the manifest's ``weight``
            column or repeated rows, see :mod:`auditor.data.train_rows`): each sample is drawn
            with probability proportional to its weight (times its ``balance`` weight), with
            replacement, ``N`` draws per epoch. ``None`` or all ones: plain shuffling.
        seed: seeds initial shuffling and sampling.
        device: where to train.
        num_workers: DataLoader workers when streaming from disk.
        head: dotted name of the classification layer, for ``freeze: backbone`` (trained alone
            for ``unfreeze_after`` epochs, or throughout) and ``head_lr``.
        progress: called with (steps done, total steps).
        name: the model's name, for error messages.

    Returns:
        The per-epoch history.

    Raises:
        ModelError: empty train split, or a loss that became NaN or infinite (names the
            epoch); no diverged model is ever audited.
    """
    import time

    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ModelError("the train split is empty: nothing to train on")
    if cfg.epochs == 0:
        return TrainHistory()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    weights = None if cfg.balance == "none" else inverse_frequency_weights(np.asarray(cell_keys))
    if sample_weights is not None and not np.all(np.asarray(sample_weights) == 1.0):
        weights = np.asarray(sample_weights, dtype=float) * (1.0 if weights is None else weights)
        if not weights.sum() > 0:
            raise ModelError("every train sample has weight 0: nothing to train on")
    sampler = None if weights is None else WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double), n, replacement=True, generator=gen)
    cached = isinstance(dataset, TensorDataset)
    loader = DataLoader(
        _WithIndex(dataset), batch_size=cfg.batch_size, shuffle=sampler is None,
        sampler=sampler, generator=gen, num_workers=0 if cached else num_workers,
        drop_last=n > cfg.batch_size, pin_memory=device.type == "cuda",
    )
    group_ids = group_weights = None
    if cfg.loss == "group_weighted":
        _, inverse = np.unique(np.asarray(cell_keys), return_inverse=True)
        group_ids = torch.as_tensor(inverse, dtype=torch.long)
        group_weights = inverse_group_weights(group_ids).to(device)
    model.to(device)
    groups = _param_groups(model, head, cfg)
    with model_state(model, training=True):
        opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_total = cfg.epochs * len(loader)
        # one-cycle needs a warm-up of >= 2 steps (at 5 steps its warm-up is 1 step and it
        # divides by zero); shorter runs keep the learning rate constant (per group)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in groups], total_steps=steps_total, pct_start=0.2
        ) if steps_total >= MIN_ONE_CYCLE_STEPS else None
        loss_fn = nn.CrossEntropyLoss()
        hist = TrainHistory()
        t0 = time.perf_counter()
        step = 0
        for epoch in range(cfg.epochs):
            stack = contextlib.ExitStack()
            if cfg.freeze == "backbone" and (cfg.unfreeze_after is None
                                             or epoch < cfg.unfreeze_after):
                stack.enter_context(backbone_frozen(model, head))
            with stack:
                step, tot_loss, tot_correct, tot_n = _epoch(
                    model, loader, opt, sched, loss_fn, group_ids, group_weights, device,
                    step, steps_total, progress,
                    diverged=functools.partial(_diverged, name, epoch + 1, cfg))
            hist.loss.append(tot_loss / max(tot_n, 1))
            hist.accuracy.append(tot_correct / max(tot_n, 1))
    model.eval()
    hist.seconds = time.perf_counter() - t0
    return hist


def _param_groups(model: nn.Module, head: str, cfg: TrainConfig) -> list[dict]:
    """Optimizer groups: the backbone at ``lr``, the head at ``head_lr`` (default ``lr``)."""
    if (cfg.freeze == "backbone" or cfg.head_lr is not None) and not head:
        raise ModelError("train.freeze / train.head_lr: cannot tell this model's "
                         "classification layer (no final nn.Linear with one output per class)")
    if not head:
        return [{"params": list(model.parameters()), "lr": cfg.lr}]
    head_ids = {id(p) for p in model.get_submodule(head).parameters()}
    return [{"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": cfg.lr},
            {"params": [p for p in model.parameters() if id(p) in head_ids],
             "lr": cfg.head_lr or cfg.lr}]


def _diverged(name: str, epoch: int, cfg: TrainConfig, value: float) -> ModelError:
    return ModelError(
        f"models[{name}]: training diverged: the loss became {value} in epoch {epoch} of "
        f"{cfg.epochs}; lower train.lr (now {cfg.lr:g}) or check the data")


def _epoch(model, loader, opt, sched, loss_fn, group_ids, group_weights, device, step,
           steps_total, progress, *,
           diverged: Callable[[float], ModelError]) -> tuple[int, float, int, int]:
    """One pass over ``loader``: (steps so far, summed loss, correct, seen).

    Raises:
        ModelError: ``diverged(loss)``, when a batch's loss is NaN or infinite.
    """
    tot_loss, tot_correct, tot_n = 0.0, 0, 0
    for images, labels, idx in loader:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        logits = model(images)
        if group_ids is not None and group_weights is not None:
            loss = group_weighted_loss(logits, labels, group_ids[idx].to(device),
                                       group_weights)
        else:
            loss = loss_fn(logits, labels)
        value = float(loss.detach())
        if not np.isfinite(value):
            raise diverged(value)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        tot_loss += value * len(labels)
        tot_correct += int((logits.detach().argmax(1) == labels).sum())
        tot_n += len(labels)
        step += 1
        if progress:
            progress(step, steps_total)
    return step, tot_loss, tot_correct, tot_n

"""The cues pass: what needs the model to find cues nobody annotated.

After the audit pass, per model:

1. hotspots are found from the merged low-resolution maps (pure:
   :func:`auditor.metrics.hotspots.find_hotspots`); each is masked in every audited image
   (its mask minus the image's annotated pixels, the reliance test's fill) to see whether the
   prediction changes (:func:`auditor.pipeline.reliance_pass.reliance_test`);
2. concepts: activation vectors of ``analysis.concepts.fit_images`` audited images (seeded
   choice, kept by the audit pass: each image's 4 strongest and 4 random positions) are
   factorised (:func:`auditor.metrics.concepts.fit_concepts`, at most 200 NMF iterations); every
   audited image's activation is projected on the concepts (presence, and where it is
   strongest); on ``analysis.concepts.importance_images`` images (seeded choice) each concept
   is removed from the activation in turn (a forward hook on the target layer) and the change
   of the predicted class's probability and logit is recorded.

Cost, per model: the factorisation of ``8 x fit_images`` vectors, one forward pass over
``analysis.cue_images`` audited images (seeded choice), one more per hotspot over them, and
``n`` over ``concepts.importance_images`` of them (no gradients). It runs
on the main process only (after the ranks of a distributed run have finished the audit pass).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from auditor.config import AnalysisConfig
from auditor.metrics.concepts import choose_rows, fit_concepts
from auditor.metrics.hotspots import Hotspot, analysis_cells, find_hotspots, mean_maps
from auditor.models.state import eval_mode
from auditor.pipeline.audit_pass import collate_samples, images_on
from auditor.pipeline.reliance_pass import pick_donors, reliance_test
from auditor.saliency.concepts import project, remove_concept
from auditor.saliency.layers import capture_activation, registered_hooks, resolve_target_layer
from auditor.saliency.perturb import fill_image, swap_region

log = logging.getLogger(__name__)

__all__ = ["CueTables", "cues_pass", "discover_cues"]


@dataclass
class CueTables:
    """What the cues pass measured, row-aligned with the audit tables (N audited images).

    Attributes:
        hotspots: the hotspots tested (names ``hotspot_<k>``).
        flip, conf_drop: ``[N, K]`` reliance test per hotspot (as for annotated regions; NaN
            for images outside ``test_rows``).
        swap_follow: ``[N, K]`` 1.0 when pasting the hotspot's area from an image the model
            assigns to another class moved the prediction to that class, 0.0 when not; NaN
            when not tested.
        swap_placebo: ``[N, K]`` 1.0 when pasting it from another image the model assigns to
            the same class changed the prediction (the placebo of the swap), 0.0 when not,
            NaN untested.
        basis: ``[n, C]`` concept directions (empty when concepts are off).
        presence: ``[N, n]`` largest coefficient of each concept over an image's positions
            (NaN outside ``test_rows``).
        where: ``[N, n, 2]`` (row, column) of that position on the ``grid``.
        grid: ``(h, w)`` of the target layer's activation.
        imp_rows: ``[S]`` rows of the importance images.
        prob_drop, logit_drop: ``[S, n]`` predicted class's probability / logit before minus
            after removing the concept.
        imp_flip: ``[S, n]`` the predicted class changed.
        fit_rows: rows of the images the concepts were fit on.
        test_rows: rows of the images the pass ran on (``analysis.cue_images``, seeded).
    """

    hotspots: list[Hotspot] = field(default_factory=list)
    flip: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    conf_drop: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    swap_follow: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    swap_placebo: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    basis: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    presence: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    where: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2), np.int32))
    grid: tuple[int, int] = (0, 0)
    imp_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    prob_drop: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    logit_drop: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    imp_flip: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    fit_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    test_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    average: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays kept in the run directory (``cues/<model>.npz``)."""
        masks = np.stack([h.mask for h in self.hotspots]) if self.hotspots \
            else np.zeros((0, 0, 0), bool)
        cells = list(self.average)
        maps = np.stack([self.average[c][0] for c in cells]).astype(np.float32) if cells \
            else np.zeros((0, 0, 0), np.float32)
        return {"average_cells": np.asarray(cells, dtype=str), "average_maps": maps,
                "average_n": np.asarray([self.average[c][1] for c in cells], dtype=np.int64),
                "hotspot_masks": masks, "hotspot_flip": self.flip,
                "hotspot_conf_drop": self.conf_drop, "hotspot_swap_follow": self.swap_follow,
                "hotspot_swap_placebo": self.swap_placebo, "concept_basis": self.basis,
                "concept_presence": self.presence, "concept_where": self.where,
                "concept_grid": np.asarray(self.grid), "importance_rows": self.imp_rows,
                "importance_prob_drop": self.prob_drop,
                "importance_logit_drop": self.logit_drop, "importance_flip": self.imp_flip,
                "fit_rows": self.fit_rows, "test_rows": self.test_rows}


def _loader(dataset: Dataset, rows: list[int], batch_size: int, num_workers: int
            ) -> DataLoader:
    """The ``rows`` of ``dataset``, collated as the dataset does (encoded JPEGs included)."""
    return DataLoader(Subset(dataset, rows), batch_size=batch_size, num_workers=num_workers,
                      collate_fn=getattr(dataset, "collate", collate_samples))


def _without(model: nn.Module, layer: nn.Module, images: torch.Tensor, coeffs: torch.Tensor,
             basis: torch.Tensor, k: int) -> torch.Tensor:
    """Logits with concept ``k`` removed from the target layer's output."""
    def hook(_m: nn.Module, _inp: object, out: torch.Tensor) -> torch.Tensor:
        return remove_concept(out, coeffs, basis, k) if out.dim() == 4 else out

    with registered_hooks() as handles:
        handles.append(layer.register_forward_hook(hook))
        return model(images).float()


def _hotspot_swaps(model: nn.Module, images: torch.Tensor, regions: torch.Tensor,
                   logits: torch.Tensor, filler: torch.Tensor, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Paste each hotspot's area from another image of the batch: from one the model assigns
    to another class (does the prediction follow it there?) and from one it assigns to the
    same class (the placebo: does any paste there change it?).

    Donors are chosen by the model's prediction, not by the label: the test asks whether the
    area carries the model's decision, and a cue nobody annotated may be independent of the
    class in the audited split (a balanced test set), where a donor of another *label* carries
    that class's cue no more often than one of the same label and the two pastes would move
    as many predictions.

    Args:
        images: ``[B, C, H, W]``; regions: ``[B, K, H, W]`` bool hotspot areas (annotated
            pixels excluded); logits: ``[B, classes]``;
            filler: ``[B, C, H, W]`` what an image's own copy of the area is replaced with
            (:func:`~auditor.saliency.perturb.fill_image`, shared with the masking test).

    Returns:
        ``(follow, placebo)``, ``[B, K]`` float: 1.0 / 0.0, NaN where there was no donor.
    """
    pred = logits.argmax(dim=1).cpu().numpy()
    usable = np.ones(len(pred), bool)
    other = pick_donors(pred, usable, rng)
    same = pick_donors(pred, usable, rng, same=True)
    k_n = regions.shape[1]
    follow = np.full((len(pred), k_n), np.nan)
    placebo = np.full((len(pred), k_n), np.nan)
    for k in range(k_n):
        for donors, out in ((other, follow), (same, placebo)):
            ok = donors >= 0
            if not ok.any():
                continue
            idx = torch.as_tensor(np.where(ok, donors, np.arange(len(pred))),
                                  device=images.device)
            after = model(swap_region(images, regions[:, k], idx, filler=filler)
                          ).argmax(dim=1).cpu().numpy()
            moved = after == pred[np.where(ok, donors, 0)] if out is follow else after != pred
            out[ok, k] = moved[ok]
    return follow, placebo


def cues_pass(model: nn.Module, dataset: Dataset, hotspots: list[Hotspot],
              vectors: np.ndarray | None, acfg: AnalysisConfig, *, target_layer: str,
              device: torch.device, batch_size: int, seed: int,
              num_workers: int = 0) -> CueTables:
    """Hotspot reliance and concept discovery over the audited images (see the module docs).

    Args:
        model: the audited classifier.
        dataset: the audited split, in the audit pass's order (items with ``image``,
            ``masks`` (background last) and ``index``).
        hotspots: from :func:`~auditor.metrics.hotspots.find_hotspots`.
        vectors: ``[P, C]`` activation vectors of the fit images (kept by the audit pass).
        acfg: the ``analysis`` section (``concepts``, ``cue_images``, ``reliance.fill``).
        target_layer: the layer the maps were computed at.
        device: where the model runs.
        batch_size: images per forward pass.
        seed: seeds the choice of fit and importance images.
        num_workers: data loader workers.
    """
    n_images = len(dataset)  # type: ignore[arg-type]
    out = CueTables(hotspots=list(hotspots))
    out.test_rows = choose_rows(n_images, acfg.cue_images, seed, 4)
    n_concepts = acfg.concepts.n
    fill = acfg.reliance.fill if acfg.reliance is not None else "blur"
    with eval_mode(model), torch.no_grad():
        _, layer = resolve_target_layer(model, target_layer)
        basis_t = None
        if n_concepts > 0 and vectors is not None and len(vectors):
            out.fit_rows = choose_rows(n_images, acfg.concepts.fit_images, seed, 1)
            out.basis = fit_concepts(vectors.astype(np.float32), n_concepts, seed=seed)
            basis_t = torch.from_numpy(out.basis).to(device)
        out.imp_rows = out.test_rows[choose_rows(len(out.test_rows),
                                                 acfg.concepts.importance_images, seed, 2)] \
            if basis_t is not None and len(out.basis) else np.zeros(0, np.int64)
        imp_pos = {int(r): i for i, r in enumerate(out.imp_rows)}
        k_con = len(out.basis)
        names = [h.name for h in hotspots]
        flips, drops, pres, where, follows, placebos = [], [], [], [], [], []
        prob_drop = np.zeros((len(out.imp_rows), k_con), np.float32)
        logit_drop = np.zeros_like(prob_drop)
        imp_flip = np.zeros(prob_drop.shape, bool)
        start = 0
        for batch in _loader(dataset, out.test_rows.tolist(), batch_size, num_workers):
            images = images_on(dataset, batch, device)
            with capture_activation(layer, grad=False) as cap:
                logits = model(images).float()
            if names:
                bg = batch["masks"][:, -1].to(device).bool()  # background: no annotated region
                fixed = torch.stack([torch.from_numpy(h.mask) for h in hotspots]).float()
                up = F.interpolate(fixed[None].to(device), size=bg.shape[-2:],
                                   mode="nearest")[0].bool()
                filler = fill_image(images, fill)  # one filled copy: masking and pastes
                rel = reliance_test(model, images, up[None] & bg[:, None], names,
                                    fill=fill, batch_size=len(images),
                                    logits=logits, filler=filler)
                flips.append(np.stack([rel[n]["flip"] for n in names], axis=1))
                drops.append(np.stack([rel[n]["conf_drop"] for n in names], axis=1))
                follow, placebo = _hotspot_swaps(model, images, up[None] & bg[:, None],
                                                 logits, filler,
                                                 np.random.default_rng([seed, 7, start]))
                follows.append(follow)
                placebos.append(placebo)
            if basis_t is not None and k_con:
                acts = cap.grid.float()
                out.grid = (int(acts.shape[2]), int(acts.shape[3]))
                coeffs = project(acts, basis_t)
                flat = coeffs.flatten(2)
                best = flat.max(dim=2)
                pres.append(best.values.cpu().numpy())
                w = coeffs.shape[-1]
                where.append(torch.stack([best.indices // w, best.indices % w],
                                         dim=-1).cpu().numpy().astype(np.int32))
                local = [i for i in range(len(images))
                         if int(out.test_rows[start + i]) in imp_pos]
                if local:
                    sel = torch.as_tensor(local, device=device)
                    x, c, a = images[sel], coeffs[sel], logits[sel]
                    prob = torch.softmax(a, dim=1)
                    pred = prob.argmax(dim=1, keepdim=True)
                    rows = [imp_pos[int(out.test_rows[start + i])] for i in local]
                    for k in range(k_con):
                        after = _without(model, layer, x, c, basis_t, k)
                        p_after = torch.softmax(after, dim=1)
                        prob_drop[rows, k] = (prob.gather(1, pred) - p_after.gather(1, pred)
                                              )[:, 0].cpu().numpy()
                        logit_drop[rows, k] = (a.gather(1, pred) - after.gather(1, pred)
                                               )[:, 0].cpu().numpy()
                        imp_flip[rows, k] = (p_after.argmax(dim=1, keepdim=True) != pred
                                             )[:, 0].cpu().numpy()
            start += len(images)
    rows = out.test_rows
    out.flip = np.full((n_images, len(names)), np.nan)
    out.conf_drop = np.full((n_images, len(names)), np.nan)
    out.swap_follow = np.full((n_images, len(names)), np.nan)
    out.swap_placebo = np.full((n_images, len(names)), np.nan)
    if names:
        out.flip[rows], out.conf_drop[rows] = np.concatenate(flips), np.concatenate(drops)
        out.swap_follow[rows] = np.concatenate(follows)
        out.swap_placebo[rows] = np.concatenate(placebos)
    if pres:
        out.presence = np.full((n_images, k_con), np.nan, np.float32)
        out.where = np.full((n_images, k_con, 2), -1, np.int32)
        out.presence[rows], out.where[rows] = np.concatenate(pres), np.concatenate(where)
    out.prob_drop, out.logit_drop, out.imp_flip = prob_drop, logit_drop, imp_flip
    log.info("cues pass on %d images: %d hotspots, %d concepts (fit on %d images, importance "
             "on %d)", len(rows), len(names), k_con, len(out.fit_rows), len(out.imp_rows))
    return out


def discover_cues(model: nn.Module, df: pd.DataFrame, maps: np.ndarray, cover: np.ndarray | None,
                  vectors: np.ndarray | None, dataset: Dataset, acfg: AnalysisConfig, *,
                  attributes: list[str],
                  target_layer: str, device: torch.device, batch_size: int, seed: int,
                  num_workers: int = 0) -> CueTables:
    """Average maps and hotspots from the merged maps, then :func:`cues_pass`.

    Args:
        model: the audited classifier.
        df: the model's per-sample table (row-aligned with ``maps``).
        maps: ``[N, h, w]`` low-resolution maps of the primary method.
        cover: ``[N, h, w]`` annotated share per low-resolution cell (None: none annotated).
        vectors: activation vectors of the concept-discovery images (from the audit pass).
        dataset: the audited split in audit order.
        acfg: the ``analysis`` section.
        attributes: attribute columns (cells of the average maps).
        target_layer, device, batch_size, seed, num_workers: as for the audit pass.
    """
    started = time.perf_counter(), time.process_time()
    cells = analysis_cells(df, attributes)
    average = mean_maps(maps, cells)
    hot = acfg.hotspots
    hotspots = find_hotspots(maps, cover, cells, n=hot.n, min_lift=hot.min_lift,
                             max_area=hot.max_area, min_cell=acfg.min_group_size)
    if hotspots or acfg.concepts.n > 0:
        out = cues_pass(model, dataset, hotspots, vectors, acfg, target_layer=target_layer,
                        device=device, batch_size=batch_size, seed=seed,
                        num_workers=num_workers)
    else:
        out = CueTables(flip=np.zeros((len(df), 0), bool),
                        conf_drop=np.zeros((len(df), 0), np.float32))
    out.average = average
    log.info("cues: %.1f s (%.1f s CPU) for %d hotspots and %d concepts",
             time.perf_counter() - started[0], time.process_time() - started[1],
             len(out.hotspots), len(out.basis))
    return out

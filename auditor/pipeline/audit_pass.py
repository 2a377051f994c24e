"""The audit pass over one model: saliency, region metrics and reliance per batch.

Each batch's results go to a shard file (``shards/<model>/batch_NNNNN.npz``) as soon as it is
done, so a killed run resumes at the first missing batch and memory stays flat in dataset size.
``merge_shards`` turns the shards into the per-sample table, embeddings and low-res maps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from auditor.config import AnalysisConfig, RelianceConfig, SaliencyConfig
from auditor.metrics.columns import (
    area_column,
    conf_drop_column,
    flip_column,
    lead_donor_column,
    lead_hole_column,
    lead_pred_column,
    mass_column,
    point_column,
    rank_column,
    swap_from_column,
)
from auditor.metrics.concepts import choose_rows
from auditor.metrics.regions import (
    attention_mass,
    pointing_game,
    region_area,
    relevance_rank_accuracy,
)
from auditor.metrics.reliance import swap_placebo_column, swap_pred_column, swap_to_column
from auditor.pipeline.progress import ProgressSink
from auditor.pipeline.reliance_pass import OBJECT_SWAP, Swap, SwapPlan, reliance_test, swap_test
from auditor.pipeline.rundir import RunDir
from auditor.saliency import CamEngine
from auditor.saliency.concepts import fit_vectors
from auditor.saliency.perturb import fill_image

log = logging.getLogger(__name__)

__all__ = ["SHARD_LAYOUT", "AuditTables", "audit_model", "collate_samples", "images_on",
           "merge_shards", "reliance_regions", "shard_layout"]


def reliance_regions(regions: list[str], rcfg: RelianceConfig | None) -> list[str]:
    """The regions the reliance test masks: all of them (background included) or the listed
    ones, in the data's order; none when the test is off."""
    if rcfg is None:
        return []
    if rcfg.regions == "all":
        return list(regions)
    return [r for r in regions if r in rcfg.regions]


def collate_samples(batch: list[dict]) -> dict[str, torch.Tensor]:
    """Stack dataset items (``image``, ``label``, ``masks``, ``index``) into a batch."""
    return {
        "image": torch.stack([b["image"] for b in batch]),
        "label": torch.as_tensor([b["label"] for b in batch], dtype=torch.long),
        "masks": torch.stack([b["masks"] for b in batch]),
        "index": torch.as_tensor([b["index"] for b in batch], dtype=torch.long),
    }


@dataclass
class AuditTables:
    """Merged results of one model's audit pass, row-aligned.

    Attributes:
        index: [N] row positions in ``DataBundle.table``.
        logits: [N, C] float32.
        embeddings: [N, D] float32 pooled target-layer features.
        mass: [N, M, R] attention mass per method and region.
        area: [N, R] region area share.
        point: [N, M, R] pointing-game hits.
        rank: [N, M, R] relevance rank accuracy (NaN for empty regions / zero maps).
        maps: [N, M, h, w] float16 low-resolution maps, each scaled to a peak of 1 (a zero map
            stays zero): what every reader uses is scale-free (shares, normalised averages).
        cover: [N, h, w] float16 share of each low-resolution cell inside an annotated region
            (the complement of ``background``); zeros when nothing is annotated.
        flip: [N, R'] prediction flipped when region r' is occluded (reliance regions).
        conf_drop: [N, R'] confidence drop of the original prediction.
        reliance_regions: names of the R' occluded regions.
        swap_pred: [N, S] class index predicted after swap s (-1: not swapped).
        swap_donor: [N, S] table row of the donor of swap s (-1: none).
        swaps: the S swaps (:class:`~auditor.pipeline.reliance_pass.Swap`: a name, ``object``
            or ``<attribute>:<region>``, and whether it is a context swap's placebo).
        concept_vectors: [P, K] float16 target-layer activation vectors of the images concept
            discovery is fit on (``analysis.concepts.fit_images``, see
            :func:`auditor.metrics.concepts.fit_vectors`).
    """

    index: np.ndarray
    logits: np.ndarray
    embeddings: np.ndarray
    mass: np.ndarray
    area: np.ndarray
    point: np.ndarray
    rank: np.ndarray
    maps: np.ndarray
    flip: np.ndarray
    conf_drop: np.ndarray
    reliance_regions: list[str]
    swap_pred: np.ndarray
    swap_donor: np.ndarray
    swaps: list[Swap]
    cover: np.ndarray | None = None
    concept_vectors: np.ndarray | None = None


def images_on(dataset: Dataset, batch: dict, device: torch.device) -> torch.Tensor:
    """The batch's normalised images on ``device``: the dataset decodes them there when it
    can (``EncodedJpegDataset.images_on``), else the collated float tensor is moved."""
    on_device = getattr(dataset, "images_on", None)
    if on_device is not None:
        return on_device(batch, device)
    return batch["image"].to(device, non_blocking=True)


def _shard_name(model_name: str, b: int) -> str:
    return f"shards/{model_name}/batch_{b:05d}.npz"


def audit_model(
    model: nn.Module,
    model_name: str,
    dataset: Dataset,
    regions: list[str],
    scfg: SaliencyConfig,
    acfg: AnalysisConfig,
    rundir: RunDir,
    *,
    target_layer: str,
    device: torch.device,
    num_workers: int = 0,
    rank: int = 0,
    world: int = 1,
    progress: ProgressSink | None = None,
    swap_plan: SwapPlan | None = None,
    seed: int = 0,
) -> int:
    """Run saliency + region metrics + reliance over ``dataset``, one shard per batch.

    Batches whose shard already exists are neither loaded nor recomputed (resume). Under
    ``torchrun`` this rank takes the batches ``b`` with ``b % world == rank``. With a
    ``swap_plan`` the counterfactual swaps run too (:func:`swap_test`).
    The activation vectors of the concept-discovery images (``seed``-chosen) are kept in
    the shards too.

    Returns:
        The number of batches (shards) for this model, over all ranks.
    """
    engine = CamEngine(model, target_layer=target_layer, methods=list(scfg.methods),
                       options=scfg.options,
                       autocast=scfg.autocast if device.type == "cuda" else None)
    masked = reliance_regions(regions, acfg.reliance)
    reliance_idx = [regions.index(r) for r in masked]
    fill = acfg.reliance.fill if acfg.reliance is not None else "blur"
    n_swaps = len(swap_plan.swaps) if swap_plan is not None else 0
    n, bs = len(dataset), scfg.batch_size  # type: ignore[arg-type]
    n_batches = (n + bs - 1) // bs
    mine = [b for b in range(n_batches) if b % world == rank]
    todo = [b for b in mine if not rundir.exists(_shard_name(model_name, b))]
    loader = DataLoader(dataset, batch_sampler=[range(b * bs, min(n, (b + 1) * bs)) for b in todo],
                        num_workers=num_workers,
                        collate_fn=getattr(dataset, "collate", collate_samples),
                        pin_memory=device.type == "cuda")
    done = len(mine) - len(todo)
    fit = set(choose_rows(n, acfg.concepts.fit_images, seed, 1).tolist()) \
        if acfg.concepts.n > 0 else set()
    if progress:
        progress(f"audit {model_name}", done, len(mine))
    for b, batch in zip(todo, loader, strict=True):
        rel = _shard_name(model_name, b)
        images = images_on(dataset, batch, device)
        masks = batch["masks"].to(device, non_blocking=True)
        labels = batch["label"].to(device)
        targets = labels if scfg.target == "true" else None
        out = engine(images, targets=targets)
        maps = out.maps  # [B, M, H, W]
        mass = attention_mass(maps, masks)  # [B, M, R]
        point = pointing_game(maps, masks)
        rank_acc = relevance_rank_accuracy(maps, masks)
        area = region_area(masks)
        lowres = F.adaptive_avg_pool2d(maps, scfg.map_size)
        # each map scaled to a peak of 1 before float16 (range 6e-5..65504): a method whose
        # raw values are ~1e-9 (guided maps) stored zeros, a large-logit model infinities
        peak = lowres.amax(dim=(-2, -1), keepdim=True)
        lowres = torch.where(peak > 0, lowres / peak.clamp_min(torch.finfo(peak.dtype).tiny),
                             lowres).to(torch.float16)
        annotated = ~masks[:, regions.index("background")] if "background" in regions \
            else torch.zeros_like(masks[:, 0])
        cover = F.adaptive_avg_pool2d(annotated[:, None].float(), scfg.map_size)[:, 0]
        vectors = np.zeros((0, 0), np.float16)
        if out.activations is not None:
            local = [i for i in range(len(images)) if b * bs + i in fit]
            vectors = fit_vectors(out.activations[local], [b * bs + i for i in local]
                                  ).to(torch.float16).cpu().numpy()
        # one filled copy of the batch for the masking test and the swaps
        filler = fill_image(images, fill) if (reliance_idx or n_swaps) else None
        if reliance_idx:
            names = [regions[i] for i in reliance_idx]
            rel_out = reliance_test(model, images, masks[:, reliance_idx], names,
                                    fill=fill, batch_size=len(images),
                                    logits=out.logits.detach(), filler=filler)
            flip = np.stack([rel_out[regions[i]]["flip"] for i in reliance_idx], axis=1)
            drop = np.stack([rel_out[regions[i]]["conf_drop"] for i in reliance_idx], axis=1)
        else:
            flip = np.zeros((len(images), 0), dtype=bool)
            drop = np.zeros((len(images), 0), dtype=np.float32)
        if n_swaps:
            swap_pred, swap_donor = swap_test(model, images, masks, batch["index"].numpy(),
                                              swap_plan, batch_number=b, fill=fill,
                                              filler=filler)
        else:
            swap_pred = swap_donor = np.zeros((len(images), 0), dtype=np.int64)
        rundir.write_npz(
            rel,
            index=batch["index"].numpy(),
            logits=out.logits.detach().float().cpu().numpy(),
            embeddings=out.embeddings.detach().float().cpu().numpy(),
            mass=mass.detach().float().cpu().numpy(),
            area=area.detach().float().cpu().numpy(),
            point=point.detach().cpu().numpy(),
            rank=rank_acc.detach().float().cpu().numpy(),
            maps=lowres.cpu().numpy(),
            cover=cover.to(torch.float16).cpu().numpy(),
            concept_vectors=vectors,
            flip=np.asarray(flip, dtype=bool),
            conf_drop=np.asarray(drop, dtype=np.float32),
            swap_pred=swap_pred, swap_donor=swap_donor,
        )
        done += 1
        if progress:
            progress(f"audit {model_name}", done, len(mine))
    log.info("audited %s: %d of %d batches on this rank", model_name, len(mine), n_batches)
    return n_batches


#: What one shard holds (its arrays, their columns and meaning). Bump it whenever that changes,
#: so a run interrupted under an older layout redoes its audit instead of mixing the two.
SHARD_LAYOUT = 4  # 2: every context swap followed by its same-value placebo; 3: center_crop
#                    cuts the centre square before resizing (its pixels moved by interpolation),
#                    and the low-resolution maps are stored scaled to a peak of 1; 4: lead
#                    pastes and their hole controls after the context swaps


def shard_layout(plan: SwapPlan | None) -> str:
    """The layout of a model's shards: :data:`SHARD_LAYOUT` and the swaps in column order
    (part of the key the shards are reused under, see ``pipeline.run_keys.shard_key``)."""
    swaps = [(s.name, s.placebo, s.lead) for s in plan.swaps] if plan is not None else []
    return f"{SHARD_LAYOUT}:{swaps!r}"


def merge_shards(rundir: RunDir, model_name: str, n_batches: int,
                 regions: list[str], rcfg: RelianceConfig | None,
                 swaps: list[Swap] | None = None) -> AuditTables:
    """Concatenate a model's shards in batch order."""
    parts: dict[str, list[np.ndarray]] = {}
    for b in range(n_batches):
        with np.load(rundir.path(_shard_name(model_name, b))) as z:
            for k in z.files:
                parts.setdefault(k, []).append(z[k])
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    n = len(cat["index"])
    swap_pred = cat.get("swap_pred", np.zeros((n, 0), dtype=np.int64))
    swap_donor = cat.get("swap_donor", np.zeros((n, 0), dtype=np.int64))
    return AuditTables(
        index=cat["index"], logits=cat["logits"], embeddings=cat["embeddings"],
        mass=cat["mass"], area=cat["area"], point=cat["point"], rank=cat["rank"],
        maps=cat["maps"],
        flip=cat["flip"], conf_drop=cat["conf_drop"],
        reliance_regions=reliance_regions(regions, rcfg),
        swap_pred=swap_pred, swap_donor=swap_donor,
        swaps=list(swaps or [])[:swap_pred.shape[1]],
        cover=cat.get("cover"), concept_vectors=cat.get("concept_vectors"),
    )


def sample_frame(
    model_name: str,
    tables: AuditTables,
    bundle_table: pd.DataFrame,
    classes: list[str],
    attributes: list[str],
    methods: list[str],
    regions: list[str],
    context: dict[str, dict[str, str]] | None = None,
) -> pd.DataFrame:
    """The per-sample rows of ``samples.parquet`` for one model (column contract in DESIGN).

    ``context``: see :func:`swap_columns`.
    """
    rows = bundle_table.iloc[tables.index]
    probs = torch.softmax(torch.from_numpy(tables.logits), dim=1).numpy()
    pred_idx = probs.argmax(1)
    label_idx = rows["label"].to_numpy()
    df = pd.DataFrame({
        "model": model_name,
        "id": rows["id"].astype(str).to_numpy(),
        "split": rows["split"].astype(str).to_numpy(),
        "label": [classes[i] for i in label_idx],
        "pred": [classes[i] for i in pred_idx],
        "label_idx": label_idx.astype(np.int64),
        "pred_idx": pred_idx.astype(np.int64),
        "confidence": probs.max(1).astype(np.float64),
        "correct": pred_idx == label_idx,
    })
    for attr in attributes:
        df[attr] = rows[attr].astype(str).to_numpy()
    cols: dict[str, np.ndarray] = {}
    for m, method in enumerate(methods):
        for r, region in enumerate(regions):
            cols[mass_column(method, region)] = tables.mass[:, m, r].astype(np.float64)
            cols[point_column(method, region)] = tables.point[:, m, r].astype(bool)
            cols[rank_column(method, region)] = tables.rank[:, m, r].astype(np.float64)
    for r, region in enumerate(regions):
        cols[area_column(region)] = tables.area[:, r].astype(np.float64)
    for j, region in enumerate(tables.reliance_regions):
        cols[flip_column(region)] = tables.flip[:, j].astype(bool)
        cols[conf_drop_column(region)] = tables.conf_drop[:, j].astype(np.float64)
    cols.update(swap_columns(tables, bundle_table, classes, context or {}, pred_idx=pred_idx))
    df = pd.concat([df, pd.DataFrame(cols)], axis=1)
    df["cluster"] = -1
    return df


def swap_columns(tables: AuditTables, bundle_table: pd.DataFrame, classes: list[str],
                 context: dict[str, dict[str, str]], *, pred_idx: np.ndarray
                 ) -> dict[str, np.ndarray]:
    """The swap columns of the per-sample table (names in :mod:`auditor.metrics.reliance`).

    ``context`` maps ``{ATTR: {VALUE: CLASS}}``: the class each attribute value goes with in
    training (:func:`~auditor.metrics.reliance.context_classes`). A placebo swap gives only
    the prediction (``swap_placebo_<name>``): its donor's value is the image's own. A lead
    paste gives its prediction and the class the model gives its donor (``pred_idx``: the
    model's class per audited row); its hole control, the prediction. A context swap also
    gives, on every row, the class the image's own value goes with (``swap_from_<name>``).
    """
    cols: dict[str, np.ndarray] = {}
    names = np.asarray(classes, dtype=object)
    donor_pred = np.full(len(bundle_table), -1, dtype=np.int64)
    donor_pred[tables.index] = pred_idx
    for k, swap in enumerate(tables.swaps):
        name = swap.name
        pred, donor = tables.swap_pred[:, k], tables.swap_donor[:, k]
        ok = donor >= 0
        after = np.full(len(pred), None, dtype=object)
        after[ok] = names[pred[ok]]
        if swap.lead:
            if swap.placebo:
                cols[lead_hole_column(name)] = after
                continue
            known = ok.copy()
            known[ok] = donor_pred[donor[ok]] >= 0
            led = np.full(len(pred), None, dtype=object)
            led[known] = names[donor_pred[donor[known]]]
            after[~known] = None
            cols[lead_pred_column(name)] = after
            cols[lead_donor_column(name)] = led
            continue
        if swap.placebo:
            cols[swap_placebo_column(name)] = after
            continue
        source = np.full(len(pred), None, dtype=object)
        if name == OBJECT_SWAP:
            source[ok] = names[bundle_table["label"].to_numpy()[donor[ok]]]
        else:
            attr = swap.attribute
            values = bundle_table[attr].astype(str).to_numpy()
            source[ok] = [context.get(attr, {}).get(v) for v in values[donor[ok]]]
            cols[swap_from_column(name)] = np.array(  # the context the swap takes away
                [context.get(attr, {}).get(v) for v in values[tables.index]], dtype=object)
        cols[swap_pred_column(name)] = after
        cols[swap_to_column(name)] = source
    return cols

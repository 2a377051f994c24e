"""The models stage: build, load or train each configured model (cached in the run dir)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from auditor.config import ModelConfig
from auditor.data.dataset import AuditDataset, DataBundle
from auditor.data.transforms import normalize_image
from auditor.errors import ModelError
from auditor.models import load_checkpoint
from auditor.models.build import BuiltModel, load_pretrained
from auditor.models.checkpoints import state_dict_bytes
from auditor.models.code_hash import code_hash
from auditor.models.dfr import dfr_retrain_last_layer
from auditor.models.external import user_model_file
from auditor.models.heads import classifier_head
from auditor.models.outputs import build_for_data
from auditor.models.torchvision_zoo import weights_info
from auditor.models.train import materialize, train_model
from auditor.pipeline.progress import ProgressSink, scoped
from auditor.pipeline.rundir import RunDir

log = logging.getLogger(__name__)

__all__ = ["TrainSplit", "cell_keys", "prepare_model"]


def cell_keys(bundle: DataBundle, split: str, by: list[str]) -> np.ndarray:
    """Cells of ``split``'s rows: the label joined with the ``by`` attribute values."""
    rows = bundle.table[bundle.table["split"] == split]
    keys = rows["label"].astype(str)
    for attr in by:
        keys = keys + "|" + rows[attr].astype(str)
    return keys.to_numpy()


def _head_inputs(model: nn.Module, ds: Dataset, device: torch.device,
                 batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs of the model's last linear layer over ``ds``: ([N, D] float32, [N] labels)."""
    _, head = classifier_head(model)
    feats: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: feats.append(args[0].detach().cpu()))
    labels = []
    try:
        with torch.no_grad():
            for batch in DataLoader(ds, batch_size=batch_size):
                model(batch["image"].to(device))
                labels.append(torch.as_tensor(batch["label"]))
    finally:
        hook.remove()
    return torch.cat(feats).float(), torch.cat(labels).long()


def _dfr(model: nn.Module, bundle: DataBundle, by: list[str], *, seed: int,
         device: torch.device, name: str) -> dict[str, Any]:
    """Deep Feature Reweighting: refit the head on the group-balanced validation split."""
    val = _ImagesOnly(bundle.dataset("val"))
    if len(val) == 0:
        raise ModelError(f"models[{name}].train.dfr needs a val split (rows with split=val)")
    emb, labels = _head_inputs(model.eval(), val, device)
    _, gids = np.unique(cell_keys(bundle, "val", by), return_inverse=True)
    head_name, _ = classifier_head(model)
    new_head = dfr_retrain_last_layer(model, None, emb, labels, torch.as_tensor(gids),
                                      seed=seed)
    parent, _, attr = head_name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, new_head.to(device))
    return {"dfr": {"n_val": int(len(val)), "groups": int(gids.max() + 1)}}


class _ImagesOnly(Dataset):
    """A split's images and labels without rasterising region masks (for training)."""

    def __init__(self, ds: AuditDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, k: int) -> dict:
        img, _ = self.ds.resized(k, with_masks=False)
        return {"image": normalize_image(img, self.ds.mean, self.ds.std),
                "label": self.ds.rows[k][3]}


class TrainSplit:
    """The train split as every model of a run trains on it: decoded into memory once (when
    it fits :data:`auditor.data.torch_dataset.MEMORY_BUDGET_BYTES`) and shared by the models."""

    def __init__(self, bundle: DataBundle, *, num_workers: int = 0) -> None:
        self.images = _ImagesOnly(bundle.dataset("train"))
        self.num_workers = num_workers
        self._decoded: Dataset | None = None

    def __len__(self) -> int:
        return len(self.images)

    def data(self, progress: ProgressSink | None, name: str) -> Dataset:
        """The split to train on: decoded in memory, or streamed from disk when too large."""
        if self._decoded is None:
            cached = materialize(self.images, num_workers=self.num_workers,
                                 progress=scoped(progress, f"load train ({name})"))
            self._decoded = cached if cached is not None else self.images
        return self._decoded


def _meta(mcfg: ModelConfig, bundle: DataBundle, seed: int) -> dict[str, Any]:
    meta = {
        "name": mcfg.name, "arch": mcfg.arch, "classes": bundle.classes, "seed": seed,
        "data_hash": bundle.data_hash,
        "train": mcfg.train.model_dump(mode="json") if mcfg.train else None,
        "checkpoint": str(mcfg.checkpoint) if mcfg.checkpoint else None,
        "pretrained": str(mcfg.pretrained) if mcfg.pretrained else None,
    }
    for key, value in (("arch_kwargs", mcfg.arch_kwargs), ("weights", mcfg.weights)):
        if value:
            meta[key] = value
    return meta


def _inputs_stamp(mcfg: ModelConfig) -> dict[str, str]:
    """Size and modification time of each file training starts from: ``pretrained``, the
    cached ``weights`` file and the ``file.py`` of ``arch: file.py:Class``. One replaced in
    place (same path, other weights or code) makes the checkpoint trained from it stale."""
    files: list[Path | None] = [mcfg.pretrained, user_model_file(mcfg.arch)]
    if mcfg.weights is not None:
        files.append(weights_info(mcfg.arch, mcfg.weights,
                                  f"models[{mcfg.name}].weights").cache_file)
    stamp = {}
    for path in filter(None, files):
        try:
            st = Path(path).stat()
            stamp[str(path)] = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp[str(path)] = "gone"
    return stamp


def prepare_model(mcfg: ModelConfig, bundle: DataBundle, rundir: RunDir, *, seed: int,
                  device: torch.device, progress: ProgressSink | None = None,
                  num_workers: int = 0, train_split: TrainSplit | None = None,
                  built: BuiltModel | None = None) -> tuple[nn.Module, str, dict[str, Any]]:
    """Return the model ready to audit (eval mode, on ``device``), its registry target layer
    (``"auto"`` for most) and its metadata. A checkpoint this run already trained with the same
    settings is reused. ``train_split``: the run's shared :class:`TrainSplit` (else one is
    made for this model). ``built``: this model as the run's model check already built it,
    complete from its files (checkpoint, TorchScript): used as it is, not loaded again.
    """
    torch.manual_seed(seed)
    if built is None or not built.complete:
        built = build_for_data(mcfg, list(bundle.classes), image_size=bundle.image_size)
    model, target_layer = built.model, built.info.target_layer
    meta = {**_meta(mcfg, bundle, seed), **built.notes}
    if built.complete:
        meta["source"], meta["train"] = "checkpoint", None  # nothing was trained
        return model.to(device).eval(), target_layer, meta

    ckpt_rel, meta_rel = f"models/{mcfg.name}.pt", f"models/{mcfg.name}.json"
    # before training reads them; the code too: a module file.py imports, edited in place
    inputs = {**_inputs_stamp(mcfg), "code": code_hash(model)}
    if rundir.exists(ckpt_rel) and rundir.exists(meta_rel):
        saved = json.loads(rundir.path(meta_rel).read_text(encoding="utf-8"))
        stamp = saved.pop("files_stamp", None)  # image files edited in place: train again
        saved_inputs = saved.pop("inputs_stamp", None)  # so are replaced weights or code
        if ({k: saved.get(k) for k in meta} == meta and stamp == bundle.files_stamp
                and saved_inputs == inputs):
            load_checkpoint(model, rundir.path(ckpt_rel))
            log.info("reusing trained checkpoint %s", ckpt_rel)
            return model.to(device).eval(), target_layer, saved

    loaded = load_pretrained(built, mcfg)
    if mcfg.train is None or mcfg.train.epochs == 0:
        if loaded is None:
            raise ModelError(f"models[{mcfg.name}]: give a checkpoint or train settings "
                             "(an untrained random network cannot be audited)")
        meta["source"] = "pretrained, not fine-tuned"
        return model.to(device).eval(), target_layer, meta

    split = train_split if train_split is not None else TrainSplit(bundle,
                                                                   num_workers=num_workers)
    if len(split) == 0:
        raise ModelError(f"models[{mcfg.name}]: the train split is empty; give a checkpoint "
                         "or add rows with split=train")
    keys = cell_keys(bundle, "train", mcfg.train.balance_by if mcfg.train.balance != "class"
                     else [])
    table = bundle.table
    weights = (table.loc[table["split"] == "train", "weight"].to_numpy(float)
               if "weight" in table.columns else None)
    hist = train_model(model, split.data(progress, mcfg.name), keys, mcfg.train,
                       seed=seed, device=device, num_workers=num_workers, head=built.head,
                       progress=scoped(progress, f"train {mcfg.name}"), sample_weights=weights,
                       name=mcfg.name)
    meta = {**meta, "source": "trained", "history": hist.to_dict()}
    if mcfg.train.dfr:
        meta.update(_dfr(model, bundle, mcfg.train.balance_by, seed=seed, device=device,
                         name=mcfg.name))
    rundir.write_bytes(ckpt_rel, state_dict_bytes(model))
    rundir.write_json(meta_rel, {**meta, "files_stamp": bundle.files_stamp,
                                 "inputs_stamp": inputs})
    log.info("trained %s: final train accuracy %.3f", mcfg.name,
             hist.accuracy[-1] if hist.accuracy else float("nan"))
    return model.to(device).eval(), target_layer, meta

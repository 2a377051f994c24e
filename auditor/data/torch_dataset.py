"""The torch view of a loaded dataset: :class:`AuditDataset`, one split's samples as items.

Kept apart from :mod:`auditor.data.dataset` so that reading and checking data (``audit
validate``, ``audit report``) imports no torch; :meth:`DataBundle.dataset
<auditor.data.dataset.DataBundle.dataset>` loads this module when a model needs the pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from auditor.data.images import load_image
from auditor.data.regions import ItemRegions
from auditor.data.transforms import apply_image, apply_masks, normalize_image, plan_geometry

__all__ = ["MEMORY_BUDGET_BYTES", "AuditDataset", "RememberedItems", "SampleRow"]

#: A split whose decoded items take less than this many bytes may be kept in memory (the
#: train split while its models train; the audit split while several models are audited).
MEMORY_BUDGET_BYTES = 1_500_000_000


def _item_masks(regions: ItemRegions, sample_id: str, h: int, w: int,
                image: np.ndarray | None) -> np.ndarray:
    """``bool [R, h, w]`` in the order of ``regions.names`` + background.

    ``image`` (``uint8 [h, w, 3]``) is needed only for automatic face regions.
    """
    found = regions.source.masks(sample_id, h, w) if regions.source is not None else {}
    if regions.auto_faces:
        if image is None:
            raise ValueError("automatic face regions need the decoded image")
        from auditor.data.faces import face_mask

        face = face_mask(image)
        found["face"] = found["face"] | face if "face" in found else face
    out = np.zeros((len(regions.names) + 1, h, w), dtype=bool)
    for k, name in enumerate(regions.names):
        if name in found:
            out[k] = found[name]
    out[-1] = ~out[:-1].any(axis=0)
    return out


class SampleRow(NamedTuple):
    """One sample of a split, as the dataset reads it."""

    index: int  # row position in the bundle's table
    id: str
    path: str
    label: int


class AuditDataset(Dataset):
    """Samples of one split; items are dicts (see :meth:`__getitem__`)."""

    def __init__(self, table: pd.DataFrame, regions: ItemRegions, size: int, resize: str,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.rows = [SampleRow(*r) for r in zip(
            table.index.tolist(), table["id"].tolist(), table["path"].tolist(),
            table["label"].astype(int).tolist(), strict=True)]
        self.regions, self.size, self.resize = regions, size, resize
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.rows)

    def resized(self, k: int, *, with_masks: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``(uint8 [3,S,S], bool [R,S,S])`` of item ``k`` before normalisation."""
        row = self.rows[k]
        image = load_image(Path(row.path), sample_id=row.id)
        geo = plan_geometry(image.shape[0], image.shape[1], self.size, self.resize)  # type: ignore[arg-type]
        img = apply_image(torch.from_numpy(image).permute(2, 0, 1), geo)
        if not with_masks:
            return img, torch.zeros((0, self.size, self.size), dtype=torch.bool)
        return img, self.masks_at(k, image.shape[0], image.shape[1], image=image)

    def masks_at(self, k: int, height: int, width: int, *,
                 image: np.ndarray | None = None) -> torch.Tensor:
        """``bool [R, S, S]``: item ``k``'s region masks for its ``height x width`` image.

        Annotated regions need only the image size; ``image`` (``uint8 [H, W, 3]``) is
        required when faces are detected automatically.
        """
        masks = _item_masks(self.regions, self.rows[k].id, height, width, image)
        geo = plan_geometry(height, width, self.size, self.resize)  # type: ignore[arg-type]
        return apply_masks(torch.from_numpy(masks), geo)

    def __getitem__(self, k: int) -> dict:
        """``{"image": float32 [3,S,S] normalised, "label": int, "masks": bool [R,S,S],
        "index": int (row position in the bundle's table)}``."""
        img, masks = self.resized(k)
        row = self.rows[k]
        return {"image": normalize_image(img, self.mean, self.std), "label": row.label,
                "masks": masks, "index": row.index}


class RememberedItems(Dataset):
    """``dataset``'s items kept in memory after their first load, for a split that several
    models read in turn (decoded and rasterised once). Load in the main process
    (``num_workers=0``): items loaded by worker processes are not kept."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.items: dict[int, dict] = {}

    @staticmethod
    def fits(dataset: Dataset, budget: int = MEMORY_BUDGET_BYTES) -> bool:
        """Whether every item of ``dataset`` (sized like its first) fits in ``budget`` bytes."""
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            return False
        first = dataset[0]
        size = sum(v.element_size() * v.numel() for v in first.values()
                   if isinstance(v, torch.Tensor))
        return n * size <= budget

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, k: int) -> dict:
        if k not in self.items:
            self.items[k] = self.dataset[k]
        return self.items[k]

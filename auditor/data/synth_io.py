"""File writing shared by the synthetic generators (clinic, scenes).

Every file is written atomically (:func:`auditor.common.files.atomic_write_bytes`; images
without fsync); ``params.json`` (the stamp of the generator's parameters) is written last, with
fsync, so an interrupted run is redone and a second call with the same parameters returns at
once (:func:`is_cached`). Before the first image, :func:`begin_dataset` refuses a non-empty
folder that is not a dataset of these generators and writes an unfinished ``params.json``, so
the folder stays recognisable as one if the run is interrupted.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from auditor.common.files import atomic_write_bytes
from auditor.errors import DataError

__all__ = ["begin_dataset", "coco_annotation", "is_cached", "png_bytes", "write_dataset"]

GENERATORS = ("clinic", "scenes")


def png_bytes(arr: np.ndarray) -> bytes:
    """``uint8 [H, W, 3]`` -> PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def coco_annotation(polys: list, ann_id: int, image_id: int, cat_id: int, size: int) -> dict:
    """A COCO polygon annotation (with area and bbox) of a ``size`` square image."""
    seg = [[round(v, 2) for xy in poly for v in xy] for poly in polys]
    rle = mask_utils.merge(mask_utils.frPyObjects(seg, size, size))
    x, y, w, h = (float(v) for v in mask_utils.toBbox(rle))
    return {"id": ann_id, "image_id": image_id, "category_id": cat_id, "segmentation": seg,
            "area": float(mask_utils.area(rle)), "bbox": [x, y, w, h], "iscrowd": 0}


def _read_stamp(out_dir: Path) -> object:
    """The content of ``out_dir/params.json`` (``None`` when missing or unreadable)."""
    try:
        return json.loads((out_dir / "params.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def is_cached(out_dir: Path, stamp: dict) -> bool:
    """True when ``out_dir`` holds a complete dataset written with exactly ``stamp``."""
    if not ((out_dir / "manifest.csv").is_file() and (out_dir / "regions.json").is_file()):
        return False
    return _read_stamp(out_dir) == stamp


def begin_dataset(out_dir: Path, stamp: dict) -> None:
    """Claim ``out_dir`` for a new dataset before anything is written into it.

    A folder that is missing, empty or an earlier dataset of these generators (its
    ``params.json`` names one) is used; its ``params.json`` becomes ``stamp`` marked unfinished
    (``complete: false``, which :func:`is_cached` never accepts) until :func:`write_dataset`.

    Raises:
        DataError: ``out_dir`` is a file, or a non-empty folder of something else (a
            ``manifest.csv`` of yours is never written over).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: is a file, not a folder; choose a new or empty folder")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    old = _read_stamp(out_dir)
    if entries and not (isinstance(old, dict) and old.get("generator") in GENERATORS):
        raise DataError(
            f"{out_dir}: not written: it holds {entries[0]!r}"
            f"{f' and {len(entries) - 1} more' if len(entries) > 1 else ''} and is not a "
            "dataset of `audit data synth` (no params.json of one); choose a new or empty folder")
    atomic_write_bytes(out_dir / "params.json",
                       json.dumps({**stamp, "complete": False}, indent=2).encode("utf-8"))


def write_dataset(out_dir: Path, rows: Sequence[tuple[str, ...]], polygons: Sequence[dict],
                  *, columns: Sequence[str], categories: Sequence[tuple[str, str]], size: int,
                  stamp: dict, description: str) -> Path:
    """Write ``regions.json`` (COCO), ``manifest.csv`` and, last, ``params.json``.

    Args:
        out_dir: dataset folder (images already written).
        rows: manifest rows; the first column is the image path relative to ``out_dir``.
        polygons: per row, ``{CATEGORY: [polygon, ...]}`` in pixels.
        columns: manifest header.
        categories: ``(name, supercategory)`` in category-id order.
        size: image side.
        stamp: the parameters (``params.json``).
        description: COCO ``info.description``.

    Returns:
        ``out_dir / "manifest.csv"``.
    """
    images, annotations = [], []
    for row, polys in zip(rows, polygons, strict=True):
        image_id = len(images) + 1
        images.append({"id": image_id, "file_name": row[0], "width": size, "height": size})
        for cat_id, (name, _) in enumerate(categories, start=1):
            annotations.append(coco_annotation(polys[name], len(annotations) + 1, image_id,
                                               cat_id, size))
    coco = {"info": {"description": description, "seed": stamp.get("seed")},
            "images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n, "supercategory": s}
                           for i, (n, s) in enumerate(categories, start=1)]}
    atomic_write_bytes(out_dir / "regions.json", json.dumps(coco).encode("utf-8"))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(columns))
    writer.writerows(rows)
    manifest = out_dir / "manifest.csv"
    atomic_write_bytes(manifest, buf.getvalue().encode("utf-8"))
    atomic_write_bytes(out_dir / "params.json", json.dumps(stamp, indent=2).encode("utf-8"))
    return manifest

"""File writing shared by the synthetic generators (clinic, scenes).

Every file is written atomically (:func:`auditor.common.files.atomic_write_bytes`; images
without fsync); ``params.json`` (the stamp of the generator's parameters) is written last, with
fsync, so an interrupted run is redone and a second call with the same parameters returns at
once (:func:`is_cached`).
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

__all__ = ["coco_annotation", "is_cached", "png_bytes", "write_dataset"]


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


def is_cached(out_dir: Path, stamp: dict) -> bool:
    """True when ``out_dir`` holds a complete dataset written with exactly ``stamp``."""
    stamp_path = out_dir / "params.json"
    if not (stamp_path.is_file() and (out_dir / "manifest.csv").is_file()
            and (out_dir / "regions.json").is_file()):
        return False
    try:
        return json.loads(stamp_path.read_text(encoding="utf-8")) == stamp
    except (OSError, json.JSONDecodeError):
        return False


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

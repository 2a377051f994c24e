"""COCO instance annotations (``regions: {format: coco, path: regions.json}``).

Category names become region names. Each annotation's ``segmentation`` may be polygons, an
uncompressed RLE (``counts`` a list) or a compressed RLE (``counts`` a string); an
annotation without segmentation uses its ``bbox``. ``iscrowd`` annotations count like any
other (they are region pixels). Rasterisation uses ``pycocotools.mask`` directly (the
``COCO`` class prints to stdout). Masks are rasterised at the size the ``images`` entry
records and rescaled to the real image size if that differs.

The file's structure (lists, ids, categories) is checked when it is read (a
:class:`~auditor.errors.DataError` naming the entry); every annotation's geometry is checked by
:mod:`~auditor.data.region_formats.coco_checks` before pycocotools sees it, and a sample with an
unusable annotation is skipped with the reason.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from auditor.config import RegionsConfig
from auditor.data.region_formats.coco_checks import (
    annotation_problem,
    draws_area,
    draws_nothing,
    recorded_size,
)
from auditor.data.regions import RegionSource, match_names, register_region_format, resize_mask
from auditor.errors import DataError

LAYOUT = ("coco, path FILE.json: COCO instance annotations; category names are region "
          "names, images[].file_name matches the manifest path (or a unique base name); "
          "polygons, RLE or bbox")

__all__ = ["CocoRegions", "rasterise_annotation"]


def _decode(rle: dict) -> np.ndarray:
    """``pycocotools.mask.decode`` without its NumPy-2 ``copy=False`` DeprecationWarning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*copy keyword")
        return mask_utils.decode(rle).astype(bool)


def rasterise_annotation(ann: dict, height: int, width: int) -> np.ndarray:
    """One COCO annotation -> ``bool [height, width]``.

    Raises:
        ValueError: malformed segmentation and no bbox.
    """
    seg = ann.get("segmentation")
    if isinstance(seg, dict) and "counts" in seg:
        h, w = (int(v) for v in seg.get("size", (height, width)))
        if isinstance(seg["counts"], list):
            rle = mask_utils.frPyObjects(seg, h, w)
        else:
            counts = seg["counts"]
            rle = {"size": [h, w], "counts": counts.encode() if isinstance(counts, str) else counts}
        m = _decode(rle)
        return resize_mask(m, height, width)
    if isinstance(seg, list):
        polys = [[float(v) for v in p] for p in seg if isinstance(p, list) and draws_area(p)]
        if polys:
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
            return _decode(rle)
    bbox = ann.get("bbox")
    if bbox is not None and len(bbox) == 4:
        x, y, w, h = (float(v) for v in bbox)
        m = np.zeros((height, width), dtype=bool)
        x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
        x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
        m[y0:y1, x0:x1] = True
        return m
    raise ValueError("annotation has neither a usable segmentation nor a bbox")


def other_aspect(drawn: tuple[int, int], image: tuple[int, int]) -> bool:
    """Whether a ``(h, w)`` annotation frame cannot be scaled onto a ``(h, w)`` image without
    distortion (aspect ratios more than 2% apart)."""
    (h0, w0), (h, w) = drawn, image
    return abs(h0 * w - w0 * h) > 0.02 * max(h0 * w, w0 * h)


def aspect_problem(drawn: tuple[int, int], image: tuple[int, int], what: str) -> str:
    """The reason a sample annotated on a frame of another aspect ratio is skipped."""
    (h0, w0), (h, w) = drawn, image
    why = ("the size before the image's EXIF rotation? annotate the image as displayed and "
           "record that size" if (h0, w0) == (w, h) else "an annotation of another image?")
    return (f"{what} {w0}x{h0} for a {w}x{h} image: another aspect ratio cannot be placed "
            f"without distortion ({why})")


def _rle_size(ann: dict) -> tuple[int, int] | None:
    """An RLE's ``size`` as ``(h, w)``; None when it has none, or a malformed one (the checks
    of :func:`annotation_problem` name it)."""
    seg = ann.get("segmentation")
    size = seg.get("size") if isinstance(seg, dict) else None
    if not isinstance(size, list) or len(size) != 2 or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        return None
    return size[0], size[1]


@dataclass
class CocoRegions(RegionSource):
    """COCO annotations grouped by sample id: ``(region, annotation, (h, w) recorded by its
    ``images[]`` entry or None)`` (a sample two entries match keeps each entry's size)."""

    by_id: dict[str, list[tuple[str, dict, tuple[int, int] | None]]] = field(
        default_factory=dict)
    bad_sizes: dict[str, str] = field(default_factory=dict)  # id -> why its size is unusable

    def masks(self, sample_id: str, height: int, width: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, ann, size in self.by_id.get(sample_id, []):
            h0, w0 = size or (height, width)
            try:
                m = rasterise_annotation(ann, h0, w0)
            except (ValueError, TypeError) as err:
                raise DataError(f"{self.files[0]}: annotation {ann.get('id')} of sample "
                                f"{sample_id}: {err}") from None
            m = resize_mask(m, height, width)
            out[name] = out[name] | m if name in out else m
        return out

    def problems(self, sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        out = dict(self.bad_sizes)
        for sample_id, anns in self.by_id.items():
            if sample_id in out or sample_id not in sizes:
                continue
            for _, ann, size in anns:
                frame = size or sizes[sample_id]
                rle = _rle_size(ann)
                problem = (aspect_problem(size, sizes[sample_id], "recorded as")
                           if size and other_aspect(size, sizes[sample_id]) else
                           aspect_problem(rle, frame, "an RLE of")
                           if rle and other_aspect(rle, frame) else
                           annotation_problem(ann, *frame))
                if problem:
                    out[sample_id] = (f"{self.files[0]}: annotation {_ann_id(ann)}: "
                                      f"{problem}")
                    break
        return out

    def size_mismatches(self, sizes: dict[str, tuple[int, int]]) -> int:
        return sum(1 for i, anns in self.by_id.items() if i in sizes and any(
            (size or sizes[i]) != sizes[i] or (_rle_size(ann) or sizes[i]) != (size or sizes[i])
            for _, ann, size in anns))


def _ann_id(ann: dict) -> str:
    value = ann.get("id")
    return repr(value)[:40] if not isinstance(value, (int, str)) else str(value)[:40]


def _key(value: Any) -> bool:
    """Whether ``value`` can be an image or category id (an int or a string)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _read_json(path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: not a regular file (a COCO JSON file is expected)")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply to be a COCO file") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: not a readable COCO JSON file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path}: not a COCO file (needs 'images', 'annotations' and "
                        "'categories' lists)")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key, []), list):
            raise DataError(f"{path}: '{key}' must be a list, not "
                            f"{type(data[key]).__name__}")
    return data


def _index(path, data: dict) -> tuple[dict, dict]:
    """``({category id: name}, {image id: image entry})``, every id checked.

    Ids are keyed by their text (``str(id)``): converters that write ``image_id: "1"`` for
    ``images[].id: 1`` are common, and an id given twice (even as 1 and "1") is an error
    naming both entries, instead of one entry silently replacing the other. So is a category
    name given twice: both categories would be drawn as one region.
    """
    cats, images = {}, {}
    named: dict[str, int] = {}  # category name -> its index
    for kind, items, out in (("categories", data.get("categories", []), cats),
                             ("images", data["images"], images)):
        first: dict[str, int] = {}
        for k, item in enumerate(items):
            if not isinstance(item, dict) or "id" not in item or not _key(item["id"]):
                raise DataError(f"{path}: {kind}[{k}] needs an integer or string 'id'")
            key = str(item["id"])
            if key in first:
                raise DataError(f"{path}: {kind}[{first[key]}] and {kind}[{k}] have the same "
                                f"id {key[:40]!r}; ids must be unique")
            first[key] = k
            if kind == "categories":
                if "name" not in item or isinstance(item["name"], (dict, list)):
                    raise DataError(f"{path}: categories[{k}] needs a 'name'")
                out[key] = str(item["name"])
                if out[key] in named:
                    raise DataError(f"{path}: categories[{named[out[key]]}] and categories[{k}] "
                                    f"have the same name {out[key][:40]!r}; names must be "
                                    "unique (each is a region: merge their annotations under "
                                    "one category, or rename one)")
                named[out[key]] = k
            else:
                out[key] = item
    return cats, images


@register_region_format("coco")
def load_coco(cfg: RegionsConfig, ids: list[str]) -> CocoRegions:
    """Read a COCO JSON file and match its images to the samples.

    Raises:
        DataError: the file's structure is not COCO (lists, ids, unknown category); the
            geometry of each annotation is checked later, per sample (``problems``).
    """
    path = cfg.path
    data = _read_json(path)
    cats, images = _index(path, data)
    names = {img_id: str(im.get("file_name", "")) for img_id, im in images.items()}
    found, _ = match_names(names.values(), ids)
    src = CocoRegions(names=sorted(set(cats.values())), files=[path])
    unmatched_images: set = set()
    empty = 0
    for k, ann in enumerate(data.get("annotations", [])):
        if not isinstance(ann, dict):
            raise DataError(f"{path}: annotations[{k}] is not an object")
        img_id, cat_id = ann.get("image_id"), ann.get("category_id")
        if not _key(img_id) or not _key(cat_id):
            raise DataError(f"{path}: annotation {_ann_id(ann)}: image_id and category_id must "
                            "be integers or strings")
        if str(cat_id) not in cats:
            raise DataError(f"{path}: annotation {_ann_id(ann)} has unknown category_id "
                            f"{str(cat_id)[:40]} (known: {', '.join(sorted(cats)[:20])})")
        img_id, cat_id = str(img_id), str(cat_id)
        sample = found.get(names.get(img_id, ""))
        if sample is None:
            unmatched_images.add(img_id)
            continue
        if draws_nothing(ann):
            empty += 1
            continue
        size = recorded_size(images[img_id])
        if isinstance(size, str):
            src.bad_sizes[sample] = f"{path}: image {img_id!r}: {size}"
            size = None
        src.by_id.setdefault(sample, []).append((cats[cat_id], ann, size))
    src.annotated = set(src.by_id)
    src.unmatched = len(unmatched_images)
    if empty:
        src.warnings.append(f"{empty} annotation(s) in {path} draw nothing (no polygon of 3 or "
                            "more points enclosing an area, no RLE, no bbox of positive size) "
                            "and were dropped")
    return src

"""Checks of COCO annotations before ``pycocotools`` sees them.

``pycocotools``' C code trusts its input: a polygon vertex at ``1e9`` makes it allocate and walk
billions of points, RLE counts that add up to more than ``height * width`` are written past the
end of the mask, a compressed RLE string that ends mid-number is read past its end. Each of those
ends the process (segmentation fault), which no ``try`` can catch. So every annotation is checked
here first (types, finiteness, bounds); one that fails makes its sample skipped with the reason.

Bounds: a polygon or box coordinate may lie outside the image by at most the image's size
(annotation tools let users drag slightly past the border; pycocotools clips), a mask
(``height * width`` of an RLE or of the recorded image size) may have at most
:func:`~auditor.data.regions.max_mask_pixels` pixels, and RLE counts must be non-negative and add
up to exactly ``height * width``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from auditor.data.regions import max_mask_pixels

__all__ = ["annotation_problem", "draws_nothing", "draws_area", "recorded_size",
           "rle_string_counts"]

_MAX_COUNT_CHARS = 13  # a 64-bit count needs at most 13 five-bit groups


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _size_problem(h: Any, w: Any, what: str) -> str | None:
    if not (isinstance(h, int) and isinstance(w, int)) or isinstance(h, bool) or isinstance(
            w, bool):
        return f"{what} must be two integers, got {h!r} x {w!r}"
    if h < 1 or w < 1:
        return f"{what} {h}x{w} is not positive"
    if h * w > max_mask_pixels():
        return (f"{what} {h}x{w} is larger than the {max_mask_pixels()}-pixel limit "
                "(PIL.Image.MAX_IMAGE_PIXELS)")
    return None


def recorded_size(image: dict) -> tuple[int, int] | str | None:
    """``(height, width)`` an ``images`` entry records, None when it records none, or a reason
    why the recorded size is unusable."""
    h, w = image.get("height"), image.get("width")
    if all(v is None or (_is_number(v) and v == 0) for v in (h, w)):  # false is not 0
        return None
    if isinstance(h, float) and h.is_integer():
        h = int(h)
    if isinstance(w, float) and w.is_integer():
        w = int(w)
    problem = _size_problem(h, w, "recorded image size")
    return problem if problem else (h, w)


def rle_string_counts(text: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``).

    Raises:
        ValueError: a character outside the alphabet, a number cut off at the end, an
            over-long number.
    """
    counts: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("compressed RLE string ends in the middle of a count")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"compressed RLE string has an invalid character {text[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if k > _MAX_COUNT_CHARS:
                raise ValueError("compressed RLE string has an over-long count")
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _rle_problem(seg: dict) -> str | None:
    size = seg.get("size")
    if not isinstance(size, list) or len(size) != 2:
        return f"RLE size must be [height, width], got {size!r}"
    h, w = size
    problem = _size_problem(h, w, "RLE size")
    if problem:
        return problem
    counts = seg["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            return "RLE counts must be integers"
    elif isinstance(counts, (str, bytes)):
        try:
            text = counts.decode("ascii") if isinstance(counts, bytes) else counts
            counts = rle_string_counts(text)
        except (ValueError, UnicodeDecodeError) as err:
            return str(err)
    else:
        return f"RLE counts must be a list or a string, not {type(counts).__name__}"
    if any(c < 0 or c >= 2**32 for c in counts):
        return "RLE counts must be non-negative 32-bit run lengths"
    if sum(counts) != h * w:
        return f"RLE counts add up to {sum(counts)} pixels, not {h}x{w} = {h * w}"
    return None


def _coords_problem(values: list, h: int, w: int, what: str) -> str | None:
    """Coordinates as the rasteriser will read them (``float(v)``): numbers (or numbers
    written as text, as converters write them), never ``true``/``false``, finite, bounded."""
    odd = [v for v in values if not (_is_number(v) or isinstance(v, str))]
    if odd:  # true/false, null, lists, objects
        return f"{what} coordinates must be numbers, got {json_text(odd[0])}"
    try:
        arr = np.array(values, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return f"{what} coordinates must be numbers"
    if arr.ndim != 1:
        return f"{what} coordinates must be a flat list of numbers"
    if not np.isfinite(arr).all():
        return f"{what} has a non-finite coordinate"
    xs, ys = arr[0::2], arr[1::2]
    if (xs.size and (xs.min() < -w or xs.max() > 2 * w)) or (
            ys.size and (ys.min() < -h or ys.max() > 2 * h)):
        return (f"{what} has a coordinate far outside the {w}x{h} image (more than the "
                "image's size beyond its border)")
    return None


def annotation_problem(ann: dict, height: int, width: int) -> str | None:
    """Why ``ann`` cannot be rasterised at ``height x width``, or None when it can."""
    seg, bbox = ann.get("segmentation"), ann.get("bbox")
    if isinstance(seg, dict) and "counts" in seg:
        problem = _rle_problem(seg)
        if problem:
            return problem
    elif seg is not None and not isinstance(seg, list):
        return "segmentation must be a list of polygons or an RLE {size, counts}"
    elif isinstance(seg, list):
        for poly in seg:
            if not isinstance(poly, list):
                return "segmentation must be a list of polygons (lists of x, y numbers)"
            problem = _coords_problem(poly, height, width, "polygon")
            if problem:
                return problem
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4:
            return f"bbox must be [x, y, width, height], got {json_text(bbox)}"
        problem = _coords_problem(bbox, height, width, "bbox")  # x, w as "x"; y, h as "y"
        if problem:
            return problem
        if float(bbox[2]) < 0 or float(bbox[3]) < 0:
            return "bbox width and height must not be negative"
    return None


def json_text(value: Any) -> str:
    """``value`` as the JSON file wrote it (``true``, ``null``, ``[1]``), cut to 40 characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _as_floats(values: list) -> np.ndarray | None:
    """``values`` as float64 when they are plain numbers or numbers as text, else None."""
    if not all(_is_number(v) or isinstance(v, str) for v in values):
        return None
    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None


def draws_area(poly: Any) -> bool:
    """Whether a polygon can draw pixels: 3 or more points enclosing an area (points on one
    line, e.g. ``[1, 2, 3, 4, 5, 6]``, draw nothing). A polygon that is not a flat list of
    finite numbers counts as drawing, so that :func:`annotation_problem` names it."""
    if not isinstance(poly, list):
        return True
    if len(poly) < 6:
        return False
    arr = _as_floats(poly)
    if arr is None or arr.ndim != 1 or arr.size % 2 or not np.isfinite(arr).all():
        return True
    x, y = arr[0::2] - arr[0], arr[1::2] - arr[1]  # relative to a vertex: no cancellation
    with np.errstate(all="ignore"):
        twice_area = float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    return not math.isfinite(twice_area) or twice_area != 0.0


def _box_draws(bbox: Any) -> bool:
    """Whether a bbox can draw pixels: a width and a height above 0 (a bbox that is not four
    finite numbers counts as drawing, so that :func:`annotation_problem` names it)."""
    arr = _as_floats(bbox) if isinstance(bbox, list) and len(bbox) == 4 else None
    if arr is None or arr.ndim != 1 or not np.isfinite(arr).all():
        return True
    w, h = arr[2], arr[3]
    return bool((w != 0 and h != 0) or w < 0 or h < 0)  # negative: refused by the checks


def draws_nothing(ann: dict) -> bool:
    """Whether a checked annotation has no pixels to draw: no RLE, no polygon of 3 or more
    points enclosing an area and no bbox of positive width and height (a stray click of an
    annotation tool, a polygon whose points lie on one line). It is dropped, not its
    sample."""
    seg = ann.get("segmentation")
    if seg is not None and not isinstance(seg, list):
        return False  # an RLE, or a malformed segmentation the checks name
    if isinstance(seg, list) and any(draws_area(p) for p in seg):
        return False
    return ann.get("bbox") is None or not _box_draws(ann["bbox"])

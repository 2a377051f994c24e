"""What happens to an image before the model, planned without torch.

The resize :class:`Geometry` of ``data.resize`` (``stretch``, ``center_crop``, ``letterbox``)
and the normalisation statistics of ``data.normalize``. :mod:`auditor.data.transforms` applies
them with torch for the model; :func:`preview` applies the geometry with PIL for the report's
thumbnails, so ``audit report`` needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from auditor.config import NormalizeStats

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Geometry", "normalize_stats", "plan_geometry",
           "preview"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ResizeMode = Literal["stretch", "center_crop", "letterbox"]


@dataclass(frozen=True)
class Geometry:
    """Where an ``H x W`` image goes in the ``size x size`` output.

    Attributes:
        size: output side.
        resized: ``(h, w)`` after resizing.
        top, left: for ``letterbox`` the paste origin inside the output; 0 otherwise.
        mode: the resize mode.
        crop: ``(top, left, h, w)`` cut from the original *before* resizing (``center_crop``:
            its central square), or None. Cutting first keeps the work and memory of one
            image bounded by the output: scaling a 1 x 2,000,000 image's short side to 224
            first would allocate gigabytes.
    """

    size: int
    resized: tuple[int, int]
    top: int
    left: int
    mode: ResizeMode
    crop: tuple[int, int, int, int] | None = None


def plan_geometry(height: int, width: int, size: int, mode: ResizeMode) -> Geometry:
    """Plan the resize of an ``height x width`` image to ``size x size``."""
    if mode == "stretch":
        return Geometry(size, (size, size), 0, 0, mode)
    if mode == "center_crop":
        side = min(height, width)
        return Geometry(size, (size, size), 0, 0, mode,
                        crop=((height - side) // 2, (width - side) // 2, side, side))
    if mode == "letterbox":
        scale = size / max(height, width)
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        return Geometry(size, (h, w), (size - h) // 2, (size - w) // 2, mode)
    raise ValueError(f"unknown resize mode {mode!r} (stretch, center_crop, letterbox)")


def normalize_stats(spec: str | NormalizeStats) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` for ``data.normalize``: ``imagenet``, ``none`` or explicit values."""
    if isinstance(spec, NormalizeStats):
        return tuple(spec.mean), tuple(spec.std)
    if spec == "imagenet":
        return IMAGENET_MEAN, IMAGENET_STD
    if spec == "none":
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    raise ValueError(f"unknown normalize value {spec!r} (imagenet, none or mean/std)")


def preview(path: Path, size: int, mode: ResizeMode, *, sample_id: str = "") -> np.ndarray:
    """``uint8 [size, size, 3]``: the image at ``path`` as the model saw it, before
    normalisation (PIL decode and bilinear resize with the same :class:`Geometry`).

    Raises:
        DataError: the file cannot be decoded (names the sample).
    """
    from auditor.data.images import load_image

    image = load_image(path, sample_id=sample_id, torch_decoder=False)
    geo = plan_geometry(image.shape[0], image.shape[1], size, mode)
    if geo.crop is not None:
        top, left, ch, cw = geo.crop
        image = np.ascontiguousarray(image[top:top + ch, left:left + cw])
    h, w = geo.resized
    resized = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))
    if geo.mode == "letterbox":
        out = np.zeros((size, size, 3), dtype=np.uint8)
        out[geo.top:geo.top + h, geo.left:geo.left + w] = resized
        return out
    return resized

"""Mask PNGs (``regions: {format: masks, path: FOLDER}``), in one of two layouts.

- One folder per region (``regions.names`` not set): ``FOLDER/<region>/<image>.png``; a pixel
  is in the region when the mask value is non-zero (for palette PNGs: the palette index).
- One indexed label PNG per image (``regions.names: {1: face, 2: object}``):
  ``FOLDER/<image>.png``; a pixel is in region ``names[v]`` when its value is ``v``; values
  not listed (0 usually) are no region.

Every mask file is checked when the data is loaded (full decode, size limit): a sample whose
mask is unreadable is skipped with the reason. Its values are read then too: a binary mask of
more than two values (a JPEG saved as .png) and label values ``names`` does not list (0
excepted: background; 255 is a common "ignore" label) are counted warnings naming the first
sample.

``<image>`` is the sample's relative path with its suffix replaced by ``.png``
(``doctor/a.jpg`` -> ``doctor/a.png``), or just its stem (``a.png``) when that stem is unique.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from auditor.config import RegionsConfig
from auditor.data.images import check_images
from auditor.data.regions import RegionSource, normalise_name, register_region_format, resize_mask
from auditor.errors import DataError

LAYOUT = ("masks, path FOLDER: either one folder per region, FOLDER/<region>/<image>.png "
          "(non-zero pixels are the region; folder names are the region names), or, with "
          "regions.names: {1: face, 2: object}, one label PNG per image, FOLDER/<image>.png, "
          "pixel value v belonging to region names[v]. <image> is the sample's path relative "
          "to data.root with .png as suffix (doctor/a.jpg -> doctor/a.png), or its bare stem "
          "when unique; masks are resized like their images")

__all__ = ["MaskRegions"]


_INDEX_MODES = ("P", "L", "1", "I", "I;16", "I;16B", "I;16L")


def _read_values(path: Path) -> np.ndarray:
    """Raw values of a mask PNG: palette indices for ``P``, grey levels otherwise."""
    try:
        with Image.open(path) as img:
            if img.mode in _INDEX_MODES:
                return np.asarray(img).astype(np.int64)
            return np.asarray(img.convert("L")).astype(np.int64)
    except Exception as err:  # noqa: BLE001 - PIL raises many types for bad files
        raise DataError(f"{path}: unreadable mask PNG ({type(err).__name__}: {err})") from None


def _read_pixels(path: Path) -> np.ndarray:
    """A binary mask PNG's pixels: ``[h, w]`` values (palette indices, grey levels) or
    ``[h, w, 3|4]`` RGB(A) colours (RGBA when it has transparency)."""
    try:
        with Image.open(path) as img:
            if img.mode in _INDEX_MODES:
                return np.asarray(img).astype(np.int64)
            return np.asarray(img.convert("RGBA") if "A" in img.getbands() or
                              "transparency" in img.info else img.convert("RGB"))
    except Exception as err:  # noqa: BLE001 - PIL raises many types for bad files
        raise DataError(f"{path}: unreadable mask PNG ({type(err).__name__}: {err})") from None


def _region_of(arr: np.ndarray) -> np.ndarray:
    """``bool [h, w]``: the pixels of a binary mask that belong to its region, the non-zero
    ones: any colour channel non-zero (a dark (0, 0, 1) counts: a conversion to grey rounded
    it to 0), transparent pixels excluded; a mask whose colour is black everywhere draws its
    region in the alpha channel (a transparent export) and is read from it."""
    if arr.ndim == 2:
        return arr > 0
    colour = (arr[..., :3] > 0).any(axis=-1)
    if arr.shape[-1] == 3:
        return colour
    alpha = arr[..., 3] > 0
    return colour & alpha if colour.any() else alpha


def _read_region(path: Path) -> np.ndarray:
    """:func:`_region_of` the pixels of a binary mask PNG."""
    return _region_of(_read_pixels(path))


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, sorted (a count per value when they fit 16
    bits: linear time, where sorting a large mask is not)."""
    flat = values.ravel()
    if flat.size and 0 <= flat.min() and flat.max() < 65536:
        return np.flatnonzero(np.bincount(flat))
    return np.unique(flat)


def _levels(arr: np.ndarray) -> np.ndarray:
    """A binary mask's pixels as one integer each: grey level or palette index, else colour
    (every transparent pixel the same value)."""
    if arr.ndim == 2:
        return arr
    packed = np.zeros(arr.shape[:2], np.int64)
    for c in range(arr.shape[-1]):
        packed = (packed << 8) | arr[..., c]
    return np.where(arr[..., 3] > 0, packed, -1) if arr.shape[-1] == 4 else packed


def _two_valued(levels: np.ndarray) -> bool:
    """Whether a mask holds at most two values (in linear time)."""
    other = levels[levels != levels.flat[0]] if levels.size else levels
    return other.size == 0 or not (other != other[0]).any()


def _shown(values: list[int]) -> str:
    return ", ".join(map(str, values[:8])) + (f" ... ({len(values)} values)"
                                              if len(values) > 8 else "")


def _candidates(sample_id: str, stem_count: dict[str, int]) -> list[str]:
    rel = posixpath.splitext(normalise_name(sample_id))[0] + ".png"
    stem = posixpath.basename(rel)
    return [rel, stem] if stem_count.get(stem, 0) == 1 and stem != rel else [rel]


def _index(folder: Path, ids: list[str]) -> tuple[dict[str, Path], int]:
    """``{id: mask file}`` for the masks in ``folder`` and the number of orphan mask files."""
    stems: dict[str, int] = {}
    for i in ids:
        s = posixpath.basename(posixpath.splitext(normalise_name(i))[0] + ".png")
        stems[s] = stems.get(s, 0) + 1
    files = {normalise_name(p.relative_to(folder).as_posix()): p
             for p in folder.rglob("*.png") if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)}
    found: dict[str, Path] = {}
    for i in ids:
        for cand in _candidates(i, stems):
            if cand in files:
                found[i] = files[cand]
                break
    used = {normalise_name(p.relative_to(folder).as_posix()) for p in found.values()}
    return found, len(set(files) - used)


@dataclass
class MaskRegions(RegionSource):
    """Mask files per region (``per_region``) or one label PNG per sample (``labels``)."""

    per_region: dict[str, dict[str, Path]] = field(default_factory=dict)  # region -> id -> file
    labels: dict[str, Path] = field(default_factory=dict)  # id -> label PNG
    index_names: dict[int, str] = field(default_factory=dict)
    mask_sizes: dict[str, set[tuple[int, int]]] = field(default_factory=dict)  # id -> (h, w)s

    def masks(self, sample_id: str, height: int, width: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for region, files in self.per_region.items():
            if sample_id in files:
                out[region] = resize_mask(_read_region(files[sample_id]), height, width)
        if sample_id in self.labels:
            values = _read_values(self.labels[sample_id])
            for index, region in self.index_names.items():
                m = resize_mask(values == index, height, width)
                out[region] = out[region] | m if region in out else m
        return out

    def problems(self, sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        """Every mask file of a usable sample is fully decoded once here (the same checks as
        images: size limit, corrupt data), so a bad one skips its sample instead of failing
        mid-audit; then its values are checked (:meth:`_check_values`)."""
        out = self._check_files(sizes)
        order = {i: k for k, i in enumerate(sizes)}  # "first" is the first in the data
        binary = sorted(((i, f) for region in self.per_region.values()
                         for i, f in region.items() if i in sizes and i not in out),
                        key=lambda item: order[item[0]])
        labels = sorted(((i, f) for i, f in self.labels.items() if i in sizes and i not in out),
                        key=lambda item: order[item[0]])
        self._check_values(binary, labels)
        return out

    def _check_values(self, binary: list[tuple[str, Path]],
                      labels: list[tuple[str, Path]]) -> None:
        """Counted warnings, naming the first sample, for what reading a mask silently
        changes: a binary mask holding more than two values (a JPEG saved as .png, soft edges:
        every non-zero value becomes the region), and label PNG values ``regions.names`` does
        not list, 0 excepted (those pixels are in no region)."""
        soft, first = 0, None  # each mask read once; the first one's values counted
        for i, f in binary:
            levels = _levels(_read_pixels(f))
            if not _two_valued(levels):
                soft += 1
                first = first or (i, f, len(np.unique(levels)))
        if first is not None:
            i, f, n = first
            self.warnings.append(
                f"{soft} mask PNG(s) hold more than two values, so every non-zero value "
                f"was read as the region (a JPEG saved as .png, or soft edges? first: sample "
                f"{i}, {f}: {n} values); save masks with two values")
        unlisted: list[tuple[str, Path, list[int]]] = []
        for i, f in labels:
            values = _distinct(_read_values(f))
            extra = [int(v) for v in values if v != 0 and int(v) not in self.index_names]
            if extra:
                unlisted.append((i, f, extra))
        if unlisted:
            i, f, extra = unlisted[0]
            every = sorted({v for *_, vs in unlisted for v in vs})
            self.warnings.append(
                f"{len(unlisted)} label PNG(s) hold pixel values data.regions.names does not "
                f"list ({_shown(every)}); those pixels are in no region (first: sample {i}, "
                f"{f}: {_shown(extra)})")

    def _check_files(self, sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        """``{id: reason}`` for the samples whose mask files fail the image checks or have
        another aspect ratio than their image."""
        out: dict[str, str] = {}
        files = [(i, f) for region in self.per_region.values() for i, f in region.items()]
        todo = [(i, f) for i, f in files + list(self.labels.items()) if i in sizes]
        for (sample_id, path), result in zip(todo, check_images([f for _, f in todo]),
                                             strict=True):
            if isinstance(result, str):
                out.setdefault(sample_id, f"mask {result}")
                continue
            mw, mh = result  # check_images gives (width, height)
            self.mask_sizes.setdefault(sample_id, set()).add((mh, mw))
            h, w = sizes[sample_id]
            if abs(mh * w - mw * h) > 0.02 * max(mh * w, mw * h):
                out.setdefault(sample_id, (
                    f"mask {path} is {mw}x{mh} for a {w}x{h} image: another "
                    "aspect ratio cannot be placed without distortion (a mask of another image, "
                    "or drawn on a JPEG before its EXIF rotation)"))
        return out

    def size_mismatches(self, sizes: dict[str, tuple[int, int]]) -> int:
        return sum(1 for i, seen in self.mask_sizes.items()
                   if i in sizes and any(hw != sizes[i] for hw in seen))


@register_region_format("masks")
def load_masks(cfg: RegionsConfig, ids: list[str]) -> MaskRegions:
    """Index the mask PNGs under ``cfg.path`` (no pixels are read here)."""
    folder = Path(cfg.path)
    if not folder.is_dir():
        raise DataError(f"{folder}: format masks needs a folder of mask PNGs, not a file")
    if cfg.names:
        labels, orphans = _index(folder, ids)
        names = sorted(set(cfg.names.values()))
        src = MaskRegions(names=names, labels=labels, index_names=dict(cfg.names))
        src.files = sorted(labels.values())
    else:
        regions = sorted(p.name for p in folder.iterdir()
                         if p.is_dir() and not p.name.startswith("."))
        if not regions:
            raise DataError(f"{folder}: no region sub-folders (expected {folder}/<region>/"
                            "<image>.png, or set data.regions.names for label PNGs)")
        src = MaskRegions(names=regions)
        orphans = 0
        for region in regions:
            src.per_region[region], n = _index(folder / region, ids)
            orphans += n
            src.files += sorted(src.per_region[region].values())
    src.annotated = set(src.labels) | {i for f in src.per_region.values() for i in f}
    src.unmatched = orphans
    return src

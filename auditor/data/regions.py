"""Region annotations: a registry of formats, each turning annotation files into masks.

A region format is registered with ``@register_region_format("name")`` on a factory
``factory(cfg: RegionsConfig, ids: list[str]) -> RegionSource``, where ``ids`` are the sample
ids (manifest paths, posix, relative to the data root). Built in: ``coco`` (pycocotools:
polygons, compressed and uncompressed RLE, bbox-only annotations, ``iscrowd``), ``masks``
(one PNG per region and image, or one indexed label PNG per image with ``regions.names``) and
``boxes_csv`` (``path,region,x,y,w,h``).

Overlap rule: a pixel may belong to several regions at once (a hand in front of a face is in
both); masks are independent booleans. ``background`` is the set of pixels in *no* annotated
region, so it is always the complement of the union. The name ``background`` is reserved.

Masks are produced at the image's original size in its displayed (EXIF-rotated) frame, the
frame annotators see; a mask stored at another size is rescaled (nearest neighbour) and the
mismatch is reported in the source's ``warnings``.

File names in annotation files are matched to sample ids by relative path first, then by
base name when that base name is unique among the samples.
"""

from __future__ import annotations

import importlib
import posixpath
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from auditor.common.names import BACKGROUND
from auditor.common.registry import Registry
from auditor.config import RegionsConfig
from auditor.errors import DataError

__all__ = ["BACKGROUND", "ItemRegions", "RegionSource", "get_region_format",
           "list_region_formats", "load_regions", "match_names", "max_mask_pixels",
           "region_format_layout",
           "register_region_format", "resize_mask"]

_BUILTIN = ("coco", "masks", "boxes_csv")
_FORMATS: Registry[Callable[[RegionsConfig, list[str]], RegionSource]] = Registry(
    "region format", error=DataError, where="data.regions.format: ",
    loader=lambda: _load_builtin())


@dataclass
class RegionSource:
    """Annotations of one file/folder, rasterised on demand (memory flat in dataset size).

    Subclasses implement :meth:`masks`. Attributes:
        names: region names, sorted.
        annotated: ids of samples that have at least one annotation.
        unmatched: number of annotated images in the file that are not samples.
        warnings: one-line notes for the user (counts, rescaled masks ...).
        files: files whose bytes identify the annotations (for the data hash).
    """

    names: list[str] = field(default_factory=list)
    annotated: set[str] = field(default_factory=set)
    unmatched: int = 0
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def masks(self, sample_id: str, height: int, width: int) -> dict[str, np.ndarray]:
        """Masks of one sample: ``{region: bool [height, width]}`` (regions it has)."""
        raise NotImplementedError

    def problems(self, sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        """Samples whose annotations cannot be rasterised safely: ``{id: one-line reason}``.

        Called once at load time with the real image sizes (``{id: (h, w)}``) so that every
        coordinate and size is checked (finite, bounded by the image) before a rasteriser sees
        it; those samples are skipped with the reason instead of failing mid-audit.
        """
        return {}

    def size_mismatches(self, sizes: dict[str, tuple[int, int]]) -> int:
        """How many samples' annotations were made at another size than ``sizes[id]`` (h, w)."""
        return 0


def region_format_layout(name: str) -> str:
    """The user-facing description of format ``name``'s files (its module's ``LAYOUT``)."""
    factory = get_region_format(name)
    module = sys.modules.get(getattr(factory, "__module__", ""), None)
    return str(getattr(module, "LAYOUT", name))


@dataclass
class ItemRegions:
    """What a dataset item needs to build its masks (picklable for DataLoader workers)."""

    names: list[str]  # annotated + auto names, sorted (background excluded)
    source: RegionSource | None
    auto_faces: bool


def max_mask_pixels() -> int:
    """The largest mask (``height * width``) rasterised: PIL's decompression-bomb limit, the
    bound images are held to."""
    return int(Image.MAX_IMAGE_PIXELS or 89_478_485)


def normalise_name(name: str) -> str:
    """Posix form of a relative path (``./a\\b.png`` -> ``a/b.png``)."""
    return posixpath.normpath(str(name).replace("\\", "/")).removeprefix("./")


def match_names(names: Iterable[str], ids: list[str]) -> tuple[dict[str, str], list[str]]:
    """Match annotation file names to sample ids.

    Args:
        names: file names as written in the annotation file.
        ids: sample ids.

    Returns:
        ``({name: id}, [names that match no sample])``. A name matches by relative path, else
        by base name if exactly one sample has that base name.
    """
    by_id = {normalise_name(i): i for i in ids}
    base_count: dict[str, int] = {}
    base_to_id: dict[str, str] = {}
    for i in ids:
        b = posixpath.basename(normalise_name(i))
        base_count[b] = base_count.get(b, 0) + 1
        base_to_id[b] = i
    found, missing = {}, []
    for name in names:
        n = normalise_name(name)
        if n in by_id:
            found[name] = by_id[n]
            continue
        b = posixpath.basename(n)
        if base_count.get(b) == 1:
            found[name] = base_to_id[b]
        else:
            missing.append(name)
    return found, missing


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of a ``bool [h, w]`` mask to ``[height, width]``."""
    if mask.shape == (height, width):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((width, height), Image.NEAREST)) > 127


def register_region_format(name: str) -> Callable:
    """Decorator registering a region format factory under ``name``."""
    return _FORMATS.decorator(name, lambda factory: factory)


def _load_builtin() -> None:
    for mod in _BUILTIN:
        importlib.import_module(f"auditor.data.region_formats.{mod}")


def list_region_formats() -> list[str]:
    """Names of the registered region formats, sorted."""
    return _FORMATS.names()


def get_region_format(name: str) -> Callable[[RegionsConfig, list[str]], RegionSource]:
    """The factory of a format.

    Raises:
        DataError: unknown format (suggests the closest, lists the valid ones).
    """
    return _FORMATS.get(name)


def load_regions(cfg: RegionsConfig, ids: list[str]) -> RegionSource:
    """Read the annotations named by ``data.regions``.

    Args:
        cfg: the ``data.regions`` section (``format`` not None).
        ids: sample ids to match annotations to.

    Raises:
        DataError: unknown format, missing file, unreadable or malformed annotations.
    """
    factory = get_region_format(str(cfg.format))
    if cfg.path is None:
        raise DataError(f"data.regions.path: give the {cfg.format} annotation "
                        f"{'folder' if cfg.format == 'masks' else 'file'} for format {cfg.format}")
    if not Path(cfg.path).exists():
        raise DataError(f"{cfg.path}: region annotations not found; set data.regions.path to "
                        f"your {cfg.format} annotations or remove data.regions")
    source = factory(cfg, ids)
    if BACKGROUND in source.names:
        raise DataError(f"{cfg.path}: the region name 'background' is reserved (pixels in no "
                        "region); rename that category")
    if source.unmatched:
        source.warnings.append(f"{source.unmatched} annotated image(s) in {cfg.path} are not in "
                               "the dataset; their annotations were ignored")
    return source

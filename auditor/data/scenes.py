"""The "scenes" generator: a Waterbirds-style dataset built from real photos.

Each image is a real object photo cut out as an ellipse and pasted on a crop of a real scene
photo. The class is the object: ``cat`` (the cat of scikit-image's ``chelsea``) or ``cup``
(scikit-image's ``coffee``); each paste takes a jittered crop, size, position, mirror and
brightness, so no two objects are alike. The attribute ``scene`` is the background:
``nature`` (scikit-learn's ``flower.jpg``, scikit-image's ``grass``) or ``urban``
(scikit-learn's ``china.jpg``, scikit-image's ``rocket``, ``brick`` and the motorcycle garage),
a random crop of one of them, mirrored at random. In the ``train`` split the scene agrees with
the class (cat <-> nature, cup <-> urban) in a share ``cfg.bias`` of the images of each class;
``val`` and ``test`` are balanced over class x scene. The object covers about 10-20% of the
image, the background (everything else) 80-90%: a shortcut far larger than the object.

The photos ship inside scikit-learn (a dependency) and scikit-image (the optional extra
``auditor[scenes]``); nothing is downloaded. Output, under ``out_dir``, as for the clinic
generator: ``images/<split>/<id>.png``, ``manifest.csv`` (``path,label,split,scene``),
``regions.json`` (COCO, category ``object``; the background is every other pixel) and
``params.json``. Images depend only on (seed, split, index).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from auditor.common.files import atomic_write_bytes
from auditor.config import SyntheticConfig
from auditor.data.synth_io import begin_dataset, is_cached, png_bytes, write_dataset
from auditor.data.synthetic import SPLIT_SEEDS, split_plan
from auditor.errors import DataError

__all__ = ["CLASSES", "GENERATOR_VERSION", "SCENES", "generate_scenes", "photo_crop",
           "render_image", "scenes_table"]

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
CLASSES = ("cat", "cup")
SCENES = ("nature", "urban")  # SCENES[i] agrees with CLASSES[i]
#: Object photos: (centre x, centre y, radius) of the object in the photo, in pixels.
OBJECTS = {"cat": ("chelsea", (235, 140, 120)), "cup": ("coffee", (290, 165, 140))}
#: Scene photos per scene value; grey textures get a tint.
BACKGROUNDS = {"nature": ("flower", "grass"), "urban": ("china", "rocket", "brick", "motorcycle")}
TINTS = {"grass": (0.75, 1.05, 0.6), "brick": (1.05, 0.8, 0.7)}
OBJECT_SIDE = (0.36, 0.5)  # object diameter, share of the image side
NOISE_STD = 4.0
ANNOTATION_PAD_PX = 0.5
INSTALL_HINT = ("data.synthetic.kind: scenes needs scikit-image (its photos are the objects "
                "and scenes): pip install 'auditor[scenes]'")


@cache
def _photo(name: str) -> np.ndarray:
    """``uint8 [H, W, 3]`` of a photo shipped inside scikit-learn or scikit-image."""
    if name in ("flower", "china"):
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(f"{name}.jpg"))
    try:
        import skimage.data as sk
    except ImportError:
        raise DataError(INSTALL_HINT) from None
    img = sk.stereo_motorcycle()[0] if name == "motorcycle" else getattr(sk, name)()
    if img.ndim == 2:
        tint = np.asarray(TINTS.get(name, (1.0, 1.0, 1.0)))
        img = np.clip(img[..., None] * tint, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[..., :3])


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.BILINEAR), dtype=np.float32)


def _background(rng: np.random.Generator, scene: str, size: int) -> np.ndarray:
    return photo_crop(rng, BACKGROUNDS[scene][int(rng.integers(len(BACKGROUNDS[scene])))], size)


def photo_crop(rng: np.random.Generator, name: str, size: int) -> np.ndarray:
    """``float32 [size, size, 3]``: a random square crop (35-80% of the photo's short side)
    of one of :data:`BACKGROUNDS`' photos, mirrored at random."""
    photo = _photo(name)
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.35, 0.8))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = photo[y:y + side, x:x + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return _resize(np.ascontiguousarray(crop), size)


def _object(rng: np.random.Generator, label: str, side: int) -> np.ndarray:
    name, (cx, cy, r) = OBJECTS[label]
    photo = _photo(name)
    r = r * rng.uniform(0.85, 1.1)
    cx, cy = cx + rng.uniform(-0.15, 0.15) * r, cy + rng.uniform(-0.15, 0.15) * r
    h, w = photo.shape[:2]
    x0, y0 = int(max(0, cx - r)), int(max(0, cy - r))
    x1, y1 = int(min(w, cx + r)), int(min(h, cy + r))
    crop = photo[y0:y1, x0:x1]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return _resize(np.ascontiguousarray(crop), side) * rng.uniform(0.8, 1.15)


def _ellipse(cx: float, cy: float, rx: float, ry: float, pad: float, k: int = 32) -> list:
    return [(cx + (rx + pad) * math.cos(2 * math.pi * i / k),
             cy + (ry + pad) * math.sin(2 * math.pi * i / k)) for i in range(k)]


def render_image(seed: int, split: str, index: int, label: str, scene: str, size: int
                 ) -> tuple[np.ndarray, dict[str, list]]:
    """One image and its object polygon.

    Returns:
        ``(uint8 [size, size, 3], {"object": [polygon]})``; the polygon (pixels) is the pasted
        ellipse grown by :data:`ANNOTATION_PAD_PX`.
    """
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index, 11])
    img = _background(rng, scene, size)
    side = max(4, int(round(size * rng.uniform(*OBJECT_SIDE))))
    obj = _object(rng, label, side)
    x0, y0 = (int(rng.integers(0, size - side + 1)) for _ in range(2))
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    r = side / 2.0
    inside = ((xx - r) ** 2 + (yy - r) ** 2) <= r ** 2
    patch = img[y0:y0 + side, x0:x0 + side]
    patch[inside] = obj[inside]
    img = img + rng.normal(0.0, NOISE_STD, img.shape)
    pixels = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return pixels, {"object": [_ellipse(x0 + r, y0 + r, r, r, ANNOTATION_PAD_PX)]}


def _stamp(cfg: SyntheticConfig, seed: int) -> dict:
    return {"generator": "scenes", "version": GENERATOR_VERSION, "seed": seed,
            "config": cfg.model_dump(mode="json"), "object_side": list(OBJECT_SIDE),
            "backgrounds": {k: list(v) for k, v in BACKGROUNDS.items()}}


def _plan(cfg: SyntheticConfig, seed: int) -> list[tuple[str, int, str, str]]:
    """``(split, index, label, scene)`` of every image, in the manifest's order."""
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    return [(split, i, label, scene) for split, n in sizes.items()
            for i, (label, scene) in enumerate(split_plan(
                split, n, cfg.bias, np.random.default_rng([seed, SPLIT_SEEDS[split]]),
                classes=CLASSES, values=SCENES))]


def _rel_path(split: str, index: int) -> str:
    return f"images/{split}/{split}_{index:05d}.png"


def scenes_table(cfg: SyntheticConfig, *, seed: int) -> list[tuple[str, str, str, str]]:
    """The rows ``(path, label, split, scene)`` of the manifest :func:`generate_scenes`
    writes, without drawing an image (for ``audit rebalance``)."""
    return [(_rel_path(split, i), label, split, scene) for split, i, label, scene
            in _plan(cfg, seed)]


def generate_scenes(out_dir: Path, cfg: SyntheticConfig, *, seed: int,
                    progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the scenes dataset (images, manifest, COCO regions) and return the manifest path.

    Raises:
        DataError: scikit-image is not installed (one line naming the extra).
    """
    out_dir = Path(out_dir)
    manifest = out_dir / "manifest.csv"
    stamp = _stamp(cfg, seed)
    if is_cached(out_dir, stamp):
        log.info("scenes dataset already in %s (same parameters)", out_dir)
        return manifest
    for label in CLASSES:  # fail before writing anything when a photo is missing
        _photo(OBJECTS[label][0])
    begin_dataset(out_dir, stamp)
    plan = _plan(cfg, seed)
    total = len(plan)
    rows: list[tuple[str, str, str, str]] = []
    polygons: list[dict] = []
    for split in ("train", "val", "test"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
    for done, (split, i, label, scene) in enumerate(plan, start=1):
        pixels, polys = render_image(seed, split, i, label, scene, cfg.image_size)
        rel = _rel_path(split, i)
        atomic_write_bytes(out_dir / rel, png_bytes(pixels), fsync=False)
        rows.append((rel, label, split, scene))
        polygons.append(polys)
        if progress is not None and (done % 100 == 0 or done == total):
            progress(done, total)
    write_dataset(out_dir, rows, polygons, columns=["path", "label", "split", "scene"],
                  categories=[("object", "object")], size=cfg.image_size, stamp=stamp,
                  description="auditor scenes synthetic dataset")
    log.info("wrote %d scenes images to %s", total, out_dir)
    return manifest

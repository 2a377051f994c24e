"""Handwritten digits on scene photos for ``bench/validity.py``: a second Waterbirds-style set.

The ``scenes`` generator pastes a solid object photo that fills its annotation. Users' digit
sets differ in two ways this set reproduces: the object is thin strokes (real handwriting:
scikit-learn's ``load_digits``, 1797 digits of 43 writers, 8x8 px) and its annotation is a
**bounding box**, so the expected region holds background too.

* Two classes (default): ``zero`` and ``one``; the attribute ``scene`` is the background (a
  crop of the scenes generator's nature or urban photos), agreeing with the class (zero <->
  nature, one <-> urban) in a share ``bias`` of train images, balanced in test.
* Four classes (``four=True``): ``zero`` to ``three``, each with a photo of its own
  (:data:`PHOTOS4`, ``scene`` is the photo's name) in a share ``bias`` of its train images,
  the other three evenly in the rest; test balanced over the 16 cells.

Train and test digits are disjoint samples (the first 70% of each digit's samples in file
order train). The digit is drawn as light strokes 17-23 px high on a 48 px image (its box
covers 10-20% of the image) over a dark halo, so light strokes stay legible on a light sky.
Busy photos still hide strokes: the null sets hold a real difficulty gap between photos
(measured on their holdout split, docs/validity.md), which the audit rightly reports.

Writes ``images/``, ``manifest.csv`` and COCO ``regions.json`` (category ``digit``, bbox only)
under ``out`` and returns the config's ``data`` section.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from auditor.data.scenes import SCENES, _background, photo_crop
from auditor.data.synthetic import split_plan

SIZE = 48
CLASSES = ("zero", "one")  # CLASSES[i] agrees with SCENES[i] in train
DIGITS = {"zero": 0, "one": 1, "two": 2, "three": 3}
#: The four-class set: each digit has a photo of its own (``scene`` is the photo's name).
CLASSES4 = ("zero", "one", "two", "three")
PHOTOS4 = ("flower", "grass", "brick", "china")
HEIGHT_PX = (17, 23)
TRAIN_SHARE = 0.7  # of each digit's samples, in file order (writers differ across the set)


def _plan4(split: str, n: int, bias: float, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(label, photo) per image of the four-class set: in train each class's own photo in a
    share ``bias`` of its images, the other three evenly in the rest; balanced elsewhere."""
    cells: list[tuple[str, str]] = []
    for c, cls in enumerate(CLASSES4):
        n_cls = n // 4 + (1 if c < n % 4 else 0)
        if split == "train":
            own = int(round(bias * n_cls))
            others = [p for p in PHOTOS4 if p != PHOTOS4[c]]
            cells += [(cls, PHOTOS4[c])] * own
            cells += [(cls, others[k % 3]) for k in range(n_cls - own)]
        else:
            cells += [(cls, PHOTOS4[k % 4]) for k in range(n_cls)]
    return [cells[i] for i in rng.permutation(len(cells))]


def _digit_pool(seed: int) -> dict[tuple[str, str], np.ndarray]:
    """``(split, class) -> float [n, 8, 8]`` in 0..1: disjoint train / test samples."""
    from sklearn.datasets import load_digits

    d = load_digits()
    pools = {}
    for cls, digit in DIGITS.items():
        imgs = d.images[d.target == digit] / 16.0
        cut = int(len(imgs) * TRAIN_SHARE)
        pools[("train", cls)], pools[("test", cls)] = imgs[:cut], imgs[cut:]
    return pools


def _paint(rng: np.random.Generator, digit: np.ndarray, scene: str
           ) -> tuple[np.ndarray, list[float]]:
    """One image: a scene crop with the digit's strokes blended in; returns the pixels and the
    digit's bounding box ``[x, y, w, h]`` (its inked pixels, grown by half a pixel)."""
    img = (photo_crop(rng, scene, SIZE) if scene in PHOTOS4
           else _background(rng, scene, SIZE))
    h = int(rng.integers(HEIGHT_PX[0], HEIGHT_PX[1] + 1))
    w = max(6, int(round(h * rng.uniform(0.7, 0.9))))
    alpha = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize(
        (w, h), Image.BILINEAR), dtype=np.float32)[..., None] / 255.0
    x0, y0 = int(rng.integers(0, SIZE - w + 1)), int(rng.integers(0, SIZE - h + 1))
    ink = np.clip(np.array([235.0, 235.0, 225.0]) * rng.uniform(0.9, 1.05), 0, 255)
    halo = np.asarray(Image.fromarray((alpha[..., 0] * 255).astype(np.uint8)).filter(
        ImageFilter.MaxFilter(3)).filter(ImageFilter.GaussianBlur(1)), np.float32)[..., None]
    halo = 0.75 * halo / 255.0
    patch = img[y0:y0 + h, x0:x0 + w]
    patch = patch * (1 - halo) + 25.0 * halo
    img[y0:y0 + h, x0:x0 + w] = patch * (1 - alpha) + ink * alpha
    img = img + rng.normal(0.0, 4.0, img.shape)
    inked = np.argwhere(alpha[..., 0] > 0.15)
    (ty, tx), (by, bx) = inked.min(0), inked.max(0) + 1
    box = [x0 + tx - 0.5, y0 + ty - 0.5, float(bx - tx + 1), float(by - ty + 1)]
    box[0], box[1] = max(0.0, box[0]), max(0.0, box[1])
    box[2], box[3] = min(box[2], SIZE - box[0]), min(box[3], SIZE - box[1])
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), box


def generate(seed: int, out: Path, *, bias: float, n_train: int = 1200, n_test: int = 400,
             n_val: int = 0, four: bool = False) -> dict:
    """Write the dataset under ``out`` (skipped when its manifest exists: a rescore) and
    return the config's ``data`` section. ``n_val``: a ``val`` split drawn like ``test``
    (the bench's holdout: fresh data on which a finding must replicate). ``four``: the
    four-class set (digits 0-3, each with a photo of its own: :data:`PHOTOS4`)."""
    out = Path(out)
    manifest = out / "manifest.csv"
    data = {"manifest": str(manifest), "attributes": ["scene"], "image_size": SIZE,
            "regions": {"format": "coco", "path": str(out / "regions.json")},
            "audit_split": "test", "normalize": "none"}
    if manifest.exists():
        return data
    pools = _digit_pool(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows, images, anns = [], [], []
    for split, n in (("train", n_train), ("test", n_test), ("val", n_val)):
        plan_rng = np.random.default_rng([seed, 5, len(split)])
        plan = (_plan4(split, n, bias, plan_rng) if four else
                split_plan(split, n, bias, plan_rng, classes=CLASSES, values=SCENES))
        for i, (label, scene) in enumerate(plan):
            rng = np.random.default_rng([seed, len(split), i, 23])
            pool = pools[("train" if split == "train" else "test", label)]
            pixels, box = _paint(rng, pool[int(rng.integers(len(pool)))], scene)
            path = f"images/{split}_{i:05d}.png"
            Image.fromarray(pixels).save(out / path)
            k = len(images) + 1
            rows.append({"path": path, "label": label, "split": split, "scene": scene})
            images.append({"id": k, "file_name": path, "width": SIZE, "height": SIZE})
            anns.append({"id": k, "image_id": k, "category_id": 1, "bbox": box,
                         "area": box[2] * box[3], "iscrowd": 0})
    (out / "regions.json").write_text(json.dumps({
        "images": images, "annotations": anns, "categories": [{"id": 1, "name": "digit"}]}))
    with open(manifest, "w", newline="") as f:  # last: its presence marks a finished set
        writer = csv.DictWriter(f, ["path", "label", "split", "scene"])
        writer.writeheader()
        writer.writerows(rows)
    return data

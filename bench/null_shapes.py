"""Null datasets of other shapes for ``bench/validity.py``: more classes, class imbalance,
many-valued attributes, every attribute independent of the class.

The clinic and scenes null cases have two balanced classes and one binary attribute, so they
cannot show a false alarm that needs a class harder than the others (a slice of that class
reported as a subgroup, a blurred background that sends every class to one). Here the class is
the shape of a small object (circle, square, triangle, cross; radius 6-9 px, colour far from
the background's mean) at a random spot on a random-texture background with pixel noise, and a
9x9 solid colour square (region ``tint_patch``, never on the object) whose colour is an
attribute. COCO regions ``object`` (polygon) and ``tint_patch``.

========================  =========================  ========================================
shape                     classes                    attributes (drawn independently)
========================  =========================  ========================================
``4x2``                   4, balanced                ``tint`` (background warm / cool),
                                                     ``patch`` (red / green / blue)
``imbalanced``            3, 60 / 30 / 10 %          ``tint`` = patch colour, red / blue 80/20
``6val``                  2, balanced                ``patch``: 6 colours, 35 to 4 %
========================  =========================  ========================================
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 48
SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 40), "blue": (40, 60, 230),
           "yellow": (230, 220, 40), "magenta": (210, 40, 210), "cyan": (40, 210, 210)}
TINTS = {"warm": (1.25, 1.0, 0.75), "cool": (0.75, 1.0, 1.25)}
PATCH = 9

#: shape -> classes, class shares, attributes ``{name: (values, shares)}``, the attribute that
#: tints the background (or None) and the one that colours the patch.
SPECS: dict[str, dict] = {
    "4x2": {"classes": SHAPES, "class_p": [0.25] * 4,
            "attrs": {"tint": (["warm", "cool"], [0.5, 0.5]),
                      "patch": (["red", "green", "blue"], [1 / 3] * 3)},
            "tint_attr": "tint", "patch_attr": "patch"},
    "imbalanced": {"classes": SHAPES[:3], "class_p": [0.6, 0.3, 0.1],
                   "attrs": {"tint": (["red", "blue"], [0.8, 0.2])},
                   "tint_attr": None, "patch_attr": "tint"},
    "6val": {"classes": SHAPES[:2], "class_p": [0.5, 0.5],
             "attrs": {"patch": (list(COLOURS), [0.35, 0.25, 0.18, 0.12, 0.06, 0.04])},
             "tint_attr": None, "patch_attr": "patch"},
}


def _polygon(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if kind == "circle":
        return [(cx + r * math.cos(t), cy + r * math.sin(t))
                for t in np.linspace(0, 2 * math.pi, 20, endpoint=False)]
    if kind == "square":
        r *= 0.85
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.8), (cx - r * 0.95, cy + r * 0.8)]
    a, b = r, r * 0.35  # cross
    return [(cx - b, cy - a), (cx + b, cy - a), (cx + b, cy - b), (cx + a, cy - b),
            (cx + a, cy + b), (cx + b, cy + b), (cx + b, cy + a), (cx - b, cy + a),
            (cx - b, cy + b), (cx - a, cy + b), (cx - a, cy - b), (cx - b, cy - b)]


def _image(rng: np.random.Generator, cls: str, tint: tuple[float, ...],
           patch: tuple[int, ...]) -> tuple[Image.Image, list, list[float]]:
    low = rng.normal(0, 1, (6, 6, 3))
    low = ((low - low.min()) / (np.ptp(low) + 1e-9) * 255).astype(np.uint8)
    low = np.asarray(Image.fromarray(low).resize((SIZE, SIZE), Image.BICUBIC), dtype=float)
    img = (0.5 * low + 0.5 * rng.uniform(60, 200, (SIZE, SIZE, 3))) * np.array(tint)
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    r = rng.uniform(6, 9)
    cx, cy = rng.uniform(r + 1, SIZE - r - 1, 2)
    poly = _polygon(cls, cx, cy, r)
    mean = np.asarray(im, float).reshape(-1, 3).mean(0)
    colour = np.clip(mean + rng.choice([-1, 1]) * rng.uniform(60, 100) + rng.normal(0, 25, 3),
                     0, 255)
    draw.polygon(poly, fill=tuple(int(v) for v in colour))
    for _ in range(100):  # a patch off the object's box
        px, py = (int(v) for v in rng.integers(0, SIZE - PATCH, 2))
        if (px + PATCH < cx - r - 1 or px > cx + r + 1 or py + PATCH < cy - r - 1
                or py > cy + r + 1):
            break
    draw.rectangle([px, py, px + PATCH - 1, py + PATCH - 1], fill=patch)
    noisy = np.asarray(im, float) + rng.normal(0, 15, (SIZE, SIZE, 3))
    return (Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)), poly,
            [float(px), float(py), float(PATCH), float(PATCH)])


def generate(shape: str, seed: int, out: Path, *, n_train: int = 1500, n_val: int = 300,
             n_test: int = 500) -> dict:
    """Write ``images/``, ``manifest.csv`` and COCO ``regions.json`` under ``out``; return the
    config's ``data`` section."""
    spec = SPECS[shape]
    rng = np.random.default_rng(1000 * (list(SPECS).index(shape) + 1) + seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    attrs = spec["attrs"]
    rows, images, anns = [], [], []
    for i in range(n_train + n_val + n_test):
        split = "train" if i < n_train else "val" if i < n_train + n_val else "test"
        cls = spec["classes"][rng.choice(len(spec["classes"]), p=spec["class_p"])]
        vals = {a: v[rng.choice(len(v), p=p)] for a, (v, p) in attrs.items()}
        tint = TINTS[vals[spec["tint_attr"]]] if spec["tint_attr"] else (1.0, 1.0, 1.0)
        im, poly, (x, y, w, h) = _image(rng, cls, tint, COLOURS[vals[spec["patch_attr"]]])
        path = f"images/{i:05d}.png"
        im.save(out / path)
        rows.append({"path": path, "label": cls, "split": split, **vals})
        images.append({"id": i + 1, "file_name": path, "width": SIZE, "height": SIZE})
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        anns.append({"id": 2 * i + 1, "image_id": i + 1, "category_id": 1,
                     "segmentation": [[c for p in poly for c in p]],
                     "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                     "area": (max(xs) - min(xs)) * (max(ys) - min(ys)) * 0.7, "iscrowd": 0})
        anns.append({"id": 2 * i + 2, "image_id": i + 1, "category_id": 2,
                     "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                     "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "label", "split", *attrs])
        writer.writeheader()
        writer.writerows(rows)
    (out / "regions.json").write_text(json.dumps({
        "images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "object"}, {"id": 2, "name": "tint_patch"}]}))
    return {"manifest": str(out / "manifest.csv"), "attributes": list(attrs),
            "regions": {"format": "coco", "path": str(out / "regions.json")},
            "image_size": SIZE, "audit_split": "test"}

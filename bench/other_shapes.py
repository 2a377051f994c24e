"""Planted-shortcut datasets of shapes the bench was not tuned on (the ``other-*`` cases of
:mod:`bench.validity`, outside its default sweep; docs/validity.md, "Other shortcut shapes").

Every case writes, under OUT: images/<split>_<i>.png (48 px), manifest.csv
(path,label,split,<attributes>), masks/<region>/images/<split>_<i>.png (the `masks` region
format, one folder per region) and meta.json (attribute, planted value per class, regions).

Cases (bias = share of each class's TRAIN images whose cue value is the class's own; test is
balanced over class x value):
  frame     cat/cup photo in the middle on a random photo (any scene, independent of the class);
            a 3 px border red (cat) / blue (cup). Regions: object, frame. Attribute frame.
  bigobj    scenes-like, but the object's diameter is 0.75-0.85 of the side (~45-57% of the
            image). Regions: object. Attribute scene (nature=cat, urban=cup).
  three     three classes (cat, cup, astronaut photo crops) on three photos (flower, brick,
            grass); each class with its own photo in `bias` of train, the other two evenly.
  sticker   scenes (object 36-50% of the side) + a 9x9 px sticker in the top-right corner,
            yellow or green at random (independent of the class, attribute sticker), the scene
            (nature/urban) the shortcut. Regions: object, sticker.
  texture   cat/cup photo on a procedural texture: stripes (cat) vs dots (cup), colours drawn
            from the same distribution for both. Attribute texture.
  randpos   cat/cup photo on a random photo (independent); a 7x7 px marker square, magenta
            (cat) / cyan (cup), at a random position per image, not on the object. Regions:
            object, marker (per-image). Attribute marker.
"""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from auditor.data.scenes import (  # noqa: E402
    BACKGROUNDS,
    _background,
    _object,
    _resize,
    photo_crop,
)

SIZE = 48
ALL_PHOTOS = [p for v in BACKGROUNDS.values() for p in v]


def plan(split, n, bias, classes, values, rng):
    cells = []
    k = len(classes)
    if split == "train":
        for c, cls in enumerate(classes):
            n_cls = n // k + (1 if c < n % k else 0)
            own = int(round(bias * n_cls))
            others = [v for v in values if v != values[c]]
            cells += [(cls, values[c])] * own
            cells += [(cls, others[j % len(others)]) for j in range(n_cls - own)]
    else:
        grid = [(c, v) for c in classes for v in values]
        for i, cell in enumerate(grid):
            cells += [cell] * (n // len(grid) + (1 if i < n % len(grid) else 0))
    return [cells[i] for i in rng.permutation(len(cells))]


def astronaut(rng, side):
    import skimage.data as sk
    photo = sk.astronaut()
    cx, cy, r = 230, 150, 130
    r = r * rng.uniform(0.85, 1.1)
    cx, cy = cx + rng.uniform(-0.15, 0.15) * r, cy + rng.uniform(-0.15, 0.15) * r
    crop = photo[int(max(0, cy - r)):int(cy + r), int(max(0, cx - r)):int(cx + r)]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return _resize(np.ascontiguousarray(crop), side) * rng.uniform(0.8, 1.15)


def paste_object(rng, img, label, side_range, lo=0, hi=SIZE):
    """Paste a round object photo; returns its boolean mask."""
    side = max(4, int(round(SIZE * rng.uniform(*side_range))))
    side = min(side, hi - lo)
    obj = astronaut(rng, side) if label == "astronaut" else _object(rng, label, side)
    x0, y0 = (int(rng.integers(lo, hi - side + 1)) for _ in range(2))
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    r = side / 2.0
    inside = ((xx - r) ** 2 + (yy - r) ** 2) <= r ** 2
    patch = img[y0:y0 + side, x0:x0 + side]
    patch[inside] = obj[inside]
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y0:y0 + side, x0:x0 + side] = inside
    return mask


def texture(rng, kind):
    c1 = rng.uniform(30, 225, 3)
    c2 = rng.uniform(30, 225, 3)
    while np.abs(c1 - c2).sum() < 150:
        c2 = rng.uniform(30, 225, 3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    if kind == "stripes":
        a = rng.uniform(0, math.pi)
        period = rng.uniform(5, 9)
        t = (xx * math.cos(a) + yy * math.sin(a)) / period + rng.uniform(0, 1)
        on = (t % 1.0) < 0.5
    else:
        spacing = rng.uniform(5, 9)
        rad = rng.uniform(1.2, 2.2)
        ox, oy = rng.uniform(0, spacing, 2)
        dx = ((xx - ox) % spacing) - spacing / 2
        dy = ((yy - oy) % spacing) - spacing / 2
        on = dx ** 2 + dy ** 2 <= rad ** 2
    img = np.where(on[..., None], c1, c2).astype(np.float32)
    return img


def degraded_object(rng, img, label, side_range):
    """Paste the object, then degrade it: grey, 35% contrast, blurred. Returns the image and
    the object's mask."""
    from PIL import ImageFilter

    base = img.copy()
    m = paste_object(rng, img, label, side_range)
    grey = img.mean(axis=2, keepdims=True).repeat(3, axis=2)
    grey = 128 + 0.35 * (grey - grey[m].mean())
    grey = np.asarray(Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(1.5)), np.float32)
    return np.where(m[..., None], grey, base), m


def render(case, rng, label, value):
    """-> (uint8 image, {region: bool mask})."""
    regions = {}
    if case == "frame":
        img = photo_crop(rng, ALL_PHOTOS[int(rng.integers(len(ALL_PHOTOS)))], SIZE)
        regions["object"] = paste_object(rng, img, label, (0.36, 0.5), lo=3, hi=SIZE - 3)
        col = np.array([205, 35, 35]) if value == "red" else np.array([35, 35, 205])
        col = col * rng.uniform(0.85, 1.1) + rng.normal(0, 8, 3)
        frame = np.ones((SIZE, SIZE), bool)
        frame[3:-3, 3:-3] = False
        img[frame] = col
        regions["frame"] = frame
    elif case == "bigobj":
        img = _background(rng, value, SIZE)
        regions["object"] = paste_object(rng, img, label, (0.75, 0.85))
    elif case == "bigobj_hard":
        # the big object degraded (the background ~45-55%, colour)
        img, regions["object"] = degraded_object(rng, _background(rng, value, SIZE), label,
                                                 (0.75, 0.85))
    elif case == "texture_hard":
        # the object degraded as in bigobj_hard, on stripes/dots
        img, regions["object"] = degraded_object(rng, texture(rng, value), label, (0.36, 0.5))
    elif case == "bigobj_subtle":
        # a grey disc 75-85% of the side (~45-57% of the image) whose class is a faint
        # diagonal grating (cat: '/', cup: '\\', 8 grey levels of contrast) on nature/urban photos
        img = _background(rng, value, SIZE)
        side = int(round(SIZE * rng.uniform(0.75, 0.85)))
        x0, y0 = (int(rng.integers(0, SIZE - side + 1)) for _ in range(2))
        yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
        r = side / 2.0
        m = ((xx - x0 - r) ** 2 + (yy - y0 - r) ** 2) <= r ** 2
        sign = 1.0 if label == "cat" else -1.0
        period = rng.uniform(5, 8)
        g = np.sin(2 * np.pi * (xx + sign * yy) / (period * 1.414) + rng.uniform(0, 6.3))
        disc = rng.uniform(100, 160) + 8.0 * g
        img[m] = disc[m][:, None]
        regions["object"] = m
    elif case == "bigobj_noisy":
        # bigobj, but the caller shows the other class's object in 20% of train images
        # (label noise on the object; the label and the scene plan unchanged)
        img = _background(rng, value, SIZE)
        regions["object"] = paste_object(rng, img, label, (0.75, 0.85))
    elif case == "three":
        img = photo_crop(rng, value, SIZE)
        regions["object"] = paste_object(rng, img, label, (0.36, 0.5))
    elif case == "sticker":
        scene, sticker = value
        img = _background(rng, scene, SIZE)
        obj = paste_object(rng, img, label, (0.36, 0.5))
        st = np.zeros((SIZE, SIZE), bool)
        st[2:11, SIZE - 11:SIZE - 2] = True
        col = np.array([230, 210, 40]) if sticker == "yellow" else np.array([40, 200, 60])
        img[st] = col * rng.uniform(0.9, 1.05)
        regions["object"] = obj & ~st
        regions["sticker"] = st
    elif case == "texture":
        img = texture(rng, value)
        regions["object"] = paste_object(rng, img, label, (0.36, 0.5))
    elif case == "randpos":
        img = photo_crop(rng, ALL_PHOTOS[int(rng.integers(len(ALL_PHOTOS)))], SIZE)
        obj = paste_object(rng, img, label, (0.36, 0.5))
        for _ in range(200):
            x, y = (int(v) for v in rng.integers(0, SIZE - 7 + 1, 2))
            m = np.zeros((SIZE, SIZE), bool)
            m[y:y + 7, x:x + 7] = True
            if not (m & obj).any():
                break
        col = np.array([220, 40, 220]) if value == "magenta" else np.array([40, 220, 220])
        img[m] = col * rng.uniform(0.9, 1.05)
        regions["object"] = obj
        regions["marker"] = m
    else:
        raise ValueError(case)
    img = img + rng.normal(0.0, 4.0, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), regions


CASES = {
    # case: (classes, attribute, values (values[i] planted with classes[i]), regions,
    #        spurious regions, planted region)
    "frame": (("cat", "cup"), "frame", ("red", "blue"), ["object", "frame"],
              ["frame", "background"], "frame"),
    "bigobj": (("cat", "cup"), "scene", ("nature", "urban"), ["object"], ["background"],
               "background"),
    "bigobj_hard": (("cat", "cup"), "scene", ("nature", "urban"), ["object"], ["background"],
                    "background"),
    "texture_hard": (("cat", "cup"), "texture", ("stripes", "dots"), ["object"], ["background"],
                     "background"),
    "bigobj_subtle": (("cat", "cup"), "scene", ("nature", "urban"), ["object"], ["background"],
                      "background"),
    "bigobj_noisy": (("cat", "cup"), "scene", ("nature", "urban"), ["object"], ["background"],
                     "background"),
    "three": (("cat", "cup", "astronaut"), "scene", ("flower", "brick", "grass"), ["object"],
              ["background"], "background"),
    "sticker": (("cat", "cup"), "scene", ("nature", "urban"), ["object", "sticker"],
                ["sticker", "background"], "background"),
    "texture": (("cat", "cup"), "texture", ("stripes", "dots"), ["object"], ["background"],
                "background"),
    "randpos": (("cat", "cup"), "marker", ("magenta", "cyan"), ["object", "marker"],
                ["marker", "background"], "marker"),
}


def generate(case, bias, seed, out, n_train=1200, n_test=400):
    out = Path(out)
    classes, attr, values, region_names, spurious, planted = CASES[case]
    if case == "three" and n_test % 9:
        n_test = 9 * round(n_test / 9)
    (out / "images").mkdir(parents=True, exist_ok=True)
    for r in region_names:
        (out / "masks" / r / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in (("train", n_train), ("test", n_test)):
        p = plan(split, n, bias, classes, values, np.random.default_rng([seed, 5, len(split)]))
        st_rng = np.random.default_rng([seed, 9, len(split)])
        noise_rng = np.random.default_rng([seed, 13, len(split)])
        for i, (label, value) in enumerate(p):
            rng = np.random.default_rng([seed, len(split), i, 31])
            row = {"path": f"images/{split}_{i:05d}.png", "label": label, "split": split,
                   attr: value}
            v = value
            if case == "sticker":
                row["sticker"] = "yellow" if st_rng.random() < 0.5 else "green"
                v = (value, row["sticker"])
            shown = label
            if case == "bigobj_noisy" and split == "train" and noise_rng.random() < 0.2:
                shown = [c for c in classes if c != label][0]
            pixels, regions = render(case, rng, shown, v)
            Image.fromarray(pixels).save(out / row["path"])
            for r, m in regions.items():
                Image.fromarray((m * 255).astype(np.uint8)).save(out / "masks" / r / row["path"])
            rows.append(row)
    cols = list(rows[0])
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    attrs = [attr] + (["sticker"] if case == "sticker" else [])
    meta = {"case": case, "bias": bias, "seed": seed, "attribute": attr, "attributes": attrs,
            "agrees": dict(zip(classes, values, strict=True)), "regions": region_names,
            "spurious": spurious, "planted": planted}
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


if __name__ == "__main__":
    case, bias, seed, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    print(generate(case, bias, seed, out))

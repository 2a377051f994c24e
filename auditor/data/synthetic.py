"""The embedded "clinic" generator: a controlled doctor/nurse dataset with a planted bias.

Each image is a cartoon person (head, hair, coat, hands) on a textured gradient background,
holding a small object that defines the class: ``doctor`` holds a stethoscope, ``nurse`` a
syringe (see :mod:`auditor.data.clinic_draw`). The attribute ``hair`` (``dark`` / ``blond``) is a
large, obvious colour area. In the ``train`` split class and hair agree (doctor <-> dark,
nurse <-> blond) in a share ``cfg.bias`` of the images of each class, so a model can take the
shortcut; ``val`` and ``test`` are balanced over class x hair (equal counts per cell, the
remainder spread one by one), so the shortcut shows up as a gap between cells.

Output, under ``out_dir``::

    images/<split>/<id>.png   RGB, cfg.image_size square
    manifest.csv              path,label,split,hair   (paths relative to out_dir; with
                              ``corner_mark`` set, one more column ``corner_mark`` 0/1 that is
                              NOT an attribute of the audit: the ground truth of a planted,
                              unannotated cue)
    regions.json              COCO: categories face (head + hair) and object, polygons
    params.json               stamp: a second call with the same parameters returns at once

With ``cfg.corner_mark`` set, a small red square (:data:`MARK_BOX`, about 6% of the side) is
painted in the top-left corner of some images and is in no region annotation: in ``train`` it
agrees with the class (present on doctors, absent on nurses) in a share ``corner_mark`` of the
images of each class; ``val`` / ``test`` carry it on half of each class. It is the planted cue
of the ``mark-0.95`` / ``mark-null`` cases of ``bench/validity.py`` (0.95: a shortcut; 0.5:
independent of the class).

Every file is written atomically (temp file + ``os.replace``); ``params.json`` is written last,
so an interrupted run is redone. A non-empty ``out_dir`` that is not such a dataset is refused
(:func:`auditor.data.synth_io.begin_dataset`). Images depend only on (seed, split, index):
the same seed gives the same bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from auditor.common.files import atomic_write_bytes
from auditor.common.procs import die_with_parent
from auditor.config import SyntheticConfig
from auditor.data.clinic_draw import (
    ClinicStyle,
    Scene,
    render_scene,
    sample_scene,
    scene_polygons,
)
from auditor.data.synth_io import begin_dataset, is_cached, png_bytes, write_dataset

__all__ = ["ANNOTATION_PAD_PX", "CLASSES", "DEFAULT_STYLE", "GENERATOR_VERSION", "HAIR",
           "MARK_BOX", "clinic_table", "generate_clinic", "mark_plan", "paint_mark", "scene_for",
           "split_plan"]

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
CLASSES = ("doctor", "nurse")
HAIR = ("dark", "blond")  # HAIR[i] agrees with CLASSES[i]
DEFAULT_STYLE = ClinicStyle()
ANNOTATION_PAD_PX = 0.8  # polygons are grown by this much so anti-aliased edges are covered
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}
#: The corner mark: (x0, y0, x1, y1) as shares of the image side, and its colour.
MARK_BOX = (0.05, 0.05, 0.11, 0.11)
MARK_COLOUR = (220, 30, 40)


def split_plan(split: str, n: int, bias: float, rng: np.random.Generator,
               classes: tuple[str, str] = CLASSES, values: tuple[str, str] = HAIR
               ) -> list[tuple[str, str]]:
    """The (label, attribute value) of every image of a split, shuffled.

    Args:
        split: ``train`` (biased) or ``val`` / ``test`` (balanced over class x value).
        n: number of images.
        bias: share of train images per class whose value agrees with the class
            (``values[i]`` agrees with ``classes[i]``).
        rng: shuffling source.
        classes, values: the two classes and the two attribute values (default: clinic).

    Returns:
        ``n`` pairs ``(label, hair)``.
    """
    cells: list[tuple[str, str]] = []
    if split == "train":
        for c, cls in enumerate(classes):
            n_cls = n // 2 + (1 if c < n % 2 else 0)
            n_agree = int(round(bias * n_cls))
            cells += [(cls, values[c])] * n_agree + [(cls, values[1 - c])] * (n_cls - n_agree)
    else:
        grid = [(cls, h) for cls in classes for h in values]
        for i, cell in enumerate(grid):
            cells += [cell] * (n // 4 + (1 if i < n % 4 else 0))
    order = rng.permutation(len(cells))
    return [cells[i] for i in order]


def mark_plan(split: str, labels: list[str], agree: float | None,
              rng: np.random.Generator) -> list[bool]:
    """Whether each image of a split carries the corner mark.

    Args:
        split: ``train`` (the mark agrees with the class in a share ``agree`` of each class:
            present on doctors, absent on nurses) or ``val`` / ``test`` (half of each class,
            the remainder rounded down).
        labels: the class of every image, in order.
        agree: ``SyntheticConfig.corner_mark``; None = no image gets the mark.
        rng: the choice of images.
    """
    marks = [False] * len(labels)
    if agree is None:
        return marks
    for cls in CLASSES:
        idx = [i for i, lab in enumerate(labels) if lab == cls]
        order = rng.permutation(len(idx))
        if split == "train":
            n_agree = int(round(agree * len(idx)))
            for rank, j in enumerate(order):
                agrees = rank < n_agree
                marks[idx[j]] = agrees == (cls == CLASSES[0])
        else:
            for rank, j in enumerate(order):
                marks[idx[j]] = rank < len(idx) // 2
    return marks


def paint_mark(pixels: np.ndarray) -> np.ndarray:
    """Paint the corner mark (:data:`MARK_BOX`) on a uint8 ``[S, S, 3]`` image, in place."""
    side = pixels.shape[0]
    x0, y0, x1, y1 = (int(round(v * side)) for v in MARK_BOX)
    pixels[y0:y1, x0:x1] = MARK_COLOUR
    return pixels


def scene_for(seed: int, split: str, index: int, label: str, hair: str,
              style: ClinicStyle) -> tuple[Scene, np.random.Generator]:
    """The scene of image ``index`` of ``split`` and the generator that draws its noise."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], index, 7])
    return sample_scene(rng, label, hair, style), rng


def _stamp(cfg: SyntheticConfig, seed: int, style: ClinicStyle) -> dict:
    return {"generator": "clinic", "version": GENERATOR_VERSION, "seed": seed,
            "config": cfg.model_dump(mode="json", exclude={"corner_mark"}
                                     if cfg.corner_mark is None else None),
            "style": asdict(style),
            "annotation_pad_px": ANNOTATION_PAD_PX}


#: Below this many images the generator renders in-process; above, in a process pool.
PARALLEL_MIN_IMAGES = 400


def _render_chunk(args: tuple) -> list[tuple[str, str, str, str, bool, dict]]:
    """Render and write a chunk of images (runs in a worker process)."""
    out_dir, jobs, seed, size, style = args
    out = []
    for split, i, label, hair, mark in jobs:
        scene, rng = scene_for(seed, split, i, label, hair, style)
        pixels = render_scene(scene, size, style, noise_rng=rng)
        if mark:
            paint_mark(pixels)
        rel = _rel_path(split, i)
        atomic_write_bytes(out_dir / rel, png_bytes(pixels), fsync=False)  # params.json seals
        out.append((rel, label, split, hair, mark,
                    scene_polygons(scene, size, pad_px=ANNOTATION_PAD_PX)))
    return out


def _render_all(out_dir: Path, jobs: list[tuple[str, int, str, str, bool]], seed: int,
                size: int,
                style: ClinicStyle, progress: Callable[[int, int], None] | None):
    """Yield rendered images in job order; a process pool for large datasets.

    Every image depends only on (seed, split, index), so the result does not depend on the
    number of workers.
    """
    total = len(jobs)
    workers = min(os.cpu_count() or 1, 4)
    chunk = 100
    chunks = [(out_dir, jobs[k:k + chunk], seed, size, style) for k in range(0, total, chunk)]
    done = 0
    if total < PARALLEL_MIN_IMAGES or workers < 2:
        results = map(_render_chunk, chunks)
        pool = None
    else:
        import concurrent.futures
        import multiprocessing

        # the workers end with this process, even when it is killed (kill -9, OOM)
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork"),
            initializer=die_with_parent, initargs=(os.getpid(),))
        results = pool.map(_render_chunk, chunks)
    try:
        for part in results:
            yield from part
            done += len(part)
            if progress is not None:
                progress(done, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _rel_path(split: str, i: int) -> str:
    """Path of image ``i`` of ``split``, relative to the dataset folder (its sample id)."""
    return f"images/{split}/{split}_{i:05d}.png"


def _jobs(cfg: SyntheticConfig, seed: int) -> list[tuple[str, int, str, str, bool]]:
    """``(split, index, label, hair, corner_mark)`` of every image, in writing order."""
    sizes = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}
    jobs: list[tuple[str, int, str, str, bool]] = []
    for split, n in sizes.items():
        plan = split_plan(split, n, cfg.bias, np.random.default_rng([seed, SPLIT_SEEDS[split]]))
        marks = mark_plan(split, [label for label, _ in plan], cfg.corner_mark,
                          np.random.default_rng([seed, SPLIT_SEEDS[split], 11]))
        jobs += [(split, i, label, hair, mark)
                 for i, ((label, hair), mark) in enumerate(zip(plan, marks, strict=True))]
    return jobs


def clinic_table(cfg: SyntheticConfig, *, seed: int) -> list[tuple[str, str, str, str]]:
    """The rows ``(path, label, split, hair)`` of the manifest :func:`generate_clinic` writes,
    without drawing an image (for ``audit rebalance`` and ``audit validate``)."""
    return [(_rel_path(split, i), label, split, hair) for split, i, label, hair, _ in
            _jobs(cfg, seed)]


def generate_clinic(out_dir: Path, cfg: SyntheticConfig, *, seed: int,
                    progress: Callable[[int, int], None] | None = None,
                    style: ClinicStyle | None = None) -> Path:
    """Write the clinic dataset (images, manifest, COCO regions) and return the manifest path.

    Args:
        out_dir: folder to write into (created if needed).
        cfg: sizes, bias and image size.
        seed: everything is derived from it (numpy ``Generator``).
        progress: called as ``progress(done, total)`` while images are written.
        style: drawing knobs; default :data:`DEFAULT_STYLE`.

    Returns:
        ``out_dir / "manifest.csv"``.
    """
    style = style or DEFAULT_STYLE
    out_dir = Path(out_dir)
    manifest = out_dir / "manifest.csv"
    stamp = _stamp(cfg, seed, style)
    if is_cached(out_dir, stamp):
        log.info("clinic dataset already in %s (same parameters)", out_dir)
        return manifest
    begin_dataset(out_dir, stamp)
    size = cfg.image_size
    jobs = _jobs(cfg, seed)
    total = len(jobs)
    for split in SPLIT_SEEDS:
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
    with_mark = cfg.corner_mark is not None
    rows: list[tuple] = []
    polygons: list[dict] = []
    for rel, label, split, hair, mark, polys in _render_all(out_dir, jobs, seed, size, style,
                                                            progress):
        rows.append((rel, label, split, hair, int(mark)) if with_mark
                    else (rel, label, split, hair))
        polygons.append(polys)
    write_dataset(out_dir, rows, polygons,
                  columns=["path", "label", "split", "hair"]
                  + (["corner_mark"] if with_mark else []),
                  categories=[("face", "person"), ("object", "object")], size=size,
                  stamp=stamp, description="auditor clinic synthetic dataset")
    log.info("wrote %d clinic images to %s", total, out_dir)
    return manifest

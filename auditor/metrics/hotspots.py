"""Average attention maps and off-region hotspots (cues nobody annotated).

Pure numpy / pandas functions on the low-resolution maps the audit pass keeps (``maps/``,
``saliency.map_size`` square). Each map is first normalised to sum 1 (its attention mass
distribution; all-zero maps are left out), so a mean map is "where the attention of an average
image in the cell goes" and ``lift = mean map x h x w`` compares it with a uniform map.

Hotspots: attention that falls outside every annotated region is the map times ``1 - cover``
(``cover`` = the share of each low-resolution cell inside an annotated region, per image). In
every cell of samples (all, each class, each class x attribute value, right / wrong answers)
with at least ``min_cell`` samples, that off-region mean map is compared with a uniform map;
the low-resolution cells whose lift reaches ``min_lift`` in some cell form connected
components (4-neighbourhood), and the components no larger than ``max_area`` of the image,
ranked by the off-region mass they hold in their best cell, become the synthetic regions
``hotspot_1`` .. ``hotspot_n``. Per image a hotspot is its fixed mask minus the image's
annotated pixels, so an annotated object that often sits there is never counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics.base import pct
from auditor.metrics.groups import attribute_values

__all__ = ["Hotspot", "analysis_cells", "downsample", "find_hotspots", "hotspot_mass",
           "mean_maps", "normalised_maps", "place"]


@dataclass
class Hotspot:
    """One off-region hotspot.

    Attributes:
        name: ``hotspot_<k>`` (k from 1, strongest first).
        mask: ``bool [h, w]`` at the maps' low resolution.
        box: ``[x0, y0, x1, y1]`` bounding box as shares of the image side.
        cell: the cell of samples where it is strongest.
        peak_lift: the highest off-region lift inside it, in that cell.
        cell_mass: the off-region attention mass it holds in that cell (mean per image).
    """

    name: str
    mask: np.ndarray
    box: list[float]
    cell: str
    peak_lift: float
    cell_mass: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "box": [round(v, 4) for v in self.box], "cell": self.cell,
                "peak_lift": round(float(self.peak_lift), 4),
                "cell_mass": round(float(self.cell_mass), 4),
                "area": round(float(self.mask.mean()), 4),
                "mask": self.mask.astype(int).tolist()}


def normalised_maps(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each map divided by its sum.

    Args:
        maps: ``[N, h, w]`` non-negative maps.

    Returns:
        ``(normalised [N, h, w] float64, valid bool [N])``; rows of all-zero (or non-finite)
        maps are zero and not valid.
    """
    m = np.nan_to_num(np.asarray(maps, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    m = np.clip(m, 0, None)
    total = m.sum(axis=(1, 2))
    valid = total > 0
    out = np.zeros_like(m)
    out[valid] = m[valid] / total[valid, None, None]
    return out, valid


def mean_maps(maps: np.ndarray, cells: Mapping[str, np.ndarray]
              ) -> dict[str, tuple[np.ndarray, int]]:
    """The mean normalised map of every cell.

    Args:
        maps: ``[N, h, w]`` non-negative maps.
        cells: cell name -> ``bool [N]`` membership.

    Returns:
        ``{cell: (mean [h, w] summing to 1 (zeros when empty), n valid maps)}``.
    """
    norm, valid = normalised_maps(maps)
    out = {}
    for name, member in cells.items():
        rows = np.asarray(member, dtype=bool) & valid
        n = int(rows.sum())
        out[name] = (norm[rows].mean(axis=0) if n else np.zeros(norm.shape[1:]), n)
    return out


def analysis_cells(df: pd.DataFrame, attributes: Sequence[str]) -> dict[str, np.ndarray]:
    """The cells of samples the maps are averaged over, in display order.

    ``all``; ``class <c>``; ``class <c> · <attr>=<v>``; ``right answers`` / ``wrong answers``.

    Args:
        df: per-sample table of ONE model (``label``, ``correct``, attribute columns).
        attributes: attribute columns.

    Returns:
        cell name -> ``bool [len(df)]``.
    """
    labels = df["label"].astype(str).to_numpy()
    cells: dict[str, np.ndarray] = {"all": np.ones(len(df), dtype=bool)}
    for cls in sorted(set(labels)):
        cells[f"class {cls}"] = labels == cls
    for cls in sorted(set(labels)):
        for attr in attributes:
            values = attribute_values(df, attr).to_numpy()
            for v in sorted(set(values[labels == cls])):
                cells[f"class {cls} · {attr}={v}"] = (labels == cls) & (values == v)
    if "correct" in df.columns:
        correct = df["correct"].astype(bool).to_numpy()
        cells["right answers"] = correct
        cells["wrong answers"] = ~correct
    return cells


def find_hotspots(maps: np.ndarray, cover: np.ndarray | None, cells: Mapping[str, np.ndarray],
                  *, n: int = 3, min_lift: float = 2.0, max_area: float = 0.25,
                  min_cell: int = 10) -> list[Hotspot]:
    """Areas of consistent attention outside every annotated region (see the module docs).

    Args:
        maps: ``[N, h, w]`` non-negative low-resolution maps (one method).
        cover: ``[N, h, w]`` share of each low-resolution cell inside an annotated region, or
            None when nothing is annotated.
        cells: cell name -> ``bool [N]`` (e.g. :func:`analysis_cells`).
        n: most hotspots returned.
        min_lift: off-region mean attention per pixel, relative to a uniform map, that a
            low-resolution cell must reach in some cell of samples.
        max_area: largest hotspot as a share of the image (larger blobs are not a spot).
        min_cell: cells of samples with fewer valid maps are not looked at.

    Returns:
        Up to ``n`` hotspots, strongest first, named ``hotspot_1`` ...
    """
    if n <= 0 or len(maps) == 0:
        return []
    norm, valid = normalised_maps(maps)
    off = norm if cover is None else norm * (1.0 - np.clip(np.asarray(cover, float), 0, 1))
    h, w = off.shape[1:]
    means = {}
    for name, member in cells.items():
        rows = np.asarray(member, dtype=bool) & valid
        if rows.sum() >= min_cell:
            means[name] = off[rows].mean(axis=0)
    if not means:
        return []
    lifts = np.stack(list(means.values())) * (h * w)  # [cells, h, w]
    from scipy import ndimage  # here: the report reads hotspots without labelling any

    labelled, count = ndimage.label(lifts.max(axis=0) >= min_lift)
    found = []
    for k in range(1, count + 1):
        mask = labelled == k
        if mask.mean() > max_area:
            continue
        held = {name: float(m[mask].sum()) for name, m in means.items()}
        best = max(held, key=lambda c: (held[c], c))
        ys, xs = np.nonzero(mask)
        found.append((held[best], best, mask, [xs.min() / w, ys.min() / h, (xs.max() + 1) / w,
                                               (ys.max() + 1) / h],
                      float((means[best] * h * w)[mask].max())))
    found.sort(key=lambda t: (-t[0], t[1]))
    return [Hotspot(name=f"hotspot_{i + 1}", mask=mask, box=[float(v) for v in box], cell=cell,
                    peak_lift=peak, cell_mass=mass)
            for i, (mass, cell, mask, box, peak) in enumerate(found[:n])]


def hotspot_mass(maps: np.ndarray, cover: np.ndarray | None, mask: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per image: attention mass and area of a hotspot (its mask minus annotated pixels).

    Args:
        maps: ``[N, h, w]`` non-negative maps (one method).
        cover: ``[N, h, w]`` annotated share per low-resolution cell, or None.
        mask: ``bool [h, w]`` the hotspot.

    Returns:
        ``(mass [N], area [N])``: the share of each map's total inside the hotspot (NaN for an
        all-zero map) and the share of the image the hotspot covers.
    """
    norm, valid = normalised_maps(maps)
    inside = np.broadcast_to(np.asarray(mask, dtype=float), norm.shape)
    if cover is not None:
        inside = inside * (1.0 - np.clip(np.asarray(cover, dtype=float), 0, 1))
    mass = (norm * inside).sum(axis=(1, 2))
    mass[~valid] = np.nan
    return mass, inside.mean(axis=(1, 2))


def place(box: Sequence[float]) -> str:
    """Where a box ``[x0, y0, x1, y1]`` (shares of the side) lies, in words."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else "middle"
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "centre"
    where = "centre" if (row, col) == ("middle", "centre") else f"{row} {col}".replace(
        "middle ", "").replace(" centre", "")
    corner = " corner" if row != "middle" and col != "centre" else ""
    return (f"{where}{corner} (x {pct(box[0])}–{pct(box[2])}, "
            f"y {pct(box[1])}–{pct(box[3])} of the image)")



def downsample(mean: np.ndarray, side: int = 16) -> list[list[float]]:
    """A mean map block-averaged to at most ``side`` x ``side`` (rounded, for summary.json)."""
    h, w = mean.shape
    fy, fx = max(1, -(-h // side)), max(1, -(-w // side))
    hh, ww = -(-h // fy) * fy, -(-w // fx) * fx
    padded = np.zeros((hh, ww))
    padded[:h, :w] = mean
    small = padded.reshape(hh // fy, fy, ww // fx, fx).sum(axis=(1, 3))
    return np.round(small, 5).tolist()

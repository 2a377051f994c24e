"""Figures of the "cues nobody annotated" section: average maps and concept patches.

Plain arrays in, PNG data URIs out (drawn with PIL; the report lays the panels out in HTML).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from PIL import Image

from auditor.report.figures import CMAP, array_to_uri, upsample

#: Side in pixels of each average-map panel (mean image, mean map).
PANEL_PX = 128
_OUTLINE = (0, 229, 255)


def _edges(mask: np.ndarray, size: int) -> np.ndarray:
    """The outline pixels of a low-resolution bool mask upsampled to ``size``."""
    up = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
        (size, size), Image.NEAREST)) > 127
    inner = up.copy()
    inner[1:-1, 1:-1] = (up[1:-1, 1:-1] & up[:-2, 1:-1] & up[2:, 1:-1] & up[1:-1, :-2]
                         & up[1:-1, 2:])
    inner[[0, -1], :] = False
    inner[:, [0, -1]] = False
    return up & ~inner


def average_map_panels(panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
                       hotspots: Sequence[tuple[str, np.ndarray]] = (),
                       size: int = PANEL_PX) -> tuple[list[dict[str, str]], float]:
    """Per cell its mean image and its mean map as lift over the (faded) mean image, one
    colour scale for every cell, hotspots outlined and numbered (drawn with PIL; the report
    lays the panels out in HTML).

    Args:
        panels: ``(title, mean image uint8 [S, S, 3], mean map [h, w] summing to 1)``.
        hotspots: ``(name, bool [h, w])`` outlined on every map, numbered as ``hotspot_<k>``.

    Returns:
        ``([{"title", "image", "map"} (PNG data URIs)], vmax)``: the lift at the top of the
        shared colour scale.
    """
    from PIL import ImageDraw

    vmax = max((float(m.max() * m.size) for _, _, m in panels), default=1.0) or 1.0
    edges = [(name.rsplit("_", 1)[-1], _edges(mask, size)) for name, mask in hotspots]
    out = []
    for title, image, mean in panels:
        img = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
                         .resize((size, size), Image.BILINEAR), dtype=np.float32)
        lift = np.clip(upsample(mean * mean.size, size) / vmax, 0, 1)
        heat = colormaps[CMAP](lift)[..., :3] * 255.0
        faded = 0.45 * img + 0.55 * 255.0
        blend = np.clip(0.35 * faded + 0.65 * heat, 0, 255).astype(np.uint8)
        for _, edge in edges:
            blend[edge] = _OUTLINE
        canvas = Image.fromarray(blend)
        draw = ImageDraw.Draw(canvas)
        for number, edge in edges:
            ys, xs = np.nonzero(edge)
            if len(xs):
                draw.text((int(xs.min()) + 2, int(ys.min()) + 1), number, fill=_OUTLINE)
        out.append({"title": title, "image": array_to_uri(img.astype(np.uint8)),
                    "map": array_to_uri(np.asarray(canvas))})
    return out, vmax


def patch(image: np.ndarray, row: int, col: int, grid: Sequence[int], *, span: int = 3,
          size: int = 48) -> np.ndarray:
    """The image patch around one cell of the activation grid, resized to ``size`` square.

    Args:
        image: uint8 ``[S, S, 3]``.
        row, col: the cell on the ``grid`` ``(h, w)``.
        span: patch side in grid cells (the cell in the middle).
    """
    s_h, s_w = image.shape[0] / grid[0], image.shape[1] / grid[1]
    half = span / 2
    y0 = int(max(0, round((row + 0.5 - half) * s_h)))
    x0 = int(max(0, round((col + 0.5 - half) * s_w)))
    y1 = int(min(image.shape[0], round((row + 0.5 + half) * s_h)))
    x1 = int(min(image.shape[1], round((col + 0.5 + half) * s_w)))
    crop = image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size),
                                                                         Image.NEAREST))

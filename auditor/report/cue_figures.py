"""Figures of the "cues nobody annotated" section: average maps and concept patches.

Plain arrays in, PNG data URIs out (:func:`auditor.report.figures.figure_to_uri`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from auditor.report.figures import CMAP, _new_figure, figure_to_uri, upsample

#: Cells (panels) per row of the average-map grid; each panel is an image and its map.
PANELS_PER_ROW = 3
_OUTLINE = "#00E5FF"


def _outline(ax, masks: Sequence[np.ndarray], labels: Sequence[str], size: int) -> None:
    for mask, label in zip(masks, labels, strict=True):
        up = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
            (size, size), Image.NEAREST)) > 127
        ax.contour(up.astype(float), levels=[0.5], colors=_OUTLINE, linewidths=1.4)
        ys, xs = np.nonzero(up)
        if len(xs):
            ax.text(xs.min(), ys.min() - 1, label.rsplit("_", 1)[-1], color=_OUTLINE,
                    fontsize=6.5, va="bottom", ha="left", fontweight="bold")


def average_maps_grid(panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
                      hotspots: Sequence[tuple[str, np.ndarray]] = ()) -> str:
    """Small multiples: per cell its mean image and its mean map (shared colour scale).

    Args:
        panels: ``(title, mean image uint8 [S, S, 3], mean map [h, w] summing to 1)``.
        hotspots: ``(name, bool [h, w])`` outlined on every map, labelled with the number of
            ``hotspot_<k>``.
    """
    n = len(panels)
    rows = max(1, -(-n // PANELS_PER_ROW))
    cols = 2 * min(n, PANELS_PER_ROW)
    fig = _new_figure(1.45 * cols, 1.75 * rows)
    vmax = max((float(m.max() * m.size) for _, _, m in panels), default=1.0) or 1.0
    for i, (title, image, mean) in enumerate(panels):
        r, c = divmod(i, PANELS_PER_ROW)
        size = image.shape[0]
        ax_img = fig.add_subplot(rows, cols, r * cols + 2 * c + 1)
        ax_img.imshow(image)
        ax_img.set_title(_wrap(title), fontsize=6.5, loc="left")
        ax_map = fig.add_subplot(rows, cols, r * cols + 2 * c + 2)
        ax_map.imshow(image, alpha=0.45)
        lift = upsample(mean * mean.size, size)
        ax_map.imshow(lift, cmap=CMAP, alpha=0.65, vmin=0, vmax=vmax)
        _outline(ax_map, [m for _, m in hotspots], [nm for nm, _ in hotspots], size)
        for ax in (ax_img, ax_map):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"mean image | mean attention (lift; colour scale 0 to {vmax:.1f})",
                 fontsize=7.5, x=0.01, ha="left")
    fig.tight_layout()
    return figure_to_uri(fig)


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


def _wrap(text: str, width: int = 26) -> str:
    words, lines, line = text.split(" "), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines[:2])

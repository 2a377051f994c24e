"""Report figures as PNG data URIs (matplotlib Agg, no pyplot global state).

Every function takes plain numbers and returns a ``data:image/png;base64,...`` string, so the
templates never see arrays. Figures are rendered at :data:`DPI` and heatmap thumbnails at
:data:`THUMB_PX` pixels, quantised to a 256-colour palette, which keeps one thumbnail under
~13 kB of base64 even for incompressible images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from auditor.common.text import clip
from auditor.report.palette import BACKGROUND

DPI = 90
TIGHT_PAD_INCHES = 0.1  # white margin around a figure's tight box (matplotlib's default)
THUMB_PX = 96
CMAP = "inferno"
OVERLAY_ALPHA = 0.55
_TEXT = "#1A1A1A"


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def figure_to_uri(fig: Figure) -> str:
    """Encode a matplotlib figure as a PNG data URI (tight bounding box, white background)."""
    buf = io.BytesIO()
    # the tight box computed once; bbox_inches="tight" would draw the figure twice
    box = fig.get_tightbbox().padded(TIGHT_PAD_INCHES)
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches=box, facecolor="white",
                metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def array_to_uri(rgb: np.ndarray, *, quantize: bool = True) -> str:
    """Encode an RGB image as a PNG data URI.

    Args:
        rgb: uint8 array [H, W, 3].
        quantize: Reduce to a 256-colour palette (about a third of the bytes).
    """
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB")
    if quantize:
        img = img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def upsample(saliency: np.ndarray, size: int) -> np.ndarray:
    """Bilinearly resize a low-resolution map [h, w] to [size, size] (float32)."""
    sal = np.nan_to_num(np.asarray(saliency, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.asarray(Image.fromarray(sal, mode="F").resize((size, size), Image.BILINEAR))


def minmax(values: np.ndarray) -> np.ndarray:
    """Min-max normalise to [0, 1]; a constant map becomes all zeros."""
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        return np.zeros_like(values, dtype=np.float32)
    return ((values - lo) / (hi - lo)).astype(np.float32)


def overlay(image: np.ndarray, saliency: np.ndarray, size: int = THUMB_PX) -> np.ndarray:
    """Blend a saliency map over an image.

    Args:
        image: uint8 [S, S, 3].
        saliency: float [h, w], >= 0, any scale (upsampled bilinearly, then min-max normalised).
        size: Output side in pixels.

    Returns:
        uint8 [size, size, 3].
    """
    img = np.asarray(Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
                     .resize((size, size), Image.BILINEAR), dtype=np.float32)
    heat = colormaps[CMAP](minmax(upsample(saliency, size)))[..., :3] * 255.0
    return np.clip((1 - OVERLAY_ALPHA) * img + OVERLAY_ALPHA * heat, 0, 255).astype(np.uint8)


def overlay_uri(image: np.ndarray, saliency: np.ndarray, size: int = THUMB_PX) -> str:
    """:func:`overlay` encoded as a quantised PNG data URI."""
    return array_to_uri(overlay(image, saliency, size))


def colorbar_uri() -> str:
    """A horizontal colour bar for the heatmap overlays (low -> high relative attention)."""
    fig = _new_figure(3.6, 0.55)
    ax = fig.add_axes((0.05, 0.55, 0.9, 0.35))
    grad = np.linspace(0, 1, 256)[None, :]
    ax.imshow(grad, aspect="auto", cmap=CMAP, norm=Normalize(0, 1))
    ax.set_yticks([])
    ax.set_xticks([0, 255], ["low", "high (per image)"], fontsize=8, color=_TEXT)
    ax.tick_params(length=0)
    return figure_to_uri(fig)


def bar_ci(labels: Sequence[str], values: Sequence[float], lo: Sequence[float],
           hi: Sequence[float], *, colors: Sequence[str], ylabel: str,
           reference: float | None = None, reference_label: str = "") -> str:
    """Vertical bars with confidence-interval error bars.

    Args:
        labels: One label per bar.
        values: Bar heights in [0, 1].
        lo: Lower CI bounds (same length as ``values``); NaN hides the error bar.
        hi: Upper CI bounds.
        colors: One colour per bar.
        ylabel: Axis label.
        reference: Optional horizontal line (e.g. overall accuracy).
        reference_label: Legend text of the reference line.
    """
    n = len(labels)
    fig = _new_figure(max(3.2, 0.75 * n + 1.4), 2.7)
    ax = fig.add_subplot(1, 1, 1)
    v = np.asarray(values, dtype=float)
    err = np.vstack([np.clip(v - np.asarray(lo, dtype=float), 0, None),
                     np.clip(np.asarray(hi, dtype=float) - v, 0, None)])
    err = np.nan_to_num(err, nan=0.0)
    x = np.arange(n)
    ax.bar(x, v, color=list(colors), edgecolor="#333333", linewidth=0.6)
    ax.errorbar(x, v, yerr=err, fmt="none", ecolor=_TEXT, capsize=4, linewidth=1.2)
    if reference is not None and np.isfinite(reference):
        ax.axhline(reference, color=_TEXT, linestyle="--", linewidth=1,
                   label=reference_label or "_reference")
        if reference_label:
            ax.legend(fontsize=8, loc="lower right", frameon=True)
    ax.set_xticks(x, [clip(s, 16) for s in labels], fontsize=8, rotation=20 if n > 4 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return figure_to_uri(fig)


def confusion_grid(matrices: Mapping[str, np.ndarray], classes: Sequence[str]) -> str:
    """One row-normalised confusion matrix per group, side by side, with raw counts.

    Args:
        matrices: group label -> int array [C, C] (rows = true class, columns = predicted).
        classes: Class names (axis labels).
    """
    k = len(matrices)
    c = len(classes)
    cols = min(k, 4)
    nrows = int(np.ceil(k / cols))
    side = max(1.9, 0.5 * c + 1.0)
    fig = _new_figure(side * cols + 0.4, side * nrows + 0.3)
    for i, (group, mat) in enumerate(matrices.items()):
        ax = fig.add_subplot(nrows, cols, i + 1)
        mat = np.asarray(mat, dtype=float)
        share = mat / np.clip(mat.sum(axis=1, keepdims=True), 1, None)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for r in range(c):
            for q in range(c):
                ax.text(q, r, f"{int(mat[r, q])}\n{share[r, q]:.0%}", ha="center", va="center",
                        fontsize=7, color="white" if share[r, q] > 0.55 else _TEXT)
        ax.set_xticks(range(c), [clip(s, 10) for s in classes], fontsize=7, rotation=30)
        ax.set_yticks(range(c), [clip(s, 10) for s in classes], fontsize=7)
        ax.set_title(clip(group, 26), fontsize=8)
        if i % cols == 0:
            ax.set_ylabel("true", fontsize=7)
        ax.set_xlabel("predicted", fontsize=7)
    fig.tight_layout()
    return figure_to_uri(fig)


def tsne_scatter(x: Sequence[float], y: Sequence[float], labels: Sequence[str],
                 colors: Mapping[str, str]) -> str:
    """Scatter plot of a 2-D embedding, one colour per cluster label.

    Args:
        x: Horizontal coordinates.
        y: Vertical coordinates.
        labels: Cluster label per point (e.g. ``"cluster 2"`` or ``"not clustered"``).
        colors: Label -> colour; points with unlisted labels are grey.
    """
    fig = _new_figure(5.2, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    labs = np.asarray(labels)
    order = sorted(set(labs.tolist()), key=lambda s: (s != "not clustered", s))
    for lab in order:
        sel = labs == lab
        grey = colors.get(lab, BACKGROUND) == BACKGROUND
        ax.scatter(xs[sel], ys[sel], s=6 if grey else 12, c=colors.get(lab, BACKGROUND),
                   alpha=0.45 if grey else 0.9, linewidths=0, label=f"{lab} (n={int(sel.sum())})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              markerscale=1.6)
    ax.set_title("t-SNE of embeddings, coloured by cluster", fontsize=9, loc="left")
    return figure_to_uri(fig)

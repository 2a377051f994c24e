"""Heatmap-overlay galleries: where images and maps come from, which samples are shown.

The pipeline hands the report a :class:`GalleryProvider` (images and low-resolution saliency
maps by sample id); the report never touches a model. Galleries are capped twice: at
``examples_per_group`` per cell and at :data:`MAX_THUMBNAILS` over the whole report, which
keeps ``report.html`` under :data:`HTML_BUDGET_BYTES` for any dataset size (a 96 px,
256-colour thumbnail is at most ~13 kB of base64; 240 of them ~3.2 MB, figures ~1-2 MB more).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.report.figures import overlay_uri

log = logging.getLogger(__name__)

#: Thumbnails in one whole report (all models, all galleries).
MAX_THUMBNAILS = 240
#: The size ``report.html`` stays under, whatever the number of samples (bytes).
HTML_BUDGET_BYTES = 8_000_000


@runtime_checkable
class GalleryProvider(Protocol):
    """Images and saliency maps by sample id, as the pipeline has them.

    ``image`` returns the resized, un-normalised image, uint8 [S, S, 3].
    ``saliency`` returns the low-resolution map of ``method`` for ``model`` on that sample,
    float32 [h, w], non-negative and not normalised. Either may raise ``KeyError`` or
    ``OSError`` when the sample or map is unavailable; that thumbnail is then left out.
    """

    def image(self, sample_id: str) -> np.ndarray:
        """uint8 [S, S, 3] image of ``sample_id``."""
        ...

    def saliency(self, model: str, sample_id: str, method: str) -> np.ndarray:
        """float32 [h, w] map (>= 0) of ``method`` for ``model`` on ``sample_id``."""
        ...


@dataclass
class InMemoryGallery:
    """A :class:`GalleryProvider` backed by dictionaries (tests, notebooks).

    Attributes:
        images: sample id -> uint8 [S, S, 3].
        maps: (model, sample id, method) -> float32 [h, w].
    """

    images: dict[str, np.ndarray] = field(default_factory=dict)
    maps: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)

    def image(self, sample_id: str) -> np.ndarray:
        """Return the stored image; ``KeyError`` names the missing id."""
        return self.images[sample_id]

    def saliency(self, model: str, sample_id: str, method: str) -> np.ndarray:
        """Return the stored map; ``KeyError`` names the missing key."""
        return self.maps[(model, sample_id, method)]


class ThumbnailBudget:
    """Counts thumbnails against a report-wide cap."""

    def __init__(self, total: int = MAX_THUMBNAILS) -> None:
        self.total = total
        self.used = 0
        self.refused = 0

    def take(self, wanted: int) -> int:
        """Reserve up to ``wanted`` thumbnails; returns how many may be drawn."""
        granted = max(0, min(wanted, self.total - self.used))
        self.used += granted
        self.refused += wanted - granted
        return granted

    def give_back(self, unused: int) -> None:
        """Return reserved thumbnails that could not be drawn."""
        self.used -= unused


def pick_examples(rows: pd.DataFrame, k: int, *, mistakes: bool) -> pd.DataFrame:
    """Choose up to ``k`` rows to show, deterministically.

    Mistakes: the most confident ones first (the errors a user would trust). Correct answers:
    spread evenly over the confidence range, so the gallery is not only easy cases.

    Args:
        rows: Rows of ``samples.parquet`` (one model) with ``id`` and ``confidence``.
        k: How many to pick.
        mistakes: Whether these rows are wrong answers.
    """
    if k <= 0 or rows.empty:
        return rows.iloc[:0]
    ordered = rows.sort_values(["confidence", "id"], ascending=[False, True], kind="mergesort")
    if mistakes or len(ordered) <= k:
        return ordered.head(k)
    idx = np.unique(np.linspace(0, len(ordered) - 1, k).round().astype(int))
    return ordered.iloc[idx]


def pick_typical(rows: pd.DataFrame, k: int,
                 coords: Mapping[str, tuple[float, float]] | None) -> pd.DataFrame:
    """Choose up to ``k`` typical members of a cluster: closest to its centre in the 2-D embedding.

    Falls back to the most confident members when no embedding coordinates are known.

    Args:
        rows: The cluster's rows of ``samples.parquet``.
        k: How many to pick.
        coords: sample id -> (x, y) of the t-SNE embedding, or None.
    """
    if k <= 0 or rows.empty:
        return rows.iloc[:0]
    if coords:
        known = rows[rows["id"].isin(coords.keys())]
        if not known.empty:
            xy = np.array([coords[i] for i in known["id"]], dtype=float)
            dist = np.linalg.norm(xy - np.median(xy, axis=0), axis=1)
            return known.assign(_d=dist).sort_values(["_d", "id"]).head(k).drop(columns="_d")
    return pick_examples(rows, k, mistakes=True)


def thumbnails(provider: GalleryProvider, model: str, method: str, rows: pd.DataFrame,
               budget: ThumbnailBudget) -> list[dict[str, str]]:
    """Render overlay thumbnails for ``rows`` within the budget.

    Args:
        provider: Source of images and maps.
        model: Model name (whose maps to overlay).
        method: Saliency method name.
        rows: Chosen rows with ``id``, ``label``, ``pred``, ``confidence``.
        budget: Report-wide thumbnail budget.

    Returns:
        One dict per thumbnail: ``src`` (data URI), ``alt``, ``id``, ``correct`` ("yes"/"no"),
        ``true``, ``pred`` (class names) and ``conf`` (formatted confidence).
    """
    granted = budget.take(len(rows))
    out: list[dict[str, str]] = []
    for row in rows.head(granted).itertuples(index=False):
        sid = str(row.id)
        try:
            src = overlay_uri(provider.image(sid), provider.saliency(model, sid, method))
        except (KeyError, OSError, ValueError, DataError) as err:  # a file moved or broke
            log.warning("no overlay for model %s sample %s (%s): %s", model, sid, method, err)
            budget.give_back(1)
            continue
        conf = float(row.confidence)
        out.append({
            "src": src,
            "id": sid,
            "correct": "yes" if str(row.label) == str(row.pred) else "no",
            "true": str(row.label), "pred": str(row.pred), "conf": f"{conf:.2f}",
            "alt": (f"{method} heatmap over sample {sid}: true class {row.label}, "
                    f"predicted {row.pred}, confidence {conf:.2f}"),
        })
    return out

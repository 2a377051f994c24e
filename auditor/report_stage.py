"""Report stage: the pipeline's results -> view-model -> report.html / report.pdf."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.config import ReportConfig
from auditor.data.dataset import DataBundle
from auditor.progress import ProgressSink
from auditor.report.context import build_context
from auditor.report.html import render_html
from auditor.report.pdf import render_pdf
from auditor.rundir import RunDir

log = logging.getLogger(__name__)

__all__ = ["RunGallery", "write_report"]


class RunGallery:
    """A :class:`~auditor.report.gallery.GalleryProvider` over a finished run.

    Images come from the dataset (resized, before normalisation); maps from the run's
    ``maps/<model>.npz`` files (low-resolution, float16), loaded lazily once per model.
    """

    def __init__(self, bundle: DataBundle, maps_dir: Path) -> None:
        self._bundle = bundle
        self._maps_dir = maps_dir
        self._row = {sid: i for i, sid in enumerate(bundle.table["id"].astype(str))}
        self._cache: dict[str, tuple[dict[str, int], np.ndarray, list[str]]] = {}

    def image(self, sample_id: str) -> np.ndarray:
        return self._bundle.raw_image(self._row[sample_id])

    def _model(self, model: str) -> tuple[dict[str, int], np.ndarray, list[str]]:
        if model not in self._cache:
            with np.load(self._maps_dir / f"{model}.npz") as z:
                ids = [str(s) for s in z["ids"]]
                self._cache[model] = ({s: i for i, s in enumerate(ids)}, z["maps"],
                                      [str(m) for m in z["methods"]])
        return self._cache[model]

    def saliency(self, model: str, sample_id: str, method: str) -> np.ndarray:
        index, maps, methods = self._model(model)
        return maps[index[sample_id], methods.index(method)].astype(np.float32)


def write_report(summary: dict[str, Any], samples: pd.DataFrame, bundle: DataBundle,
                 rundir: RunDir, cfg: ReportConfig, *, config_yaml: str,
                 progress: ProgressSink | None = None) -> dict[str, Path]:
    """Render the report formats asked for in ``cfg`` into the run directory."""
    steps = 1 + len(cfg.formats)
    if progress:
        progress("report", 0, steps)
    ctx = build_context(summary, samples, RunGallery(bundle, rundir.path("maps")),
                        config_yaml=config_yaml, examples_per_group=cfg.examples_per_group)
    html = render_html(ctx)
    if progress:
        progress("report", 1, steps)
    files: dict[str, Path] = {}
    if "html" in cfg.formats:
        files["html"] = rundir.write_text("report.html", html)
    if progress:
        progress("report", 2, steps)
    if "pdf" in cfg.formats:
        files["pdf"] = rundir.write_bytes("report.pdf", render_pdf(html))
    if progress:
        progress("report", steps, steps)
    log.info("report written (%d kB html)", len(html) // 1024)
    return files

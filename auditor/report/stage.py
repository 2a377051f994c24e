"""Report stage: the pipeline's results -> view-model -> report.html / report.pdf."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.config import ReportConfig
from auditor.data.dataset import DataBundle
from auditor.pipeline.progress import ProgressSink
from auditor.pipeline.rundir import RunDir
from auditor.report.context import build_context
from auditor.report.html import render_html
from auditor.report.pdf import render_pdf

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


def rerender_report(run_dir: Path, *, formats: tuple[str, ...] = ("html", "pdf"),
                    progress: ProgressSink | None = None) -> dict[str, Path]:
    """Render the report again from a finished run directory, without its models.

    Reads ``summary.json``, ``samples.parquet``, ``config.resolved.yaml`` and ``maps/``;
    images come from the data the config names (the run's own ``data/`` for synthetic data).

    Raises:
        RunDirError: the folder is not a finished run.
    """
    import json

    import yaml

    from auditor.config import parse_config
    from auditor.data.dataset import load_data, resolve_synthetic
    from auditor.errors import RunDirError

    run_dir = Path(run_dir)
    needed = ("summary.json", "samples.parquet", "config.resolved.yaml", "run.json")
    missing = [n for n in needed if not (run_dir / n).is_file()]
    if missing:
        raise RunDirError(f"{run_dir}: not a finished auditor run (no {missing[0]})")
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    samples = pd.read_parquet(run_dir / "samples.parquet")
    config_yaml = (run_dir / "config.resolved.yaml").read_text(encoding="utf-8")
    cfg = parse_config(yaml.safe_load(config_yaml), base_dir=run_dir,
                       source=str(run_dir / "config.resolved.yaml"))
    data_cfg = cfg.data
    if data_cfg.synthetic is not None:
        data_cfg = resolve_synthetic(data_cfg, run_dir / "data", cfg.seed)
    bundle = load_data(data_cfg, seed=cfg.seed)
    key = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("key", "")
    rundir = RunDir(run_dir, key=key)
    report_cfg = cfg.report.model_copy(update={"formats": list(formats)})
    return write_report(summary, samples, bundle, rundir, report_cfg, config_yaml=config_yaml,
                        progress=progress)

"""Report stage: the pipeline's results -> view-model -> report.html / report.pdf."""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.config import ReportConfig
from auditor.data.dataset import DataBundle
from auditor.data.fingerprints import changed_files
from auditor.errors import DataError
from auditor.metrics.columns import IMAGE_HASH
from auditor.pipeline.progress import ProgressSink
from auditor.pipeline.rundir import RunDir, read_json_object, require_finished
from auditor.pipeline.summary_schema import summary_problem
from auditor.report.context import build_context
from auditor.report.html import render_html
from auditor.report.pdf import render_pdf

log = logging.getLogger(__name__)

__all__ = ["RunGallery", "write_report"]


class RunGallery:
    """A :class:`~auditor.report.gallery.GalleryProvider` over a finished run.

    Images come from ``image(sample_id)`` (``uint8 [S, S, 3]``: the sample resized as the model
    saw it, before normalisation); maps from the run's ``maps/<model>.npz`` files
    (low-resolution, float16), loaded lazily once per model.
    """

    #: Decoded images kept for the report's build (every model's galleries and mean images
    #: read the same samples): at most this many.
    KEEP_IMAGES = 4096

    def __init__(self, image: Callable[[str], np.ndarray], maps_dir: Path) -> None:
        self._image = image
        self._maps_dir = maps_dir
        self._cache: dict[str, tuple[dict[str, int], np.ndarray, list[str]]] = {}
        self._images: dict[str, np.ndarray] = {}

    @classmethod
    def of_bundle(cls, bundle: DataBundle, maps_dir: Path) -> RunGallery:
        """The gallery of a run in progress: images through the loaded data."""
        row = {sid: i for i, sid in enumerate(bundle.table["id"].astype(str))}
        return cls(lambda sample_id: bundle.raw_image(row[sample_id]), maps_dir)

    def image(self, sample_id: str) -> np.ndarray:
        if sample_id in self._images:
            return self._images[sample_id]
        img = self._image(sample_id)
        if len(self._images) < self.KEEP_IMAGES:
            self._images[sample_id] = img
        return img

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


def _check_maps(maps_dir: Path, models: Any, samples: pd.DataFrame) -> None:
    """Refuse a ``maps/<model>.npz`` that does not hold a map for every audited sample of its
    model: the report would otherwise render without heatmaps, with one log line per image.

    Raises:
        RunDirError: one line naming the file and what is wrong with it.
    """
    from auditor.errors import RunDirError

    for name in models:
        path = maps_dir / f"{name}.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                if not {"ids", "maps", "methods"} <= set(z.files):
                    problem = "it lacks " + ", ".join(sorted({"ids", "maps", "methods"}
                                                             - set(z.files)))
                else:
                    ids, shape = {str(i) for i in z["ids"]}, z["maps"].shape
                    problem = ("its maps are not [samples, methods, h, w] for its ids"
                               if len(shape) != 4 or shape[:2] != (len(z["ids"]),
                                                                   len(z["methods"])) else "")
                    audited = set(samples.loc[samples["model"].astype(str) == str(name), "id"]
                                  .astype(str)) if "model" in samples.columns else set()
                    lost = sorted(audited - ids)
                    if not problem and lost:  # either file may be the edited one
                        raise RunDirError(
                            f"{path}: no map for {len(lost)} of the {len(audited)} samples "
                            f"samples.parquet lists for model {name} (e.g. {lost[0]}): the "
                            "two files do not belong together (damaged or edited); run the "
                            "audit again with --fresh")
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:  # not
            # an npz, truncated, or pickled arrays
            problem = f"unreadable ({type(err).__name__})"
        if problem:
            raise RunDirError(f"{path}: damaged ({problem}); the report's heatmaps are drawn "
                              "from it: restore it, or run the audit again with --fresh")


def write_report(summary: dict[str, Any], samples: pd.DataFrame,
                 bundle: DataBundle | RunGallery, rundir: RunDir, cfg: ReportConfig, *,
                 config_yaml: str, progress: ProgressSink | None = None) -> dict[str, Path]:
    """Render the report formats asked for in ``cfg`` into the run directory.

    ``bundle`` is the run's loaded data, or a ready :class:`RunGallery` (``audit report``).
    """
    steps = 1 + len(cfg.formats)
    if progress:
        progress("report", 0, steps)
    gallery = bundle if isinstance(bundle, RunGallery) else RunGallery.of_bundle(
        bundle, rundir.path("maps"))
    ctx = build_context(summary, samples, gallery,
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
    """Render the report again from a finished run directory, without models or torch.

    Reads ``summary.json``, ``samples.parquet``, ``config.resolved.yaml`` and ``maps/``;
    thumbnails are read from the data root the config names (the run's own ``data/`` for
    synthetic data), at the path each sample id names (:mod:`auditor.data.table`), after
    checking every audited file against the fingerprint the run recorded
    (:mod:`auditor.data.fingerprints`).

    Raises:
        RunDirError: the folder is not a finished run.
        DataError: an audited image file changed since the run.
    """
    from auditor.config import load_config
    from auditor.data.dataset import resolve_synthetic
    from auditor.data.plan import preview
    from auditor.errors import ReportError, RunDirError

    run_dir = Path(run_dir)
    needed = ("summary.json", "samples.parquet", "config.resolved.yaml", "run.json")
    missing = [n for n in needed if not (run_dir / n).is_file()]
    if missing:
        raise RunDirError(f"{run_dir}: not a finished auditor run (no {missing[0]})")
    require_finished(run_dir)
    summary = read_json_object(run_dir / "summary.json", "summary")
    problem = summary_problem(summary)
    if problem:
        raise RunDirError(f"{run_dir / 'summary.json'}: damaged ({problem}); run the audit "
                          "again")
    try:
        samples = pd.read_parquet(run_dir / "samples.parquet")
    except Exception as err:  # noqa: BLE001 - pyarrow raises many unrelated types
        raise RunDirError(f"{run_dir / 'samples.parquet'}: damaged ({type(err).__name__}); "
                          "run the audit again") from None
    config_yaml = (run_dir / "config.resolved.yaml").read_text(encoding="utf-8")
    cfg = load_config(run_dir / "config.resolved.yaml")  # paths relative to run_dir
    data_cfg = cfg.data
    if data_cfg.synthetic is not None:  # regenerated only if the run's data/ was removed
        data_cfg = resolve_synthetic(data_cfg, run_dir / "data", cfg.seed)
    root = Path(data_cfg.root or data_cfg.image_folder or ".").resolve()  # type: ignore[arg-type]

    def inside(sample_id: str) -> Path | None:
        # ids come from samples.parquet, which may have been edited: stay inside the data root
        path = root / sample_id
        try:
            ok = data_cfg.follow_symlinks or path.resolve().is_relative_to(root)
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
            ok = False
        return path if ok else None

    def image(sample_id: str) -> np.ndarray:
        path = inside(sample_id)
        if path is None:
            raise DataError(f"sample {sample_id}: outside the data root {root}; not shown")
        return preview(path, data_cfg.image_size, data_cfg.resize, sample_id=sample_id)

    lost = [run_dir / "maps" / f"{name}.npz" for name in summary["models"]
            if not (run_dir / "maps" / f"{name}.npz").is_file()]
    if lost and summary.get("methods"):  # every heatmap of the report would vanish silently
        raise RunDirError(f"{lost[0]}: missing (the report's heatmaps are drawn from it); "
                          "restore it, or run the audit again with --fresh")
    if summary.get("methods"):
        _check_maps(run_dir / "maps", summary["models"], samples)
    _refuse_changed_images(run_dir, samples, inside)
    gallery = RunGallery(image, run_dir / "maps")
    key = str(read_json_object(run_dir / "run.json", "run marker").get("key", ""))
    report_cfg = cfg.report.model_copy(update={"formats": list(formats)})
    with RunDir(run_dir, key=key, report_only=True) as rundir:
        try:
            return write_report(summary, samples, gallery, rundir, report_cfg,
                                config_yaml=config_yaml, progress=progress)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError,
                RecursionError) as err:
            raise ReportError(f"{run_dir / 'summary.json'}: damaged or edited by hand, cannot "
                              f"render it ({type(err).__name__}: {err}); run the audit "
                              "again") from None


def _refuse_changed_images(run_dir: Path, samples: pd.DataFrame,
                           path_of: Callable[[str], Path | None]) -> None:
    """Refuse to draw thumbnails when an audited image file changed since the run (its bytes
    differ from the fingerprint in ``samples.parquet``): the report would show a new image
    under the old image's heatmap. A missing file is left out of the galleries, with a
    warning, as before; a run of an older auditor (no fingerprints) is drawn unchecked.

    Raises:
        DataError: one line naming the first changed file and how many changed.
    """
    if "id" not in samples.columns:
        return  # a damaged table: refused when the report reads it
    if IMAGE_HASH not in samples.columns:
        log.warning("%s: samples.parquet records no image fingerprints (a run of an older "
                    "auditor): thumbnails are drawn from the current files unchecked", run_dir)
        return
    known = samples[["id", IMAGE_HASH]].dropna().drop_duplicates("id")
    recorded = dict(zip(known["id"].astype(str), known[IMAGE_HASH].astype(str), strict=True))
    changed = changed_files(recorded, path_of)
    if changed:
        total = len(recorded)
        which = (f"its bytes differ from those audited; 1 of the {total} audited images"
                 if len(changed) == 1 else f"it and {len(changed) - 1} more of the {total} "
                 "audited images: their bytes differ from those audited")
        raise DataError(
            f"{path_of(changed[0])}: changed since the run ({which}); the report would show "
            "the new images under the old heatmaps: restore the audited files, or run audit "
            "run again with this run's config to audit the current ones")

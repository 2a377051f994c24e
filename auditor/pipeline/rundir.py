"""The only writer of a run directory.

Every file lands atomically (written to a temporary file in the same folder, flushed, then
``os.replace``d), so a run killed at any moment leaves either the old file or the new one,
never half of one; a full disk is a :class:`~auditor.errors.StorageError` naming the file
and the bytes it needed. ``run.json`` records the config hash the directory belongs to (it is
also the marker saying auditor wrote the folder) and whether the run finished (``complete``); a
second run of the same config resumes from the shards and checkpoints already there.

Safety rules:

- ``--overwrite``/``--fresh`` empty a folder only when it carries the marker, holds nothing but
  what auditor writes (:data:`TOOL_ENTRIES`) and contains none of the run's inputs (config,
  data, checkpoints); otherwise they refuse in one line saying why.
- ``run.lock`` (PID, host, start time; held with ``flock`` while the run lives) refuses a second
  concurrent run on the same folder. A lock left by a dead process on this host is taken over;
  one from another host is refused with the command to remove it.
- ``complete`` is false from the moment a run (a resumed one too) opens the folder until
  :meth:`RunDir.mark_complete`: a run killed while rewriting the results of a finished one
  leaves ``complete: false``, never a finished-looking mix of old and new files.
  ``audit report`` and ``audit compare`` refuse such a folder (:func:`require_finished`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.common.files import atomic_write_bytes, atomic_write_text
from auditor.errors import AuditorError, RunDirError
from auditor.metrics.stats import json_clean
from auditor.pipeline.runlock import RunLock

__all__ = ["RunDir", "atomic_write_bytes", "atomic_write_text", "enclosing_run",
           "read_json_object", "require_finished", "to_json"]

log = logging.getLogger(__name__)

RUN_MARKER = "run.json"
LOCK_FILE = RunLock.NAME
# everything auditor itself writes at the top of a run directory (``compare`` is the default
# output of ``audit compare``); anything else there stops --overwrite from emptying the folder
TOOL_ENTRIES = frozenset({
    RUN_MARKER, LOCK_FILE, "run.log", "config.resolved.yaml", "summary.json",
    "samples.parquet", "report.html", "report.pdf", "models", "maps", "shards", "data",
    "compare", "cues",
})


#: What auditor writes inside its folders, as glob patterns relative to the run folder:
#: ``--overwrite`` and ``--fresh`` delete such a folder only when it holds nothing else.
TOOL_FILES = {
    "models": ("models/*.pt", "models/*.json"),
    "maps": ("maps/*.npz",),
    "cues": ("cues/*.npz",),
    "shards": ("shards/*/batch_*.npz", "shards/*/key.json"),
    "data": ("data/manifest.csv", "data/regions.json", "data/params.json", "data/images/*.png",
             "data/images/*/*.png"),
    "compare": ("compare/compare.html", "compare/compare.pdf", "compare/compare.json"),
}


def foreign_files(root: Path) -> list[str]:
    """Files (and links) inside auditor's folders of ``root`` that auditor does not write:
    a user's notes put in ``models/``, a dataset kept in ``data/`` (temporary ``.*.tmp``
    files of an interrupted atomic write are auditor's)."""
    out: list[str] = []
    for name, patterns in TOOL_FILES.items():
        folder = root / name
        if folder.is_symlink() or not folder.is_dir():
            continue
        for item in sorted(folder.rglob("*")):
            rel = item.relative_to(root)
            if item.is_dir() and not item.is_symlink():
                continue
            ours = not item.is_symlink() and (
                any(len(rel.parts) == len(Path(pattern).parts) and rel.match(pattern)
                    for pattern in patterns)  # match() aligns from the right only
                or (item.name.startswith(".") and item.name.endswith(".tmp")))
            if not ours:
                out.append(rel.as_posix())
    return out


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON object file of a run directory (``summary.json``, ``run.json`` ...).

    Raises:
        RunDirError: unreadable, not JSON, nested too deeply, or not an object (one line).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except RecursionError:
        raise RunDirError(f"{path}: damaged {what} file (nested too deeply)") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RunDirError(f"{path}: damaged {what} file ({type(err).__name__}: "
                          f"{str(err)[:120]})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: damaged {what} file (a JSON object was expected, not "
                          f"{type(data).__name__})")
    return data


def require_finished(root: Path, error: type[AuditorError] = RunDirError) -> None:
    """Refuse a run directory whose ``run.json`` says the run did not finish (killed, or still
    running); a folder without a readable marker is left to the caller's own checks.

    Raises:
        error: one line saying how to finish it.
    """
    marker = RunDir._read_marker(Path(root) / RUN_MARKER)
    if marker is not None and marker.get("complete") is not True:
        raise error(f"{root}: the run did not finish; run the same command again to resume")


def enclosing_run(path: Path) -> Path | None:
    """The auditor run folder ``path`` is, or lies inside (the nearest folder up with a
    readable ``run.json``), or None."""
    path = Path(path).absolute()
    for folder in (path, *path.parents):
        if RunDir._read_marker(folder / RUN_MARKER) is not None:
            return folder
    return None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic | np.ndarray):
        return json_clean(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    """Serialise results (dataclasses with ``to_dict``, numpy scalars) to strict JSON
    (NaN and infinities become ``null``: :func:`auditor.metrics.stats.json_clean`)."""
    return json.dumps(json_clean(json.loads(json.dumps(obj, default=_json_default))),
                      indent=2, ensure_ascii=False, allow_nan=False)


class RunDir:
    """A run directory: the one place that writes files under ``root``.

    Args:
        root: the run's ``output_dir``.
        key: hash of config + code version; a directory holding another key is refused unless
            ``overwrite``.
        overwrite: empty an existing run directory of another config (see the module's rules).
        fresh: empty an existing run of the same key instead of resuming it.
        protect: the run's inputs (config file, data, checkpoints): a folder containing one of
            them is never emptied.
        lock: hold ``run.lock`` while the object lives (``close`` releases it); worker ranks
            of a distributed run share rank 0's lock and pass False.
        report_only: ``audit report`` on a finished run: only the report is rewritten, so
            the marker stays complete (a resumed run marks the folder incomplete first).
    """

    def __init__(self, root: Path, *, key: str, overwrite: bool = False,
                 fresh: bool = False, protect: list[Path] | tuple[Path, ...] = (),
                 lock: bool = True, report_only: bool = False,
                 explain: Callable[[Path], str | None] | None = None) -> None:
        self.root = Path(root)
        self.key = key
        self.resumed = False
        self.notes: list[str] = []
        self._explain = explain  # root -> what differs from the run it holds (refusals)
        marker = self.root / RUN_MARKER
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"{self.root}: output_dir exists and is not a directory")
        if self._entries() and self._read_marker(marker) is None:
            what = (f"its {RUN_MARKER} is not one auditor wrote: unreadable, or without the "
                    "run's key" if marker.exists() else f"no {RUN_MARKER}")
            if report_only:
                raise RunDirError(f"{self.root}: not a finished auditor run ({what}); run the "
                                  "audit again")
            raise RunDirError(
                f"{self.root}: output_dir is not empty and is not an auditor run ({what}); "
                f"{'--overwrite only empties folders auditor wrote; ' if overwrite else ''}"
                "choose another output_dir")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f"{self.root}: cannot create output_dir ({err.strerror})") from None
        if not os.access(self.root, os.W_OK):
            raise RunDirError(f"{self.root}: output_dir is not writable")
        self._lock = RunLock(self.root / LOCK_FILE) if lock else None
        if self._lock is not None:
            note = self._lock.acquire()
            if note:
                self.notes.append(note)
        try:
            self._open(marker, overwrite=overwrite, fresh=fresh, protect=protect,
                       report_only=report_only)
        except BaseException:
            self.close()
            raise

    def _open(self, marker: Path, *, overwrite: bool, fresh: bool,
              protect: list[Path] | tuple[Path, ...], report_only: bool) -> None:
        self._written: set[str] = set()
        old = None
        if self._entries():
            old = self._read_marker(marker)
            same = old is not None and old.get("key") == self.key
            if same and not fresh:
                self.resumed = True
                written = old.get("written") if old else None
                self._written = {str(n) for n in written} if isinstance(written, list) else set()
            elif overwrite or (same and fresh) or self._made_nothing(old):
                self._check_wipe(protect)
                if not (overwrite or same):
                    self.notes.append(f"{self.root}: replaced a run of another config that had "
                                      "stopped before it produced any result")
                self._wipe()
            else:
                what = self._explain(self.root) if self._explain else None
                raise RunDirError(
                    f"{self.root}: output_dir holds a run of a different config"
                    f"{f' ({what})' if what else ''}; pass --overwrite to replace it (or "
                    "change output_dir)")
        if not self.resumed:
            self._write_marker(started=_now(), complete=False)
        elif self._lock is not None and not report_only and old is not None:
            # before anything is rewritten: a kill from here on leaves an unfinished run
            self._write_marker(started=old.get("started"), resumed=_now(), complete=False)

    def _made_nothing(self, old: dict[str, Any] | None) -> bool:
        """The folder holds an unfinished run that wrote only its marker, log and config."""
        return old is not None and not old.get("complete") and set(self._entries()) <= {
            RUN_MARKER, "run.log", "config.resolved.yaml"}

    def _write_marker(self, **fields: Any) -> None:
        self.write_json(RUN_MARKER, {"key": self.key, **fields,
                                     "written": sorted(self._written)})

    def _note_written(self, rel: str) -> None:
        """Remember a top-level name this run wrote outside :data:`TOOL_ENTRIES` (in the
        marker), so --overwrite knows it may delete it."""
        top = Path(rel).parts[0] if Path(rel).parts else ""
        if top and top not in TOOL_ENTRIES and top not in self._written:
            self._written.add(top)
            self._write_marker(updated=_now(), complete=False)

    def _entries(self) -> list[str]:
        """Names at the top of ``root`` (its lock file excluded)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.name != LOCK_FILE)

    @staticmethod
    def _read_marker(marker: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("key"), str) else None

    def _check_wipe(self, protect: list[Path] | tuple[Path, ...]) -> None:
        """Refuse to empty ``root`` when it holds anything auditor did not write."""
        old = self._read_marker(self.root / RUN_MARKER) or {}
        written = old.get("written") if isinstance(old.get("written"), list) else []
        foreign = [n for n in self._entries() if n not in TOOL_ENTRIES and n not in written
                   and not (n.startswith(".") and n.endswith(".tmp"))]
        if foreign:
            raise RunDirError(
                f"{self.root}: not emptied: it holds {foreign[0]!r}"
                f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}, which auditor "
                "did not write; move it away or choose another output_dir")
        real_root = self.root.resolve()
        for item in protect:
            try:
                real = Path(item).resolve()
            except (OSError, RuntimeError, ValueError):
                continue
            if real == real_root or real_root in real.parents:
                raise RunDirError(f"{self.root}: not emptied: it contains {item}, an input of "
                                  "this run; choose another output_dir")
        inside = foreign_files(self.root)  # a user's file in models/, data/ ...
        if inside:
            raise RunDirError(
                f"{self.root}: not emptied: it holds {inside[0]!r}"
                f"{f' and {len(inside) - 1} more' if len(inside) > 1 else ''}, which auditor "
                "did not write; move it away or choose another output_dir")

    def _wipe(self) -> None:
        """Empty ``root``, its marker last and first marked as a run nobody resumes: a kill
        mid-wipe leaves a folder that --overwrite still knows as auditor's."""
        old = self._read_marker(self.root / RUN_MARKER)
        if old is not None:
            self.write_json(RUN_MARKER, {**old, "key": "(being emptied)", "complete": False})
        for child in sorted(self.root.iterdir(), key=lambda c: c.name == RUN_MARKER):
            if child.name == LOCK_FILE:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    def close(self) -> None:
        """Release ``run.lock`` (idempotent)."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- paths -----------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """``root / parts`` (folders created), for readers and for sub-writers handed a
        folder of their own (the synthetic data generator writes ``data/``)."""
        p = self.root.joinpath(*parts)
        self._note_written(parts[0] if parts else "")
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def exists(self, *parts: str) -> bool:
        return self.root.joinpath(*parts).exists()

    # -- writers ---------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> Path:
        self._note_written(rel)
        return atomic_write_bytes(self.root / rel, data)

    def write_text(self, rel: str, text: str) -> Path:
        return self.write_bytes(rel, text.encode("utf-8"))

    def write_json(self, rel: str, obj: Any) -> Path:
        return self.write_text(rel, to_json(obj) + "\n")

    def write_parquet(self, rel: str, df: pd.DataFrame) -> Path:
        import io

        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return self.write_bytes(rel, buf.getvalue())

    def write_npz(self, rel: str, **arrays: np.ndarray) -> Path:
        import io

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return self.write_bytes(rel, buf.getvalue())

    def mark_complete(self) -> None:
        self._write_marker(finished=_now(), complete=True)

    def remove_tree(self, rel: str) -> None:
        """Delete a sub-folder (e.g. result shards once merged)."""
        target = self.root / rel
        if target.is_dir():
            shutil.rmtree(target)

    @contextlib.contextmanager
    def log_to_file(self, logger_name: str = "auditor", *, enabled: bool = True
                    ) -> Iterator[Path]:
        """Attach ``run.log`` to the package logger for the duration of the run."""
        path = self.root / "run.log"
        if not enabled:
            yield path
            return
        handler = _BestEffortFileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger(logger_name)
        old_level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            yield path
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            handler.close()


class _BestEffortFileHandler(logging.FileHandler):
    """``run.log`` is best effort: a full disk must not print logging's traceback."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        return


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

"""The only writer of a run directory.

Every file lands atomically (written to a temporary file in the same folder, flushed, then
``os.replace``d), so a run killed at any moment leaves either the old file or the new one,
never half of one. ``run.json`` records the config hash the directory belongs to; a second
run of the same config resumes from the shards and checkpoints already there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.common.files import atomic_write_bytes, atomic_write_text
from auditor.errors import RunDirError
from auditor.metrics.stats import json_clean

__all__ = ["RunDir", "atomic_write_bytes", "atomic_write_text", "to_json"]

RUN_MARKER = "run.json"


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
        key: hash of config + data + code version; a directory holding another key is
            refused unless ``overwrite``.
        overwrite: wipe an existing directory (of another run or not a run at all).
        fresh: wipe an existing run of the same key instead of resuming it.
    """

    def __init__(self, root: Path, *, key: str, overwrite: bool = False,
                 fresh: bool = False) -> None:
        self.root = Path(root)
        self.key = key
        self.resumed = False
        marker = self.root / RUN_MARKER
        if self.root.exists() and not self.root.is_dir():
            raise RunDirError(f"{self.root}: output_dir exists and is not a directory")
        if self.root.is_dir() and any(self.root.iterdir()):
            old = self._read_marker(marker)
            same = old is not None and old.get("key") == key
            if same and not fresh:
                self.resumed = True
            elif overwrite or (same and fresh):
                self._wipe()
            elif old is None:
                raise RunDirError(
                    f"{self.root}: output_dir exists and is not an auditor run; "
                    "choose another output_dir or pass --overwrite"
                )
            else:
                raise RunDirError(
                    f"{self.root}: output_dir holds a run of a different config or data; "
                    "pass --overwrite to replace it (or change output_dir)"
                )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise RunDirError(f"{self.root}: cannot create output_dir ({err.strerror})") from None
        if not os.access(self.root, os.W_OK):
            raise RunDirError(f"{self.root}: output_dir is not writable")
        if not self.resumed:
            self.write_json(RUN_MARKER, {"key": key, "started": _now(), "complete": False})

    @staticmethod
    def _read_marker(marker: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _wipe(self) -> None:
        for child in self.root.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()

    # -- paths -----------------------------------------------------------------------------
    def path(self, *parts: str) -> Path:
        """``root / parts`` (folders created), for readers and for sub-writers handed a
        folder of their own (the synthetic data generator writes ``data/``)."""
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def exists(self, *parts: str) -> bool:
        return self.root.joinpath(*parts).exists()

    # -- writers ---------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> Path:
        return atomic_write_bytes(self.root / rel, data)

    def write_text(self, rel: str, text: str) -> Path:
        return atomic_write_text(self.root / rel, text)

    def write_json(self, rel: str, obj: Any) -> Path:
        return atomic_write_text(self.root / rel, to_json(obj) + "\n")

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
        self.write_json(RUN_MARKER, {"key": self.key, "finished": _now(), "complete": True})

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
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

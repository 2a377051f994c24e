"""The sample table of any data source, before any image is opened.

One rule for every source (manifest, image folder, synthetic): a sample's id is its path
relative to the data root, in posix form without ``./`` (``images\\a.png`` and
``./images/a.png`` are both ``images/a.png``). The data root is ``data.root`` (default: the
manifest's folder) for a manifest, the folder itself for ``data.image_folder`` and the
generated folder for ``data.synthetic``. Two runs that read the same files from the same root
therefore have the same ids, whatever the source, and ``audit compare`` matches on them.

:func:`read_source` also parses sampling weights, merges repeated train rows, draws the
missing splits and applies ``data.train_manifest``, exactly as
:func:`auditor.data.dataset.load_data` does, so ``audit rebalance`` sees the same splits as
``audit run``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from auditor.config import DataConfig
from auditor.data.regions import normalise_name
from auditor.data.sources import assign_splits, read_image_folder, read_manifest
from auditor.data.train_rows import apply_train_manifest, merge_train_repeats, parse_weights

__all__ = ["read_source", "sample_id", "unsafe_path"]


def unsafe_path(path: str) -> str | None:
    """Why ``path`` cannot be a sample (empty, absolute, escaping the root), else ``None``."""
    if not path:
        return "empty path"
    if path.startswith(("/", "\\")) or Path(path).is_absolute() or (
            len(path) > 1 and path[1] == ":"):
        return f"absolute path not allowed (paths must be relative to the data root): {path}"
    if normalise_name(path).split("/")[0] == "..":
        return f"path escapes the data root with '..': {path}"
    return None


def sample_id(path: str) -> str:
    """The sample id of a path relative to the data root (unsafe paths are kept as written,
    to be reported as skipped)."""
    return path if unsafe_path(path) else normalise_name(path)


def read_source(cfg: DataConfig, *, seed: int) -> tuple[pd.DataFrame, Path, list[str]]:
    """The raw sample table of ``cfg``'s source (``manifest`` or ``image_folder``).

    Returns:
        ``(table, root, warnings)``: columns ``id, label, split``, the attributes and a float
        ``weight``; every split filled in (seeded where the source gives none).

    Raises:
        DataError: unreadable source, bad weight, or a bad ``data.train_manifest`` row.
    """
    raw, root, warnings = read_manifest(cfg) if cfg.manifest is not None else read_image_folder(cfg)
    raw["id"] = [sample_id(s) for s in raw["id"]]
    raw = merge_train_repeats(parse_weights(raw, cfg.manifest or cfg.image_folder))
    raw["split"] = assign_splits(raw, cfg.split_ratios, seed)
    if cfg.train_manifest is not None:
        raw, notes = apply_train_manifest(raw, cfg, root)
        warnings = [*warnings, *notes]
    return raw, root, warnings

"""Content fingerprints of the audited image files.

A sample id names a file (its path relative to the data root), not its content: a dataset
regenerated or edited in place keeps its ids. ``audit run`` therefore records each audited
image's fingerprint in ``samples.parquet`` (column ``image_hash``): BLAKE2b of the file's bytes,
8 bytes written as 16 hex digits. ``audit report`` checks the files its thumbnails are drawn
from against it, ``audit compare`` checks that two runs' samples of one id are the same image.
It detects changed files; it is no defence against someone forging a file to collide.

Hashing reads each audited file once more, right after the load-time check read it (page
cache): the demo's 600 test images (64 px PNGs, 9 kB each) take 25-45 ms on 2 shared cores,
against about 320 ms for their load-time check (:func:`auditor.data.images.check_images`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

__all__ = ["changed_files", "fingerprint", "split_fingerprints"]

_DIGEST_BYTES = 8
_CHUNK = 1 << 20


def fingerprint(path: Path) -> str | None:
    """The fingerprint of the file at ``path``, or None when it cannot be read."""
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except (OSError, ValueError):  # missing, unreadable, a name the file system refuses
        return None
    return digest.hexdigest()


def split_fingerprints(table: pd.DataFrame, split: str) -> dict[str, str | None]:
    """``{sample id: fingerprint}`` of the samples of ``split`` in a loaded table
    (``DataBundle.table``: columns ``id``, ``path``, ``split``)."""
    rows = table[table["split"] == split]
    return {str(sid): fingerprint(Path(path))
            for sid, path in zip(rows["id"], rows["path"], strict=True)}


def changed_files(recorded: Mapping[str, str], path_of: Callable[[str], Path | None]
                  ) -> list[str]:
    """The ids (sorted) whose file's bytes no longer match the recorded fingerprint.

    Args:
        recorded: ``{sample id: fingerprint}`` as the run recorded them.
        path_of: the file of an id now, or None when it may not be read (outside the data
            root). A file that is missing or cannot be read is not counted: whoever draws it
            leaves it out and says so.
    """
    out = []
    for sid in sorted(recorded):
        path = path_of(sid)
        now = fingerprint(path) if path is not None else None
        if now is not None and now != recorded[sid]:
            out.append(sid)
    return out

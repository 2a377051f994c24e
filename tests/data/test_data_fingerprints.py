"""Fingerprints of image files: by content only; what ``changed_files`` counts."""

from __future__ import annotations

import os

import pandas as pd

from auditor.data.fingerprints import changed_files, fingerprint, split_fingerprints


def test_a_fingerprint_is_the_files_content(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "sub" / "b.png", tmp_path / "c.png"
    b.parent.mkdir()
    a.write_bytes(b"\x89PNG same bytes")
    b.write_bytes(b"\x89PNG same bytes")
    c.write_bytes(b"\x89PNG same bytez")
    os.utime(b, (1_000_000_000, 1_000_000_000))
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)
    assert len(fingerprint(a)) == 16 and int(fingerprint(a), 16) >= 0
    assert fingerprint(tmp_path / "missing.png") is None
    assert fingerprint(tmp_path) is None  # a folder
    assert fingerprint(tmp_path / ("x" * 300)) is None  # a name the file system refuses


def test_split_fingerprints_cover_one_split(tmp_path):
    for name in ("t.png", "a.png"):
        (tmp_path / name).write_bytes(name.encode())
    table = pd.DataFrame({"id": ["t.png", "a.png"], "path": [tmp_path / "t.png",
                                                            tmp_path / "a.png"],
                          "split": ["train", "test"]})
    assert split_fingerprints(table, "test") == {"a.png": fingerprint(tmp_path / "a.png")}


def test_changed_files_counts_only_files_read_with_other_bytes(tmp_path):
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).write_bytes(name.encode())
    recorded = {n: fingerprint(tmp_path / n) for n in ("a", "b", "c", "d")}
    (tmp_path / "d").write_bytes(b"other")
    (tmp_path / "b").write_bytes(b"other")
    (tmp_path / "c").unlink()  # missing: left to whoever draws it
    assert changed_files(recorded, lambda sid: tmp_path / sid) == ["b", "d"]
    assert changed_files(recorded, lambda sid: None if sid == "b" else tmp_path / sid) == ["d"]

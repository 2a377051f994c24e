"""Helpers shared by the data-stage tests (tiny images, manifests)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from auditor.config import SyntheticConfig

TINY_CLINIC = SyntheticConfig(n_train=40, n_val=8, n_test=16, bias=0.9, image_size=64)


def write_image(path: Path, size=(32, 24), colour=(90, 120, 150), fmt=None) -> Path:
    """Write a plain RGB image (width, height) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


def write_manifest(path: Path, rows: list[tuple], header=("path", "label", "split")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

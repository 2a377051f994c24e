"""Fixtures for the data-stage tests: tiny images and a tiny generated clinic data set."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.data import TINY_CLINIC, write_image, write_manifest

from auditor.data.synthetic import generate_clinic


@pytest.fixture(scope="session")
def clinic_dir(tmp_path_factory) -> Path:
    """A tiny clinic data set generated once per test session."""
    out = tmp_path_factory.mktemp("clinic")
    generate_clinic(out, TINY_CLINIC, seed=3)
    return out


@pytest.fixture
def simple_manifest(tmp_path) -> Path:
    """Six images of two classes with a ``hair`` attribute and splits."""
    rows = []
    for i in range(6):
        label = "cat" if i % 2 else "dog"
        write_image(tmp_path / "img" / f"{i}.png", colour=(40 * i, 100, 200 - 30 * i))
        rows.append((f"img/{i}.png", label, ["train", "train", "train", "train", "test", "test"][i],
                     "dark" if i < 3 else "blond"))
    return write_manifest(tmp_path / "manifest.csv", rows, ("path", "label", "split", "hair"))

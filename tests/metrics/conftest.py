"""Fixtures for the metrics tests: tiny, seeded per-sample tables with planted answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

AREAS = {"face": 0.12, "object": 0.25, "background": 0.63}
REGIONS = ["face", "object", "background"]


def _table(cells: dict[tuple[str, str], dict], *, seed: int = 0,
           methods: tuple[str, ...] = ("gradcam",)) -> pd.DataFrame:
    """Per-sample table: for each (label, hair) cell, n rows, masses around the given means.

    ``cells[(label, hair)]`` = ``{"n": int, "wrong": int, "mass": {region: mean}}``; masses get
    small seeded noise and are renormalised to sum to 1; areas are AREAS with small noise.
    """
    rng = np.random.default_rng(seed)
    rows = []
    other = {"doctor": "nurse", "nurse": "doctor"}
    for (label, hair), spec in cells.items():
        for i in range(spec["n"]):
            wrong = i < spec.get("wrong", 0)
            row = {"model": "m", "id": f"{label}_{hair}_{i}", "split": "test", "label": label,
                   "pred": other[label] if wrong else label, "correct": not wrong, "hair": hair,
                   "label_idx": int(label == "nurse"),
                   "pred_idx": int((other[label] if wrong else label) == "nurse"),
                   "confidence": 0.9}
            area = np.array([AREAS[r] for r in REGIONS]) + rng.normal(0, 0.005, 3)
            area[2] = 1.0 - area[:2].sum()
            for r, a in zip(REGIONS, area, strict=True):
                row[f"area_{r}"] = float(a)
            for m in methods:
                mass = np.array([spec["mass"][r] for r in REGIONS]) + rng.normal(0, 0.02, 3)
                mass = np.clip(mass, 0.0, None)
                mass /= mass.sum()
                for r, v in zip(REGIONS, mass, strict=True):
                    row[f"mass_{m}_{r}"] = float(v)
            rows.append(row)
    return pd.DataFrame(rows)


CLEAN_MASS = {"face": 0.08, "object": 0.6, "background": 0.32}
CUE_MASS = {"face": 0.6, "object": 0.25, "background": 0.15}


@pytest.fixture
def make_table():
    """Factory: ``make_table(cells, seed=0, methods=("gradcam",))``."""
    return _table


@pytest.fixture
def clean_table():
    """160 rows, every cell looks at the object; 10% errors everywhere."""
    cells = {(lab, hair): {"n": 40, "wrong": 4, "mass": CLEAN_MASS}
             for lab in ("doctor", "nurse") for hair in ("dark", "blond")}
    return _table(cells)


@pytest.fixture
def cue_table():
    """160 rows; nurses with blond hair put 60% of the attention on the face (lift ~5)."""
    cells = {(lab, hair): {"n": 40, "wrong": 4, "mass": CLEAN_MASS}
             for lab in ("doctor", "nurse") for hair in ("dark", "blond")}
    cells[("nurse", "blond")]["mass"] = CUE_MASS
    return _table(cells)

"""Planted per-sample tables for the compare tests.

400 samples ``img_0000``..``img_0399``: ids < 200 are doctors, the rest nurses. Hair:
doctors with ``i % 5 == 0`` are blond (39, as 195 is red), nurses with ``i % 5 == 0`` are
dark (40); the five doctors 195..199 have hair ``red`` (a cell below the minimum support 10).

Baseline errors (100): 38 of the 39 blond doctors, all 40 dark nurses, the 5 red-haired
doctors and 17 majority nurses (ids 201..217 that are not multiples of 5).
Candidate: fixes 30 of the dark nurses (the first 30) and breaks 5 correct majority doctors
(ids 1..6 not multiples of 5 -> 1, 2, 3, 4, 6). So b = 5, c = 30.

Mass (regions face, object, background): the baseline looks at the face (0.6); the candidate
looks at the object (0.6) for the first 312 ids and at the face for the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N = 400
REGIONS = ["face", "object", "background"]
METHODS = ["gradcam", "gradcam++"]
SHIFTED = 312
FIXED = 30
BROKEN = [1, 2, 3, 4, 6]


def _base_errors() -> set[int]:
    blond_doctors = [i for i in range(0, 195, 5)]  # 39 ids; keep 38 wrong
    dark_nurses = [i for i in range(200, 400, 5)]  # 40 ids
    majority_nurses = [i for i in range(201, 240) if i % 5][:17]
    return set(blond_doctors[:38]) | set(dark_nurses) | set(range(195, 200)) | set(majority_nurses)


def planted_samples(*, seed: int = 0, names: tuple[str, str] = ("baseline", "rebalanced"),
                    extra_model: bool = True) -> pd.DataFrame:
    """The planted table (both models, plus a third model ``other`` unless disabled)."""
    rng = np.random.default_rng(seed)
    ids = [f"img_{i:04d}" for i in range(N)]
    label = np.where(np.arange(N) < 200, "doctor", "nurse")
    hair = np.where(
        np.arange(N) < 200,
        np.where(np.arange(N) % 5 == 0, "blond", "dark"),
        np.where(np.arange(N) % 5 == 0, "dark", "blond"),
    ).astype(object)
    hair[195:200] = "red"
    base_wrong = _base_errors()
    dark_nurses = sorted(i for i in base_wrong if i >= 200 and i % 5 == 0)
    cand_wrong = (base_wrong - set(dark_nurses[:FIXED])) | set(BROKEN)
    frames = []
    for model, wrong, shifted in ((names[0], base_wrong, 0), (names[1], cand_wrong, SHIFTED)):
        face = np.full(N, 0.6) + rng.uniform(-0.05, 0.05, N)
        obj = np.full(N, 0.25) + rng.uniform(-0.05, 0.05, N)
        face[:shifted], obj[:shifted] = obj[:shifted] - 0.05, face[:shifted].copy()
        frame = pd.DataFrame({
            "model": model, "id": ids, "split": "test", "label": label,
            "pred": label, "confidence": 0.9,
            "correct": [i not in wrong for i in range(N)], "hair": hair,
        })
        for method, scale in zip(METHODS, (1.0, 0.9), strict=True):
            frame[f"mass_{method}_face"] = face * scale
            frame[f"mass_{method}_object"] = obj * scale
            frame[f"mass_{method}_background"] = 1 - (face + obj) * scale
        for region, area in zip(REGIONS, (0.2, 0.3, 0.5), strict=True):
            frame[f"area_{region}"] = area
        frames.append(frame)
    if extra_model:
        frames.append(frames[0].assign(model="other", correct=False))
    table = pd.concat(frames, ignore_index=True)
    return table.sample(frac=1.0, random_state=seed).reset_index(drop=True)

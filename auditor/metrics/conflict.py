"""Accuracy where an attribute's value goes against the class: the bias-conflicting gap.

A value *goes with* a class when training pairs them (:func:`~auditor.metrics.reliance.
context_classes`). An image is *aligned* when its own value goes with its own class (a cat on
nature, when cats sat on nature in training) and *conflicting* when it goes with another class
(a cat on an urban scene). A model that decides through the value answers aligned images
right and conflicting ones wrong; a model that ignores it scores the same on both. The gap,
aligned minus conflicting accuracy, is the measure the shortcut literature reports (bias-
aligned against bias-conflicting accuracy). On a test set balanced over class x value,
pooling over the classes cancels a value that simply makes every image harder: each side
holds as many images of each value (on an unbalanced one, the sides weigh them unequally).

Read from the labels alone, the gap says the model rests on the *attribute*, not through which
region; a ``spurious_cue`` finding uses it beside a swap of the region
(:mod:`auditor.metrics.spurious`). Pure pandas.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from auditor.metrics.columns import swap_from_column
from auditor.metrics.stats import json_float, newcombe_diff_ci, wilson_ci

__all__ = ["conflict_gap"]


def conflict_gap(df: pd.DataFrame, swap: str, level: float = 0.95) -> dict[str, Any] | None:
    """Accuracy of aligned minus conflicting images for the attribute of context swap ``swap``.

    Args:
        df: per-sample rows [N] with ``label``, ``correct`` and ``swap_from_<swap>`` (the class
            the image's own value goes with; None where it goes with none: those rows are
            left out).
        swap: context swap name (``<attribute>:<region>``).
        level: interval level.

    Returns:
        ``{"aligned": {k, n, rate, ci}, "conflicting": {k, n, rate, ci}, "gap", "gap_ci"}``
        (Wilson intervals; the gap's is Newcombe's); None without the column or when a side
        has no image.
    """
    col = swap_from_column(swap)
    if col not in df.columns:
        return None
    home = df[col]
    known = home.notna().to_numpy()
    aligned = known & (home.astype(str).to_numpy() == df["label"].astype(str).to_numpy())
    conflicting = known & ~aligned
    correct = df["correct"].astype(bool).to_numpy()
    sides = {}
    for name, rows in (("aligned", aligned), ("conflicting", conflicting)):
        n = int(rows.sum())
        if not n:
            return None
        k = int(correct[rows].sum())
        sides[name] = {"k": k, "n": n, "rate": json_float(k / n),
                       "ci": [json_float(v) for v in wilson_ci(k, n, level)]}
    a, c = sides["aligned"], sides["conflicting"]
    lo, hi = newcombe_diff_ci(a["k"], a["n"], c["k"], c["n"], level)
    return {**sides, "gap": json_float(a["k"] / a["n"] - c["k"] / c["n"]),
            "gap_ci": [json_float(lo), json_float(hi)]}

"""The bench's ground truth of a planted cue: does a model's accuracy depend on it?

The audit never sees which attribute value was planted with which class; the bench does. On a
test split balanced over class x value, a model that ignores the cue is as accurate where the
value agrees with the class (as it did in most of train) as where it disagrees. The gap
between the two accuracies, with its Newcombe interval, says how much the model's decisions
rest on the cue, measured from the labels alone and independent of every finding.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from auditor.metrics.stats import newcombe_diff_ci

#: A model relies on the planted cue when the lower bound of its agree - disagree accuracy gap
#: is at least this (10 points: the group-gap findings' minimum effect).
RELIES = 0.10


def cue_gap(rows: pd.DataFrame, values: pd.Series, agrees: dict[str, str],
            level: float = 0.95) -> dict[str, Any]:
    """Accuracy where the cue agrees with the class minus where it disagrees.

    Args:
        rows: one model's audited samples, ``[N]`` rows with ``label`` and ``correct``.
        values: ``[N]`` the planted attribute's value of each row (same index).
        agrees: class -> the value planted with it in train.
        level: confidence level of the interval.

    Returns:
        ``{"gap", "ci": [lo, hi], "n_agree", "n_disagree", "relies"}``; ``relies`` is
        ``ci[0] >= RELIES``. Rows of a class without a planted value are left out.
    """
    planted = rows["label"].astype(str).map(agrees)
    known = planted.notna()
    agree = (values.astype(str) == planted) & known
    disagree = known & ~agree
    correct = rows["correct"].astype(bool)
    k1, n1 = int(correct[agree].sum()), int(agree.sum())
    k2, n2 = int(correct[disagree].sum()), int(disagree.sum())
    lo, hi = newcombe_diff_ci(k1, n1, k2, n2, level)
    gap = k1 / n1 - k2 / n2 if n1 and n2 else math.nan
    return {"gap": gap, "ci": [lo, hi], "n_agree": n1, "n_disagree": n2,
            "relies": bool(lo >= RELIES) if not math.isnan(lo) else False}


def cue_gaps(samples: pd.DataFrame, attribute: str, agrees: dict[str, str],
             truth: pd.Series | None = None) -> dict[str, dict[str, Any]]:
    """:func:`cue_gap` per model of a run's ``samples.parquet`` table. ``truth``: the
    attribute by sample id, for data whose manifest does not record it."""
    out = {}
    for model, rows in samples.groupby("model", sort=False):
        values = (rows[attribute] if truth is None
                  else rows["id"].map(truth).fillna(""))
        out[str(model)] = cue_gap(rows, values, agrees)
    return out


def _rate(rows: pd.DataFrame, features: dict[str, str], hit: pd.Series) -> tuple[int, int]:
    """``(hits, n)`` among the rows matching every ``column=value`` of ``features``."""
    mask = pd.Series(True, index=rows.index)
    for col, value in features.items():
        mask &= rows[col].astype(str) == str(value)
    return int(hit[mask].sum()), int(mask.sum())


def claim(finding: dict) -> tuple[dict[str, str], dict[str, str], str | None] | None:
    """What a group-level finding claims, as ``(cell, comparison, predicted)``: the cell's
    rate of errors (of being predicted ``predicted``, when given) exceeds the comparison's.
    None for a kind this oracle cannot check."""
    ev = finding.get("evidence") or {}
    if finding["kind"] == "misclassification_cluster" and ev.get("slice"):
        sl = ev["slice"]
        return ({"label": sl["true"], sl["attribute"]: sl["value"]}, {"label": sl["true"]},
                sl["pred"])
    if finding["kind"] == "group_gap" and ev.get("worst_group") and ev.get("best_group"):
        return ev["worst_group"]["features"], ev["best_group"]["features"], None
    return None


def replicates(finding: dict, holdout: pd.DataFrame, threshold: float = 0.10,
               level: float = 0.95) -> bool | None:
    """Whether a group-level finding's claim holds on fresh data from the same distribution.

    Args:
        finding: one finding of ``summary.json`` (``kind``, ``evidence``).
        holdout: the same model's audited samples on a fresh split, ``[N]`` rows with
            ``label``, ``pred``, ``correct`` and the attribute columns.
        threshold: the size the finding claims (the group-gap minimum effect).
        level: confidence level of the gap's Newcombe interval.

    Returns:
        True when the cell's rate exceeds the comparison's (the interval's lower bound above
        0) by an amount the interval allows to reach ``threshold``; False when it does not;
        None when the kind is not checkable. The comparison is the rest of the comparison
        group outside the cell.
    """
    what = claim(finding)
    if what is None:
        return None
    cell, comparison, predicted = what
    hit = ((holdout["pred"].astype(str) == predicted) if predicted
           else ~holdout["correct"].astype(bool))
    k1, n1 = _rate(holdout, cell, hit)
    k0, n0 = _rate(holdout, comparison, hit)
    if cell.items() >= comparison.items():  # the comparison holds the cell: use the rest
        k0, n0 = k0 - k1, n0 - n1
    lo, hi = newcombe_diff_ci(k1, n1, k0, n0, level)
    return bool(lo > 0 and hi >= threshold) if not math.isnan(lo) else False

"""Disaggregated performance: accuracy per subgroup, worst group, equalized odds.

Group accuracies are a groupby over the per-sample table (columns ``label`` and ``pred`` hold
class names, one column per attribute); the equalized-odds rates use fairlearn's
:class:`~fairlearn.metrics.MetricFrame`. fairlearn and scikit-learn are imported on first use,
so the worst-group rule (:func:`group_cells`, :func:`worst_and_best`) is light enough for
``audit compare``.

Definitions (the ``metrics`` block of summary.json):

* ``accuracy`` — share of correct predictions; ``balanced_accuracy`` — mean recall per class
  (``sklearn.metrics.balanced_accuracy_score``).
* groups for the worst group — the (class x attribute value) *cells*, as in the group-DRO and
  spurious-correlation literature (Sagawa et al. 2020): for each attribute, every combination
  ``label=<class> & <attr>=<value>``; without attributes the classes themselves. Only cells
  with at least ``min_group_size`` samples compete; when no cell is that large, all non-empty
  cells do and ``worst_group_min_size_met`` is False in the extra block (which records
  ``min_group_size`` too, so a reader can tell the competing cells from the listed ones).
* ``worst_group`` / ``worst_group_accuracy`` — the cell with the lowest accuracy (named like
  ``"hair=blond & label=doctor"``); ``accuracy_gap`` = best cell accuracy - worst cell accuracy.
* ``equalized_odds_difference`` — one-vs-rest for every class, per attribute: the larger of the
  between-group spreads of TPR and FPR (fairlearn's ``equalized_odds_difference``,
  ``between_groups``/``worst_case``), maximised over classes and attributes. Groups below
  ``min_group_size`` and groups where a rate is undefined (no positives / no negatives) are
  left out instead of counting as a rate of 0. For two classes this equals the binary
  definition. ``None`` without attributes.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics.stats import json_float, wilson_ci

__all__ = [
    "GroupPerformance",
    "GroupStat",
    "attribute_values",
    "balanced_attributes",
    "class_cells",
    "group_cells",
    "group_performance",
    "odds_groups",
    "reference_group",
    "worst_and_best",
]

MISSING = "missing"


@dataclass(frozen=True)
class GroupStat:
    """Accuracy of one group.

    Attributes:
        name: ``"hair=blond"`` or ``"hair=blond & label=doctor"`` (keys sorted).
        features: ``{column: value}`` defining the group.
        n: samples; correct: correct predictions among them.
        accuracy, error_rate: ``correct / n`` and ``1 - accuracy``.
        ci: Wilson interval of the accuracy at the requested level.
    """

    name: str
    features: dict[str, str]
    n: int
    correct: int
    accuracy: float
    error_rate: float
    ci: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.name, "features": dict(self.features), "n": self.n,
                "correct": self.correct, "accuracy": json_float(self.accuracy),
                "error_rate": json_float(self.error_rate),
                "ci": [json_float(self.ci[0]), json_float(self.ci[1])]}


@dataclass
class GroupPerformance:
    """Result of :func:`group_performance`; see the module docstring for definitions."""

    accuracy: float
    balanced_accuracy: float
    worst_group_accuracy: float | None
    worst_group: str | None
    accuracy_gap: float | None
    equalized_odds_difference: float | None
    best_group: str | None = None
    best_group_accuracy: float | None = None
    worst_group_min_size_met: bool = True
    min_group_size: int | None = None
    by_group: dict[str, dict[str, GroupStat]] = field(default_factory=dict)
    cells: list[GroupStat] = field(default_factory=list)
    intersectional: list[GroupStat] = field(default_factory=list)
    rates: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    equalized_odds_by_attribute: dict[str, float | None] = field(default_factory=dict)

    def metrics_dict(self) -> dict[str, Any]:
        """The ``metrics`` block of summary.json (exactly its six keys)."""
        return {
            "accuracy": json_float(self.accuracy),
            "balanced_accuracy": json_float(self.balanced_accuracy),
            "worst_group_accuracy": json_float(self.worst_group_accuracy),
            "worst_group": self.worst_group,
            "accuracy_gap": json_float(self.accuracy_gap),
            "equalized_odds_difference": json_float(self.equalized_odds_difference),
        }

    def by_group_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The ``by_group`` block: ``{ATTR: {VALUE: {n, accuracy, error_rate, ci, correct}}}``."""
        return {
            attr: {
                value: {"n": s.n, "accuracy": json_float(s.accuracy),
                        "error_rate": json_float(s.error_rate),
                        "ci": [json_float(s.ci[0]), json_float(s.ci[1])], "correct": s.correct}
                for value, s in values.items()
            }
            for attr, values in self.by_group.items()
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything: ``metrics``, ``by_group`` and the extra blocks (cells, rates ...)."""
        return {
            "metrics": self.metrics_dict(),
            "by_group": self.by_group_dict(),
            "best_group": self.best_group,
            "best_group_accuracy": json_float(self.best_group_accuracy),
            "worst_group_min_size_met": self.worst_group_min_size_met,
            "min_group_size": self.min_group_size,
            "cells": [c.to_dict() for c in self.cells],
            "intersectional": [c.to_dict() for c in self.intersectional],
            "rates": self.rates,
            "equalized_odds_by_attribute": {
                k: json_float(v) for k, v in self.equalized_odds_by_attribute.items()},
        }


def attribute_values(df: pd.DataFrame, attr: str) -> pd.Series:
    """The attribute column as strings, missing values as ``"missing"``."""
    col = df[attr]
    return col.where(col.notna(), MISSING).astype(str)


def reference_group(df: pd.DataFrame, attr: str, min_group_size: int
                    ) -> tuple[np.ndarray, str, list[str]] | None:
    """An attribute's values per row ``[N]``, its largest value (the reference of disparity
    comparisons; ties broken by name) and its other values with at least ``min_group_size``
    samples, sorted; None when fewer than two values are that large."""
    values = attribute_values(df, attr).to_numpy()
    sizes = pd.Series(values).value_counts()
    sizes = sizes[sizes >= min_group_size]
    if len(sizes) < 2:
        return None
    ref = sorted(sizes.index, key=lambda v: (-sizes[v], v))[0]
    return values, ref, sorted(v for v in sizes.index if v != ref)


def class_cells(labels: np.ndarray) -> dict[str, np.ndarray]:
    """``{"all samples": every row, "class C": the rows of class C, ...}`` as bool ``[N]``
    masks, classes sorted: the cells the unannotated-cue tests are read in."""
    labels = np.asarray(labels).astype(str)
    out = {"all samples": np.ones(len(labels), dtype=bool)}
    out.update({f"class {c}": labels == c for c in sorted(set(labels.tolist()))})
    return out


def group_name(features: dict[str, str]) -> str:
    """``{"label": "doctor", "hair": "blond"}`` -> ``"hair=blond & label=doctor"``."""
    return " & ".join(f"{k}={features[k]}" for k in sorted(features))


def _check_columns(df: pd.DataFrame, attributes: list[str]) -> None:
    missing = [c for c in ("label", "pred", *attributes) if c not in df.columns]
    if missing:
        raise ValueError(f"sample table lacks column(s): {', '.join(missing)}")


def _group_stats(df: pd.DataFrame, cols: list[str], level: float) -> list[GroupStat]:
    """Accuracy per combination of ``cols`` (groups sorted by their values; empty ones left
    out). A plain groupby: accuracy per group is the share of ``label == pred``."""
    sf = pd.DataFrame({c: (attribute_values(df, c) if c != "label" else df["label"].astype(str))
                       for c in cols})
    hit = (df["label"].astype(str).to_numpy() == df["pred"].astype(str).to_numpy())
    counts = pd.Series(hit.astype(int), index=sf.index).groupby(
        [sf[c] for c in cols], sort=True).agg(["size", "sum"])
    out = []
    for key, row in counts.iterrows():
        n, k = int(row["size"]), int(row["sum"])
        if n == 0:
            continue
        key = key if isinstance(key, tuple) else (key,)
        feats = {c: str(v) for c, v in zip(cols, key, strict=True)}
        acc = k / n
        out.append(GroupStat(group_name(feats), feats, n, k, acc, 1.0 - acc,
                             wilson_ci(k, n, level)))
    return out


def odds_groups(values: pd.Series, min_group_size: int) -> pd.Series:
    """Which rows enter the equalized-odds comparison: ``bool [N]``.

    Args:
        values: ``[N]`` attribute values (see :func:`attribute_values`).
        min_group_size: values with fewer samples are left out, unless fewer than two values
            are that large, in which case every row is kept.
    """
    sizes = values.value_counts()
    keep = values.isin(sizes[sizes >= min_group_size].index)
    if keep.sum() == 0 or values[keep].nunique() < 2:
        keep = pd.Series(True, index=values.index)
    return keep


def _rates(df: pd.DataFrame, attr: str, classes: list[str], min_group_size: int
           ) -> tuple[dict[str, dict[str, Any]], float | None]:
    """One-vs-rest TPR/FPR per attribute value, their spreads and the equalized-odds gap."""
    from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate

    sf = attribute_values(df, attr)
    keep = odds_groups(sf, min_group_size)
    out: dict[str, dict[str, Any]] = {}
    worst: float | None = None
    for cls in classes:
        yt = (df["label"].astype(str) == cls).to_numpy()[keep.to_numpy()]
        yp = (df["pred"].astype(str) == cls).to_numpy()[keep.to_numpy()]
        s = sf[keep].to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mf = MetricFrame(metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
                             y_true=yt, y_pred=yp, sensitive_features=pd.Series(s, name=attr))
        pos = pd.Series(yt).groupby(s).sum()
        neg = pd.Series(~yt).groupby(s).sum()
        tpr = mf.by_group["tpr"].where(pos.reindex(mf.by_group.index) > 0)
        fpr = mf.by_group["fpr"].where(neg.reindex(mf.by_group.index) > 0)
        entry: dict[str, Any] = {"tpr": {str(k): json_float(v) for k, v in tpr.items()},
                                 "fpr": {str(k): json_float(v) for k, v in fpr.items()}}
        for name, ser in (("tpr", tpr), ("fpr", fpr)):
            vals = ser.dropna()
            diff = float(vals.max() - vals.min()) if len(vals) >= 2 else math.nan
            ratio = (float(vals.min() / vals.max()) if len(vals) >= 2 and vals.max() > 0
                     else math.nan)
            entry[f"{name}_difference"] = json_float(diff)
            entry[f"{name}_ratio"] = json_float(ratio)
            if math.isfinite(diff):
                worst = diff if worst is None else max(worst, diff)
        out[cls] = entry
    return out, worst


def group_cells(df: pd.DataFrame, attributes: list[str] | tuple[str, ...], *,
                level: float = 0.95) -> list[GroupStat]:
    """The cells that compete for the worst group: ``label x <attr> value`` for every
    attribute, or the classes without attributes (needs ``label``, ``pred`` and the
    attribute columns)."""
    if attributes:
        return [s for attr in attributes for s in _group_stats(df, ["label", attr], level)]
    return _group_stats(df, ["label"], level)


def worst_and_best(cells: list[GroupStat], min_group_size: int
                   ) -> tuple[GroupStat, GroupStat, bool]:
    """The worst-group rule: ``(worst, best, size_met)`` among cells of at least
    ``min_group_size`` samples, or among all cells (``size_met`` False) when none is that
    large. Ties: the larger cell, then the name."""
    eligible = [c for c in cells if c.n >= min_group_size]
    size_met = bool(eligible)
    eligible = eligible or cells
    worst = min(eligible, key=lambda c: (c.accuracy, -c.n, c.name))
    best = max(eligible, key=lambda c: (c.accuracy, c.n, c.name))
    return worst, best, size_met


def group_performance(df: pd.DataFrame, attributes: list[str] | tuple[str, ...], *,
                      level: float = 0.95, min_group_size: int = 10) -> GroupPerformance:
    """Disaggregated accuracy of one model.

    Args:
        df: per-sample table of ONE model; needs ``label``, ``pred`` (class names) and the
            attribute columns (missing values count as the value ``"missing"``).
        attributes: subgroup columns (may be empty).
        level: confidence level of the Wilson intervals.
        min_group_size: smallest group that may be the worst/best group or enter the
            equalized-odds spread; intersectional groups below it are not listed.

    Returns:
        :class:`GroupPerformance`; ``metrics_dict()`` / ``by_group_dict()`` give the
        summary.json blocks.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    attributes = list(attributes)
    _check_columns(df, attributes)
    if len(df) == 0:
        raise ValueError("sample table is empty")
    y_true = df["label"].astype(str).to_numpy()
    y_pred = df["pred"].astype(str).to_numpy()
    accuracy = float(accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when a predicted class has no label
        balanced = float(balanced_accuracy_score(y_true, y_pred))

    by_group = {attr: {s.features[attr]: s for s in _group_stats(df, [attr], level)}
                for attr in attributes}
    cells = group_cells(df, attributes, level=level)
    intersectional = [s for a, b in itertools.combinations(attributes, 2)
                      for s in _group_stats(df, [a, b], level) if s.n >= min_group_size]
    worst, best, size_met = worst_and_best(cells, min_group_size)

    classes = sorted(set(y_true) | set(y_pred))
    rates: dict[str, dict[str, dict[str, Any]]] = {}
    eod_by_attr: dict[str, float | None] = {}
    for attr in attributes:
        rates[attr], eod_by_attr[attr] = _rates(df, attr, classes, min_group_size)
    finite = [v for v in eod_by_attr.values() if v is not None]
    eod = max(finite) if finite else None

    return GroupPerformance(
        accuracy=accuracy, balanced_accuracy=balanced,
        worst_group_accuracy=worst.accuracy, worst_group=worst.name,
        accuracy_gap=best.accuracy - worst.accuracy, equalized_odds_difference=eod,
        best_group=best.name, best_group_accuracy=best.accuracy,
        worst_group_min_size_met=size_met, min_group_size=int(min_group_size),
        by_group=by_group, cells=cells,
        intersectional=intersectional, rates=rates, equalized_odds_by_attribute=eod_by_attr)


def balanced_attributes(train: pd.DataFrame, attributes: Sequence[str], *,
                        tolerance: float = 1.1) -> list[str]:
    """The attributes a training table is group-balanced by: every (label x value) cell of
    the attribute carries the same total sampling weight, within ``tolerance`` (largest over
    smallest), with at least two values.

    Args:
        train: rows of the train split ``[N]`` with ``label``, the attribute columns and,
            optionally, ``weight`` (a sampling weight; 1 when absent).
        attributes: the attribute columns to test.
    """
    weight = (train["weight"].astype(float) if "weight" in train.columns
              else pd.Series(1.0, index=train.index))
    out = []
    for attr in attributes:
        if attr not in train.columns or train[attr].nunique() < 2:
            continue
        cells = weight.groupby([train["label"].astype(str), train[attr].astype(str)]).sum()
        full = len(train["label"].unique()) * train[attr].nunique()
        if len(cells) == full and cells.min() > 0 and cells.max() / cells.min() <= tolerance:
            out.append(str(attr))
    return out

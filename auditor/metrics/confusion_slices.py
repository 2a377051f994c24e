"""The slices behind error clusters: are class-``t`` samples with an attribute value predicted
``p`` more often than the rest of class ``t``?

Clustering groups errors by what they look like, so a cluster is enriched for a visible
attribute even when the model errs equally often for every value; the slice tells the two
apart (:func:`auditor.metrics.severity.cluster_severity`). Pure functions on arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.metrics.stats import fisher_enrichment, holm_bonferroni, json_float, newcombe_diff_ci

__all__ = ["ConfusionSlice", "confusion_slices"]

CI_LEVEL = 0.95  # before the Bonferroni correction over the slices tested


@dataclass(frozen=True)
class ConfusionSlice:
    """Class-``true`` samples with ``attribute=value``: how often they are predicted ``pred``.

    Attributes:
        true, pred: the confusion's true and predicted class (:attr:`confusion` is
            ``"true->pred"``, for display: class names may contain ``->``).
        attribute, value: the slice within class ``true``.
        n, confused: class samples with the value, and how many of them were predicted
            ``pred``; n_rest, confused_rest: the same for the rest of the class.
        share_in_errors: the value's share among the ``true->pred`` errors;
            share_in_class: its share among class ``true`` (the two equal when the value's
            confusion rate equals the rest's).
        p, p_adj: one-sided Fisher exact p (the value's rate is higher) and its Holm-corrected
            value over every slice tested for the model's clusters.
        effect_ci, effect_ci_level: Newcombe interval of :attr:`effect` at 95%
            Bonferroni-corrected over the same slices (the level it was computed at).
    """

    true: str
    pred: str
    attribute: str
    value: str
    n: int
    confused: int
    n_rest: int
    confused_rest: int
    share_in_errors: float
    share_in_class: float
    p: float
    p_adj: float
    effect_ci: tuple[float, float] = (math.nan, math.nan)
    effect_ci_level: float = math.nan

    @property
    def confusion(self) -> str:
        return f"{self.true}->{self.pred}"

    @property
    def rate(self) -> float:
        return self.confused / self.n if self.n else float("nan")

    @property
    def rate_rest(self) -> float:
        return self.confused_rest / self.n_rest if self.n_rest else float("nan")

    @property
    def effect(self) -> float:
        """``rate - rate_rest`` (NaN when either side is empty)."""
        return self.rate - self.rate_rest

    def to_dict(self) -> dict[str, Any]:
        return {"confusion": self.confusion, "true": self.true, "pred": self.pred,
                "attribute": self.attribute, "value": self.value,
                "n": self.n, "confused": self.confused, "rate": json_float(self.rate),
                "n_rest": self.n_rest, "confused_rest": self.confused_rest,
                "rate_rest": json_float(self.rate_rest), "effect": json_float(self.effect),
                "share_in_errors": json_float(self.share_in_errors),
                "share_in_class": json_float(self.share_in_class),
                "p": json_float(self.p), "p_adj": json_float(self.p_adj),
                "effect_ci": [json_float(v) for v in self.effect_ci],
                "effect_ci_level": json_float(self.effect_ci_level)}


def confusion_slices(confusions: Sequence[tuple[str, str]], true: np.ndarray,
                     pred: np.ndarray, attr_values: dict[str, np.ndarray]
                     ) -> list[ConfusionSlice]:
    """Every (confusion, attribute, value) slice of the given confusions, Holm-corrected,
    each with the Newcombe interval of its effect (Bonferroni-corrected level).

    Args:
        confusions: ``(true, pred)`` pairs.
        true, pred: ``[N]`` class names of every audited sample.
        attr_values: ``{attribute: [N] values}``.
    """
    found: list[ConfusionSlice] = []
    for t, p in confusions:
        in_class = true == t
        confused = pred[in_class] == p
        for attr, vals in attr_values.items():
            cls_vals = vals[in_class]
            for value in sorted(set(cls_vals.tolist())):
                has = cls_vals == value
                _, pval = fisher_enrichment(confused, has)
                found.append(ConfusionSlice(
                    t, p, attr, value, n=int(has.sum()), confused=int((confused & has).sum()),
                    n_rest=int((~has).sum()), confused_rest=int((confused & ~has).sum()),
                    share_in_errors=float(has[confused].mean()) if confused.any() else math.nan,
                    share_in_class=float(has.mean()), p=pval, p_adj=math.nan))
    adj = holm_bonferroni([s.p for s in found]) if found else np.zeros(0)
    level = 1 - (1 - CI_LEVEL) / max(len(found), 1)  # Bonferroni, like the group gaps
    return [replace(s, p_adj=float(q), effect_ci_level=level,
                    effect_ci=newcombe_diff_ci(s.confused, s.n, s.confused_rest, s.n_rest, level))
            for s, q in zip(found, adj, strict=True)]

"""Slice discovery: subgroups (one- and two-way) misclassified more often than their reference.

A *slice* is a combination of up to ``max_order`` conditions on the class (``label``) and the
attribute columns, e.g. ``hair=blond`` or ``hair=blond & label=doctor``. Every slice with at
least ``min_support`` samples is compared with its **reference**: the rest of its parent, i.e.
the samples that meet all but one of its conditions and not that one. ``hair=blond`` is
compared with the other hair values; ``hair=blond & label=doctor`` with the doctors of other
hair (does hair matter within the class?) *and* with the blond samples of other classes (does
the class matter within the hair value?), and must exceed both. So a child of a class that is
merely harder inherits nothing from it: the class is its own slice (``label=doctor``, compared
with the other classes), and a child adds a finding only where the attribute matters within
the class.

The test is a one-sided Fisher exact test of the slice's errors against the reference's
(``scipy.stats.fisher_exact``); with two references the larger p-value counts (the slice must
beat both). p-values are corrected over all tested slices (Holm by default, or
Benjamini-Hochberg); corrected p < ``alpha`` is ``significant``. The error rate carries a
Wilson interval and the excess over the reference a Newcombe interval at the
Bonferroni-corrected level (a high finding needs its lower bound to clear the bar). A slice
that equals its parent (one attribute value only) is not tested: its parent says the same.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from auditor.metrics.groups import attribute_values, group_name
from auditor.metrics.stats import (
    benjamini_hochberg,
    fisher_greater_p,
    holm_bonferroni,
    json_float,
    newcombe_diff_ci,
    wilson_ci,
)

__all__ = ["Slice", "find_slices"]


@dataclass(frozen=True)
class Slice:
    """One tested slice.

    Attributes:
        name: ``"hair=blond & label=doctor"``; features: the conditions as a dict.
        n, errors: samples and misclassified samples in the slice.
        error_rate, ci: ``errors / n`` and its Wilson interval.
        overall_error_rate: error rate of the whole table.
        reference: the conditions of the reference's parent and ``other``, the condition the
            reference does not meet (``{"label": "doctor"}``, ``"hair"``: doctors of other
            hair); with two parents, the one with the higher error rate.
        reference_n, reference_errors, reference_error_rate: the reference's counts and rate.
        excess_ci: Newcombe interval of ``error_rate - reference_error_rate`` at
            ``excess_ci_level``: ``level`` Bonferroni-corrected over the slices tested (the
            slices reported are the strongest of many, like a group gap's pair).
        p, p_adj: one-sided Fisher p-value (the larger over the references) and its corrected
            value.
        significant: ``p_adj < alpha``.
    """

    name: str
    features: dict[str, str]
    n: int
    errors: int
    error_rate: float
    ci: tuple[float, float]
    overall_error_rate: float
    p: float
    p_adj: float
    significant: bool
    reference: dict[str, str] = field(default_factory=dict)
    other: str = ""
    reference_n: int = 0
    reference_errors: int = 0
    reference_error_rate: float = math.nan
    excess_ci: tuple[float, float] = (math.nan, math.nan)
    excess_ci_level: float = math.nan

    @property
    def class_only(self) -> bool:
        """The slice is a class on its own (``label=c``): a harder class, not a subgroup."""
        return set(self.features) == {"label"}

    @property
    def excess(self) -> float:
        """Error rate above the reference's (0..1)."""
        return self.error_rate - self.reference_error_rate

    def to_dict(self) -> dict[str, Any]:
        return {"slice": self.name, "features": dict(self.features), "n": self.n,
                "errors": self.errors, "error_rate": json_float(self.error_rate),
                "ci": [json_float(self.ci[0]), json_float(self.ci[1])],
                "overall_error_rate": json_float(self.overall_error_rate),
                "reference": {"features": dict(self.reference), "other": self.other,
                              "n": self.reference_n, "errors": self.reference_errors,
                              "error_rate": json_float(self.reference_error_rate)},
                "excess": json_float(self.excess),
                "excess_ci": [json_float(self.excess_ci[0]), json_float(self.excess_ci[1])],
                "excess_ci_level": json_float(self.excess_ci_level),
                "p": json_float(self.p), "p_adj": json_float(self.p_adj),
                "significant": self.significant}


@dataclass(frozen=True)
class _Tested:
    features: dict[str, str]
    n: int
    k: int
    parent: dict[str, str]
    other: str
    ref_n: int
    ref_k: int
    p: float


def _test(features: dict[str, str], sel: np.ndarray, wrong: np.ndarray,
          eq: dict[str, dict[str, np.ndarray]]) -> _Tested | None:
    """The slice against each reference (the rest of each parent): the one with the highest
    error rate is reported and the largest p-value counts. None when a reference is empty
    (the slice is its parent). ``eq[column][value]``: the rows with that value."""
    n, k = int(sel.sum()), int(wrong[sel].sum())
    refs = []
    for col in features:
        parent = {c: v for c, v in features.items() if c != col}
        ref = ~sel
        for c, v in parent.items():
            ref &= eq[c][v]
        ref_n, ref_k = int(ref.sum()), int(wrong[ref].sum())
        if ref_n == 0:
            return None
        refs.append((ref_k / ref_n, parent, col, ref_n, ref_k,
                     fisher_greater_p(k, n, ref_k, ref_n)))
    # on a tie, the rest of the class (does the attribute matter within the class?)
    _, parent, col, ref_n, ref_k, _ = max(refs, key=lambda r: (r[0], "label" in r[1]))
    return _Tested(features, n, k, parent, col, ref_n, ref_k, max(r[5] for r in refs))


def find_slices(df: pd.DataFrame, attributes: Sequence[str], *, include_class: bool = True,
                max_order: int = 2, min_support: int = 10, alpha: float = 0.05,
                correction: Literal["holm", "bh"] = "holm", level: float = 0.95
                ) -> list[Slice]:
    """Test every slice of up to ``max_order`` conditions for an elevated error rate.

    Args:
        df: per-sample table of ONE model (``label``, ``correct`` and attribute columns).
        attributes: attribute columns to slice on.
        include_class: also slice on the true class (column ``label``).
        max_order: most conditions per slice (1 or 2).
        min_support: slices with fewer samples are not tested (nor listed).
        alpha: significance level after correction.
        correction: ``"holm"`` (family-wise) or ``"bh"`` (false discovery rate).
        level: confidence level of the Wilson intervals; the Newcombe intervals of the
            excess are at it, Bonferroni-corrected over the slices tested.

    Returns:
        Tested slices, significant ones first, then by p-value and error rate.
    """
    if correction not in ("holm", "bh"):
        raise ValueError(f"correction must be 'holm' or 'bh', not {correction!r}")
    cols = (["label"] if include_class else []) + list(attributes)
    if len(df) == 0 or not cols:
        return []
    wrong = ~df["correct"].astype(bool).to_numpy()
    overall = float(wrong.mean())
    values = {c: (df[c].astype(str) if c == "label" else attribute_values(df, c)).to_numpy()
              for c in cols}
    eq = {c: {str(v): values[c] == v for v in set(values[c].tolist())} for c in cols}
    raw: list[_Tested] = []
    for order in range(1, max(1, max_order) + 1):
        for combo in itertools.combinations(cols, order):
            for key in sorted(set(zip(*[values[c] for c in combo], strict=True))):
                feats = {c: str(v) for c, v in zip(combo, key, strict=True)}
                sel = np.ones(len(df), dtype=bool)
                for c, v in feats.items():
                    sel &= eq[c][v]
                if int(sel.sum()) < min_support:
                    continue
                tested = _test(feats, sel, wrong, eq)
                if tested is not None:
                    raw.append(tested)
    if not raw:
        return []
    pvals = np.array([t.p for t in raw])
    adj = holm_bonferroni(pvals) if correction == "holm" else benjamini_hochberg(pvals)
    excess_level = 1 - (1 - level) / len(raw)  # Bonferroni: the strongest of len(raw)
    out = [Slice(group_name(t.features), t.features, t.n, t.k, t.k / t.n,
                 wilson_ci(t.k, t.n, level), overall, t.p, float(q), bool(q < alpha),
                 reference=t.parent, other=t.other, reference_n=t.ref_n,
                 reference_errors=t.ref_k, reference_error_rate=t.ref_k / t.ref_n,
                 excess_ci=newcombe_diff_ci(t.k, t.n, t.ref_k, t.ref_n, excess_level),
                 excess_ci_level=excess_level)
           for t, q in zip(raw, adj, strict=True)]
    return sorted(out, key=lambda s: (not s.significant, s.p, -s.error_rate, s.name))

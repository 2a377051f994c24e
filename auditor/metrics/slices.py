"""Slice discovery: subgroups (one- and two-way) whose error rate is significantly high.

A *slice* is a combination of up to ``max_order`` conditions on the class (``label``) and the
attribute columns, e.g. ``hair=blond`` or ``hair=blond & label=doctor``. Every slice with at
least ``min_support`` samples is tested: a one-sided binomial test (``scipy.stats.binomtest``)
of its error count against the overall error rate, corrected over all tested slices (Holm by
default, or Benjamini-Hochberg). Slices with corrected p < ``alpha`` are ``significant``.
The error rate carries a Wilson interval. (The slice's samples are part of the overall rate,
which makes the test slightly conservative.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from auditor.metrics.groups import attribute_values, group_name
from auditor.metrics.stats import (
    benjamini_hochberg,
    binomial_greater_p,
    holm_bonferroni,
    json_float,
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
        p, p_adj: one-sided binomial p-value and its corrected value.
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

    def to_dict(self) -> dict[str, Any]:
        return {"slice": self.name, "features": dict(self.features), "n": self.n,
                "errors": self.errors, "error_rate": json_float(self.error_rate),
                "ci": [json_float(self.ci[0]), json_float(self.ci[1])],
                "overall_error_rate": json_float(self.overall_error_rate),
                "p": json_float(self.p), "p_adj": json_float(self.p_adj),
                "significant": self.significant}


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
        level: confidence level of the Wilson intervals.

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
    raw: list[tuple[dict[str, str], int, int, float]] = []
    for order in range(1, max(1, max_order) + 1):
        for combo in itertools.combinations(cols, order):
            for key in sorted(set(zip(*[values[c] for c in combo], strict=True))):
                sel = np.ones(len(df), dtype=bool)
                for c, v in zip(combo, key, strict=True):
                    sel &= values[c] == v
                n = int(sel.sum())
                if n < min_support:
                    continue
                k = int(wrong[sel].sum())
                raw.append(({c: str(v) for c, v in zip(combo, key, strict=True)}, n, k,
                            binomial_greater_p(k, n, overall)))
    if not raw:
        return []
    pvals = np.array([r[3] for r in raw])
    adj = holm_bonferroni(pvals) if correction == "holm" else benjamini_hochberg(pvals)
    out = [Slice(group_name(f), f, n, k, k / n, wilson_ci(k, n, level), overall, p, float(q),
                 bool(q < alpha))
           for (f, n, k, p), q in zip(raw, adj, strict=True)]
    return sorted(out, key=lambda s: (not s.significant, s.p, -s.error_rate, s.name))

"""``disparity`` findings (Aequitas-style): a group's accuracy, or its attention on a spurious
region, far from the reference group's (the largest value of its attribute).

Every ratio outside ``[tau, 1/tau]`` is a finding. Its p-value (Fisher exact for accuracy,
Mann-Whitney for mass) is Holm-corrected over every disparity of the model, and
:func:`~auditor.metrics.severity.disparity_severity` sets the severity from the corrected p and
the absolute difference. The title carries the difference with its interval: Newcombe's for
accuracies, a percentile bootstrap of the difference of mean masses. Masses below 1% on both
sides are not compared. A mass difference is phrased from the group with more mass ("group X's
predictions rest more on <region>"): on a spurious region less attention is the better side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from auditor.common.text import span
from auditor.metrics.attention import mass_column
from auditor.metrics.base import Finding, fmt_p, method_label, pct
from auditor.metrics.groups import reference_group
from auditor.metrics.severity import EPS, MIN_MASS_DIFFERENCE, disparity_severity
from auditor.metrics.stats import (
    bootstrap_diff_ci,
    holm_bonferroni,
    json_float,
    newcombe_diff_ci,
)

__all__ = ["disparity_findings", "mass_comparison", "pct_pair", "points_text"]

_MIN_MASS = 0.01


def _outside(ratio: float, tau: float) -> bool:
    return np.isfinite(ratio) and (ratio < tau or ratio > 1.0 / tau)


def pct_pair(a: float, b: float, size: str) -> tuple[str, str]:
    """``a`` and ``b`` as percentages beside ``size`` (a :func:`points_text`): whole percents,
    unless they would not subtract to the points shown ("41% vs 30%, 10 points higher" for
    40.5% and 30.2%, "2% vs 2%, 0.5 points more" for 2.2% and 1.7%) or the points carry a
    decimal; then as many decimals as the points (at least one)."""
    points = size.split(" points")[0]
    whole = "." not in points and points.isdigit() and abs(
        int(pct(a)[:-1]) - int(pct(b)[:-1])) == int(points)
    digits = 0 if whole else max(1, len(points.partition(".")[2]))
    return pct(a, digits), pct(b, digits)


def points_text(diff: float, lo: float, hi: float, level: float, more: str, less: str, *,
                bar: float | None = None) -> str:
    """``18 points lower, 95% CI 12–24``: the size of ``diff`` and its interval, worded by
    its sign (``more`` / ``less``); an interval reaching across zero reads "95% CI −2 to 59".

    Whole points, unless they would misread; then one decimal (two if one still does): a
    narrow interval (both ends the same whole number), a difference that rounds to 0 points
    ("0 points more"), or one under ``bar`` (the minimum effect a title then names) that
    rounds up to it ("5 points more …; under the 5-point minimum" for 4.58 points)."""
    word = more if diff >= 0 else less
    if diff < 0:
        diff, lo, hi = -diff, -hi, -lo
    finite = bool(np.isfinite(lo) and np.isfinite(hi))
    for d in (0, 1, 2):
        shown = float(f"{100 * diff:.{d}f}")
        narrow = d == 0 and finite and f"{100 * lo:.0f}" == f"{100 * hi:.0f}"
        misread = (diff > 0 and shown == 0) or (
            bar is not None and diff < bar - EPS and shown >= 100 * bar)
        if not (narrow or misread):
            break
    if not finite:
        return f"{100 * diff:.{d}f} points {word}"
    return (f"{100 * diff:.{d}f} points {word}, {100 * level:.0f}% CI "
            f"{span(f'{100 * lo:.{d}f}', f'{100 * hi:.{d}f}')}")


def mass_comparison(mass: np.ndarray, in_group: np.ndarray, in_reference: np.ndarray, *,
                    level: float = 0.95, n_boot: int = 1000, seed: int = 0
                    ) -> dict[str, Any] | None:
    """A group's mean attention mass against the reference group's.

    Args:
        mass: ``[N]`` per-sample masses (NaN: no map).
        in_group, in_reference: ``[N]`` boolean masks of the two groups.
        level, n_boot, seed: the bootstrap interval of the difference.

    Returns:
        ``{mass, reference_mass, ratio, n, n_reference, p, difference, difference_ci}``
        (two-sided Mann-Whitney ``p``; ``n`` counts the finite masses), or None when both
        means are under 1% or the reference's is 0.
    """
    a = mass[in_group & np.isfinite(mass)]
    b = mass[in_reference & np.isfinite(mass)]
    if a.size == 0 or b.size == 0:
        return None
    m_a, m_b = float(a.mean()), float(b.mean())
    if max(m_a, m_b) < _MIN_MASS or m_b <= 0:
        return None
    p = float(sps.mannwhitneyu(a, b).pvalue) if np.ptp(np.r_[a, b]) > 0 else 1.0
    diff, lo, hi = bootstrap_diff_ci(a, b, n_boot=n_boot, level=level, seed=seed)
    return {"mass": m_a, "reference_mass": m_b, "ratio": m_a / m_b, "n": int(a.size),
            "n_reference": int(b.size), "p": p, "difference": diff,
            "difference_ci": [json_float(lo), json_float(hi)]}


def disparity_findings(df: pd.DataFrame, attributes: Sequence[str], *, tau: float,
                       min_group_size: int, method: str | None = None,
                       spurious_regions: Sequence[str] = (), gap_threshold: float = 0.10,
                       level: float = 0.95, n_boot: int = 1000, seed: int = 0
                       ) -> list[Finding]:
    """Disparity flags (kind ``disparity``) of one model against the largest group.

    Args:
        df: per-sample table of ONE model (``correct``, attribute columns, masses).
        attributes: attribute columns.
        tau: a ratio outside ``[tau, 1/tau]`` is flagged (``analysis.disparity_tau``).
        min_group_size: smaller attribute values are not compared.
        method: saliency method whose masses are compared (None: accuracy only).
        spurious_regions: regions whose mass ratios are compared.
        gap_threshold: smallest accuracy difference of a medium accuracy disparity.
        level: confidence level of the difference's interval.
        n_boot, seed: bootstrap of the mass difference's interval.

    Returns:
        Findings whose evidence holds ``difference`` (group minus reference) and
        ``difference_ci`` beside the ratio, the counts and the p-values.
    """
    cands: list[tuple[float, str, dict[str, Any]]] = []  # (difference, sentence, evidence)
    correct = df["correct"].astype(bool).to_numpy()
    for attr in attributes:
        groups = reference_group(df, attr, min_group_size)
        if groups is None:
            continue
        values, ref, others = groups
        in_ref = values == ref
        for value in others:
            in_v = values == value
            acc_v, acc_r = correct[in_v].mean(), correct[in_ref].mean()
            ratio = acc_v / acc_r if acc_r > 0 else np.nan
            if _outside(ratio, tau):
                k_v, n_v = int(correct[in_v].sum()), int(in_v.sum())
                k_r, n_r = int(correct[in_ref].sum()), int(in_ref.sum())
                lo, hi = newcombe_diff_ci(k_v, n_v, k_r, n_r, level)
                size = points_text(acc_v - acc_r, lo, hi, level, "higher", "lower",
                                   bar=gap_threshold)
                p_v, p_r = pct_pair(acc_v, acc_r, size)
                cands.append((acc_v - acc_r,
                              f"Accuracy for {attr}={value} is {ratio:.2f} times that of the "
                              f"reference group {attr}={ref} ({p_v} vs {p_r}, "
                              f"{size}, n={n_v} and {n_r}",
                              {"metric": "accuracy", "attribute": attr, "value": value,
                               "reference": ref, "ratio": json_float(ratio), "tau": tau,
                               "group_value": json_float(acc_v),
                               "reference_value": json_float(acc_r), "n": n_v,
                               "n_reference": n_r,
                               "difference_ci": [json_float(lo), json_float(hi)],
                               "p": float(sps.fisher_exact(
                                   [[k_v, n_v - k_v], [k_r, n_r - k_r]]).pvalue)}))
            if method is None:
                continue
            for region in spurious_regions:
                mass = df[mass_column(method, region)].to_numpy(dtype=float)
                c = mass_comparison(mass, in_v, in_ref, level=level, n_boot=n_boot, seed=seed)
                if c is None or not _outside(c["ratio"], tau):
                    continue
                (hi_v, m_hi, n_hi), (lo_v, m_lo, n_lo) = sorted(
                    [(value, c["mass"], c["n"]), (ref, c["reference_mass"], c["n_reference"])],
                    key=lambda x: -x[1])
                lo, hi = c["difference_ci"]
                size = points_text(m_hi - m_lo, *((lo, hi) if hi_v == value else (-hi, -lo)),
                                   level, "more", "less", bar=MIN_MASS_DIFFERENCE)
                p_hi, p_lo = pct_pair(m_hi, m_lo, size)
                ratio = c["ratio"]
                cands.append((c["difference"],
                              f"Predictions for {attr}={hi_v} rest more on the {region} than "
                              f"those for {attr}={lo_v}: {p_hi} vs {p_lo} of the "
                              f"{method_label(method)} attention ({size}, "
                              f"{max(ratio, 1 / ratio):.2f} times, n={n_hi} and {n_lo}",
                              {"metric": "mass", "method": method, "region": region,
                               "attribute": attr, "value": value, "reference": ref,
                               "ratio": json_float(ratio), "tau": tau,
                               "group_value": json_float(c["mass"]),
                               "reference_value": json_float(c["reference_mass"]),
                               "n": c["n"], "n_reference": c["n_reference"],
                               "difference_ci": c["difference_ci"], "p": c["p"]}))
    adj = holm_bonferroni([ev["p"] for _, _, ev in cands]) if cands else []
    out = []
    for (diff, sentence, ev), p_adj in zip(cands, adj, strict=True):
        min_diff = gap_threshold if ev["metric"] == "accuracy" else MIN_MASS_DIFFERENCE
        severity = disparity_severity(diff, float(p_adj), min_diff)
        small = "" if abs(diff) >= min_diff - EPS else (
            f"; the difference is under the {100 * min_diff:.0f}-point minimum effect")
        out.append(Finding("disparity", severity,
                           f"{sentence}, corrected {fmt_p(float(p_adj))}{small}).",
                           {**ev, "p": json_float(ev["p"]), "p_adj": json_float(float(p_adj)),
                            "difference": json_float(diff), "min_difference": min_diff}))
    return out

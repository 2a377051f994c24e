"""Spurious-cue findings: the model relies on, or attends to, a region that should not decide
the class.

For every spurious region (config ``analysis.spurious_regions``; default every region not in
``expected_regions``, background included) two kinds of evidence are read, each in every
*cell* with at least ``min_group_size`` samples (all samples, each class, each (class,
attribute value)):

* causal (:func:`auditor.metrics.shortcuts.causal_evidence`): masking the region
  (``flip_<region>``) or swapping it for one from a sample with another attribute value
  (``swap_pred_<attr>:<region>``) changes more than ``reliance_threshold`` of a cell's
  predictions (lower Wilson bound) — whatever the region's size or lift, so a background
  covering 90% of the image is caught;
* attention: the lower end of the bootstrap interval of the region's lift (primary method)
  exceeds ``lift_threshold``.

One finding per region; its title puts the causal evidence first. Severity:

* ``high``   — swapping the region sends more than ``reliance_threshold`` of a cell's
  predictions to the class the swapped-in content goes with in training (lower bound, and
  above the same-value placebo), OR the swap *leans* that way (the rate itself reaches the
  threshold, its lower bound above the placebo's upper bound) AND masking the region flips
  more than ``reliance_threshold`` of the same cell's predictions, OR a swap that beats the
  placebo under the high bar (leaning, or reaching half the threshold) is confirmed by the
  labels: images whose value of the swap's attribute goes with another class in training are
  answered worse than those whose value goes with their own, by at least ``gap_threshold``
  (lower bound of Newcombe's interval, :mod:`auditor.metrics.conflict`), OR the lift clears
  the bar AND (the mass on the region exceeds the mass on the expected regions in that cell,
  OR masking the region flips more than ``reliance_threshold`` of a cell's predictions);
* ``medium`` — any one kind of evidence alone, including a swap whose follow rate beats the
  placebo (lower bound above its upper bound) and reaches half of ``reliance_threshold``
  without clearing it: a real but small reliance;
* ``low`` — masking flips that are the fill's doing: pasting the region in from other samples
  changes significantly fewer of the cell's predictions, and at most half as many
  (:attr:`~auditor.metrics.shortcuts.CausalEvidence.masking_disrupts_only`); said in the
  title, no evidence of a cue.

The evidence also reports whether wrong answers put more mass on the region than right ones
(one-sided Mann-Whitney U over the whole table), the flip rate for the expected region, and
the same cell's lift under the other methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.common.names import BACKGROUND
from auditor.common.thresholds import LIFT_THRESHOLD, RELIANCE_THRESHOLD
from auditor.errors import ConfigError
from auditor.metrics.attention import area_column, mass_column
from auditor.metrics.base import Finding, describe_group, fmt_p, method_label, pct
from auditor.metrics.causal_text import causal_sentence
from auditor.metrics.groups import group_name
from auditor.metrics.shortcuts import CausalEvidence, causal_evidence, cells, flip_stats
from auditor.metrics.stats import (
    bootstrap_mean_ci,
    bootstrap_ratio_ci,
    json_float,
    mannwhitney_greater,
)

__all__ = ["resolve_regions", "spurious_cue_findings"]


def resolve_regions(regions: Sequence[str], expected_regions: Sequence[str],
                    spurious_regions: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """Check the configured region names and fill the spurious default.

    Returns:
        ``(expected, spurious)``; spurious defaults to every region not expected, except the
        background when no region is expected: it then holds whatever the model should read
        (nothing annotated says where the object is), so masking it tests nothing about a
        shortcut.

    Raises:
        ConfigError: a configured name is not a region of the data (one line, naming the key).
    """
    regions = list(regions)
    for key, names in (("expected_regions", expected_regions),
                       ("spurious_regions", spurious_regions or [])):
        unknown = [r for r in names if r not in regions]
        if unknown:
            raise ConfigError(f"analysis.{key}: {', '.join(map(repr, unknown))} is not a region "
                              f"of the data (regions: {', '.join(regions)})")
    expected = [r for r in regions if r in expected_regions]
    if spurious_regions is None:
        spurious = [r for r in regions if r not in expected and (expected or r != BACKGROUND)]
    else:
        spurious = [r for r in regions if r in spurious_regions and r not in expected]
    return expected, spurious


def _flip_rate(df: pd.DataFrame, rows: np.ndarray, region: str, level: float
               ) -> tuple[float | None, list[float | None], int]:
    k, n, ci = flip_stats(df, rows, region, level)
    return (k / n if n else None), ci, n


def _region_finding(df: pd.DataFrame, method: str, region: str, expected: list[str],
                    cell_list, attributes: Sequence[str], *, min_group_size: int,
                    lift_threshold: float, gap_threshold: float,
                    reliance_threshold: float, other_methods: Sequence[str], n_boot: int,
                    level: float, seed: int) -> Finding | None:
    mass = df[mass_column(method, region)].to_numpy(dtype=float)
    area = df[area_column(region)].to_numpy(dtype=float)
    scored = []
    for feats, rows in cell_list:
        lift, lo, hi = bootstrap_ratio_ci(mass[rows], area[rows], n_boot=n_boot, level=level,
                                          seed=seed)
        if np.isfinite(lo) and lo > lift_threshold:
            scored.append((lo, lift, hi, feats, rows))
    causal = causal_evidence(df, region, cell_list, attributes, threshold=reliance_threshold,
                             level=level, min_follow=min_group_size, gap_threshold=gap_threshold)
    if not scored and not causal.causal and not causal.masking_disrupts_only:
        return None
    scored.sort(key=lambda s: (-s[0], group_name(s[3])))
    if scored:
        lo, lift, hi, feats, rows = scored[0]
    else:
        feats, rows = _causal_cell(causal, cell_list)
        lift, lo, hi = bootstrap_ratio_ci(mass[rows], area[rows], n_boot=n_boot, level=level,
                                          seed=seed)
    n = int(rows.sum())
    m_mean, m_lo, m_hi = bootstrap_mean_ci(mass[rows], n_boot=n_boot, level=level, seed=seed)
    a_mean = float(np.nanmean(area[rows]))
    m_expected = (float(sum(np.nanmean(df[mass_column(method, r)].to_numpy(dtype=float)[rows])
                            for r in expected)) if expected else None)
    flip, flip_ci, flip_n = _flip_rate(df, rows, region, level)
    flips_expected = {r: _flip_rate(df, rows, r, level)[0] for r in expected}
    reasons = ["lift"] if scored else []
    if scored and m_expected is not None and m_mean > m_expected:
        reasons.append("mass_exceeds_expected")
    if causal.masking_flips:
        reasons.append("reliance")
    if causal.swap_follows:
        reasons.append("swap_follows")
    elif causal.swap_leans:
        reasons.append("swap_leans")
    elif causal.swap_flips:
        reasons.append("swap_flips")
    elif causal.swap_beyond_placebo:
        reasons.append("swap_beyond_placebo")
    if causal.conflict_confirms:
        reasons.append("conflict_gap")
    if causal.lead_follows:
        reasons.append("lead_follows")
    elif causal.lead_beyond_controls:
        reasons.append("lead_beyond_controls")
    # the rule of the module's docstring: a lift is high only beside masking flips or more
    # mass than the expected regions, never beside a swap or paste under the high bar (the
    # title says that bar was missed)
    severity = "high" if ("swap_follows" in reasons or "lead_follows" in reasons
                          or "conflict_gap" in reasons
                          or ("swap_leans" in reasons and causal.masking_agrees)
                          or ("lift" in reasons and ("mass_exceeds_expected" in reasons
                                                     or "reliance" in reasons))) else "medium"
    if not reasons:  # masking's flips are the fill's doing: said, but no evidence
        reasons, severity = ["masking_disruption"], "low"

    wrong = ~df["correct"].astype(bool).to_numpy() if "correct" in df.columns else None
    err: dict[str, Any] = {}
    if wrong is not None and wrong.any() and (~wrong).any():
        err = {"mass_incorrect": json_float(np.nanmean(mass[wrong])),
               "mass_correct": json_float(np.nanmean(mass[~wrong])),
               "incorrect_vs_correct_p": json_float(mannwhitney_greater(mass[wrong],
                                                                         mass[~wrong])),
               "n_incorrect": int(wrong.sum())}

    where = "across all samples" if not feats else f"for {describe_group(feats)}"
    numbers = (f"{pct(a_mean)} of the image, lift {lift:.1f}, {level:.0%} CI "
               f"{lo:.1f}–{hi:.1f}")
    if lo <= 1.0:  # context, not evidence: say that its attention does not single it out
        looks = (f"its {method_label(method)} attention does not single out the {region}: "
                 f"{pct(m_mean)} of it falls there ({numbers}) {where} (n={n})")
    else:
        looks = (f"the model puts {pct(m_mean)} of its {method_label(method)} attention on "
                 f"{region} ({numbers}) {where} (n={n})")
    first = causal_sentence(region, causal, level)
    title = f"{first}; {looks}." if first else f"{looks[0].upper()}{looks[1:]}."
    evidence: dict[str, Any] = {
        "region": region, "method": method, "group": group_name(feats) if feats else "all",
        "features": dict(feats), "class": feats.get("label"), "n": n,
        "mass": json_float(m_mean), "mass_ci": [json_float(m_lo), json_float(m_hi)],
        "area": json_float(a_mean), "lift": json_float(lift),
        "ci": [json_float(lo), json_float(hi)], "lift_threshold": lift_threshold,
        "expected_regions": list(expected), "mass_expected": json_float(m_expected),
        "reliance_flip_rate": json_float(flip), "reliance_flip_ci": flip_ci,
        "reliance_n": flip_n,
        "reliance_flip_rate_expected": {r: json_float(v) for r, v in flips_expected.items()},
        "severity_reasons": reasons, "causal": causal.to_dict(),
        "cells": [{"group": group_name(f) if f else "all", "n": int(r.sum()),
                   "lift": json_float(li), "ci": [json_float(lo_), json_float(hi_)]}
                  for lo_, li, hi_, f, r in scored[:5]],
        "n_cells_flagged": len(scored),
        "other_methods": {},
        **err,
    }
    for other in other_methods:
        col = mass_column(other, region)
        if other != method and col in df.columns:
            om = np.nanmean(df[col].to_numpy(dtype=float)[rows])
            evidence["other_methods"][other] = {
                "mass": json_float(om), "lift": json_float(om / a_mean if a_mean > 0 else None)}
    if err:
        evidence["incorrect_vs_correct"] = (
            f"wrong answers put {pct(err['mass_incorrect'])} on {region}, right ones "
            f"{pct(err['mass_correct'])} ({fmt_p(err['incorrect_vs_correct_p'])})")
    return Finding("spurious_cue", severity, title, evidence)


def _causal_cell(ev: CausalEvidence, cell_list) -> tuple[dict[str, str], np.ndarray]:
    """The cell the strongest causal evidence was found in (the swap's, unless a weaker swap
    sits beside masking evidence)."""
    weaker = (ev.swap_leans or ev.swap_beyond_placebo) and (not ev.masking_flips
                                                             or ev.conflict_confirms)
    best = ev.swap if (ev.swap_follows or ev.swap_flips or weaker) else (
        ev.lead if ev.lead_beyond_controls and not ev.masking_flips else ev.mask)
    for feats, rows in cell_list:
        if best is not None and dict(feats) == best["features"]:
            return feats, rows
    return cell_list[0]


def spurious_cue_findings(df: pd.DataFrame, method: str, regions: Sequence[str],
                          attributes: Sequence[str], *, expected_regions: Sequence[str],
                          spurious_regions: Sequence[str] | None = None,
                          lift_threshold: float = LIFT_THRESHOLD, min_group_size: int = 10,
                          reliance_threshold: float = RELIANCE_THRESHOLD,
                          gap_threshold: float = 0.10,
                          other_methods: Sequence[str] = (),
                          n_boot: int = 1000, level: float = 0.95, seed: int = 0
                          ) -> list[Finding]:
    """Spurious-cue findings of one model (see the module docstring).

    Args:
        df: per-sample table of ONE model (``label``, ``correct``, attribute columns,
            ``mass_<method>_<region>``, ``area_<region>``, optional ``flip_<region>``).
        method: the primary saliency method.
        regions: all region names (``background`` included).
        attributes: attribute columns forming (class, value) cells.
        expected_regions / spurious_regions: from ``AnalysisConfig``.
        lift_threshold: the lift's lower confidence bound must exceed it.
        min_group_size: smallest cell tested.
        reliance_threshold: share of a cell's predictions that masking or swapping must
            change (lower Wilson bound) to count as causal evidence.
        gap_threshold: the conflict gap's lower bound that makes a swap under the high bar
            high (``analysis.gap_threshold``).
        other_methods: methods whose lift for the same cell goes into the evidence.
        n_boot, level, seed: bootstrap settings.

    Returns:
        At most one finding per spurious region.

    Raises:
        ConfigError: a configured region name is not a region of the data.
    """
    expected, spurious = resolve_regions(regions, expected_regions, spurious_regions)
    cell_list = cells(df, attributes, min_group_size)
    out = []
    for region in spurious:
        f = _region_finding(df, method, region, expected, cell_list, attributes,
                            min_group_size=min_group_size, lift_threshold=lift_threshold,
                            gap_threshold=gap_threshold,
                            reliance_threshold=reliance_threshold, other_methods=other_methods,
                            n_boot=n_boot, level=level, seed=seed)
        if f is not None:
            out.append(f)
    return out

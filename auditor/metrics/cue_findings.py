"""Findings about cues nobody annotated: off-region hotspots and discovered concepts.

* ``hotspot`` — an area of consistent attention outside every annotated region
  (:mod:`auditor.metrics.hotspots`): masking it (flip rate per cell, Wilson interval) and its
  attention mass by attribute value (Mann-Whitney, Bonferroni over the values compared);
* ``concept`` — a discovered concept (:mod:`auditor.metrics.concepts`) that is *important*
  for a predicted class (removing it from the activations) and *associated* with an attribute
  value or with the errors of a class (one-sided Fisher, Holm-corrected over all concepts'
  tests).

Severities: :func:`auditor.metrics.severity.hotspot_severity` and
:func:`~auditor.metrics.severity.concept_severity`. A medium finding's title ends by saying
which bar of ``high`` it misses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from auditor.common.text import span
from auditor.metrics.base import Finding, fmt_p, method_label, pct
from auditor.metrics.columns import area_column, flip_column, mass_column
from auditor.metrics.cues import paste_summary
from auditor.metrics.disparity import mass_comparison, points_text
from auditor.metrics.groups import class_cells, reference_group
from auditor.metrics.hotspots import place
from auditor.metrics.severity import (
    CONCEPT_HIGH_ODDS,
    CONCEPT_HIGH_P,
    CONCEPT_MIN_ODDS,
    CUE_MIN_PROB_DROP,
    concept_severity,
    hotspot_severity,
    significant,
)
from auditor.metrics.shortcuts import CausalEvidence
from auditor.metrics.stats import json_float, wilson_ci

__all__ = ["concept_findings", "hotspot_findings"]


def _best_flip(df: pd.DataFrame, name: str, min_group_size: int, level: float
               ) -> dict[str, Any] | None:
    col, acol = flip_column(name), area_column(name)
    if col not in df.columns:
        return None
    keep = df[acol].to_numpy(float) > 0 if acol in df.columns else np.ones(len(df), bool)
    keep &= df[col].notna().to_numpy()  # images the masking test ran on
    best = None
    for cell, rows in class_cells(df["label"].to_numpy()).items():
        rows = rows & keep
        n = int(rows.sum())
        if n < min_group_size:
            continue
        k = int(df.loc[rows, col].astype(bool).sum())
        lo, hi = wilson_ci(k, n, level)
        cand = {"cell": cell, "flip_rate": k / n, "ci": [lo, hi], "n": n, "k": k}
        if best is None or lo > best["ci"][0]:
            best = cand
    return best


def decided_by(df: pd.DataFrame, name: str, level: float) -> dict[str, Any] | None:
    """How often the predictions that masking hotspot ``name`` changes were right, over every
    tested sample, against chance.

    A model that reads what the class looks like there (the object, when nothing is
    annotated) is mostly right in the predictions the area decides; a shortcut whose link to
    the class is broken in the audited split (a balanced test set) is right in them about as
    often as a guess. Chance is the accuracy those predictions would have if each sample's
    label were drawn from the tested samples' label distribution: ``sum_c share of the
    changed predictions that are c x share of the tested samples labelled c``.

    Args:
        df: per-sample table of one model (``label``, ``pred``, ``correct``, ``flip_<name>``).

    Returns:
        ``{n, right, accuracy, ci, chance, p}`` (``p``: one-sided binomial test that the
        accuracy exceeds chance), or None when masking changed no prediction.
    """
    col = flip_column(name)
    if col not in df.columns or not {"label", "pred", "correct"} <= set(df.columns):
        return None
    tested = df[df[col].notna()]
    changed = tested[tested[col].astype(bool)]
    n = len(changed)
    if not n:
        return None
    right = int(changed["correct"].astype(bool).sum())
    labels = tested["label"].astype(str).value_counts(normalize=True)
    preds = changed["pred"].astype(str).value_counts(normalize=True)
    chance = float(sum(share * labels.get(c, 0.0) for c, share in preds.items()))
    p = float(sps.binomtest(right, n, min(max(chance, 0.0), 1.0), alternative="greater").pvalue)
    lo, hi = wilson_ci(right, n, level)
    return {"n": n, "right": right, "accuracy": right / n, "ci": [json_float(lo),
            json_float(hi)], "chance": json_float(chance), "p": json_float(p)}


def _group_difference(df: pd.DataFrame, name: str, method: str, attributes: Sequence[str],
                      tau: float, min_group_size: int, level: float) -> list[dict[str, Any]]:
    col = mass_column(method, name)
    if col not in df.columns:
        return []
    mass = df[col].to_numpy(float)
    tests = []
    for attr in attributes:
        groups = reference_group(df, attr, min_group_size)
        if groups is None:
            continue
        values, ref, others = groups
        for v in others:
            c = mass_comparison(mass, values == v, values == ref, level=level)
            if c is not None:
                tests.append({"attribute": attr, "value": v, "reference": ref, **c})
    for t in tests:
        t["p_adj"] = min(1.0, t["p"] * len(tests))
    return [t for t in tests if (t["ratio"] < tau or t["ratio"] > 1 / tau)]


def hotspot_findings(df: pd.DataFrame, hotspots: Sequence[Mapping[str, Any]], method: str,
                     attributes: Sequence[str], *, reliance_threshold: float = 0.2,
                     tau: float = 0.8, min_group_size: int = 10, level: float = 0.95,
                     expected_annotated: bool = True) -> list[Finding]:
    """One ``hotspot`` finding per hotspot (see the module docstring).

    Args:
        df: per-sample table of ONE model with ``mass_<method>_hotspot_<k>``,
            ``area_hotspot_<k>`` and (when tested) ``flip_hotspot_<k>`` columns.
        hotspots: the ``hotspots`` entries of the summary (``name``, ``box``, ``cell``,
            ``peak_lift``, ``cell_mass``).
        method: the saliency method the hotspots were found with.
        attributes: attribute columns.
        reliance_threshold, tau, min_group_size, level: thresholds (see the module docs).
        expected_annotated: an expected region is configured, so a hotspot (outside every
            annotated region) is not the object; without one it may be, and a hotspot whose
            decisions are right more often than chance (:func:`decided_by`) is at most
            ``medium``.
    """
    out = []
    for h in hotspots:
        name = h["name"]
        flip = _best_flip(df, name, min_group_size, level)
        paste = paste_summary(df, name, min_group_size, level)
        follows = paste is not None and CausalEvidence(
            None, {**paste, "flip_ci": paste["follow_ci"]}, reliance_threshold).swap_follows
        groups = [t for t in _group_difference(df, name, method, attributes, tau,
                                               min_group_size, level)
                  if significant(t["p_adj"])]
        severity = hotspot_severity(
            flip_rate=flip["flip_rate"] if flip else None,
            flip_lower=flip["ci"][0] if flip else None, mass_differs=bool(groups),
            reliance_threshold=reliance_threshold, paste_follows=follows)
        decided = decided_by(df, name, level)
        # without an expected region the area may be the object: the high bar needs its
        # decisions to be no better than chance (none recorded: not shown, so capped)
        capped = (severity == "high" and not expected_annotated
                  and (decided is None or significant(decided["p"])))
        if capped:
            severity = "medium"
        where = place(h["box"])
        title = (f"The model looks at an unannotated area, {name} at the {where}: "
                 f"{method_label(method)} lift {h['peak_lift']:.1f} in {h['cell']}")
        if flip:
            title += (f"; masking it changes {pct(flip['flip_rate'])} of the predictions of "
                      f"{flip['cell']} ({level:.0%} CI {pct(flip['ci'][0])}–"
                      f"{pct(flip['ci'][1])}, n={flip['n']})")
        if paste:
            title += (f"; pasting it from an image the model assigns to another class sends "
                      f"{pct(paste['follow_rate'])} of the predictions of {paste['cell']} to "
                      f"that class ({level:.0%} CI {pct(paste['follow_ci'][0])}–"
                      f"{pct(paste['follow_ci'][1])}, n={paste['n_follow']}; from one it "
                      f"assigns to the same class it changes "
                      f"{pct(paste['placebo_flip_rate'])} "
                      f"({_ci(paste.get('placebo_ci'))}n={paste['n_placebo']}))")
        if groups:
            g = min(groups, key=lambda t: t["p_adj"])
            size = points_text(g["difference"], *g["difference_ci"], level, "more", "less")
            title += (f"; samples with {g['attribute']}={g['value']} put {pct(g['mass'])} of "
                      f"the map on it against {pct(g['reference_mass'])} for "
                      f"{g['attribute']}={g['reference']} ({size}, {g['ratio']:.2f} times, "
                      f"n={g['n']} and {g['n_reference']}, corrected {fmt_p(g['p_adj'])})")
        if decided is not None and not expected_annotated:
            title += (f"; the predictions masking it changes were right in "
                      f"{pct(decided['accuracy'])} ({level:.0%} CI {pct(decided['ci'][0])}–"
                      f"{pct(decided['ci'][1])}, n={decided['n']}) against "
                      f"{pct(decided['chance'])} by chance")
        if capped:
            title += ("; only medium: no expected region is annotated, and the predictions it "
                      "decides are right more often than chance, so it may be what the class "
                      "looks like (look at its images, or annotate the expected region and set "
                      "analysis.expected_regions)")
        elif severity == "medium":
            title += (f"; only medium: high needs masking to change at least "
                      f"{pct(reliance_threshold)} of a cell's predictions (lower bound "
                      f"{pct(reliance_threshold / 2)}), or pasting to send that many to the "
                      f"donor's class, beyond the same-class paste")
        out.append(Finding("hotspot", severity, title + ".", {
            "hotspot": name, "box": h["box"], "where": where, "method": method,
            "cell": h["cell"], "peak_lift": json_float(h["peak_lift"]),
            "cell_mass": json_float(h["cell_mass"]),
            "reliance": None if flip is None else {
                "cell": flip["cell"], "flip_rate": json_float(flip["flip_rate"]),
                "ci": [json_float(v) for v in flip["ci"]], "n": flip["n"]},
            "paste": None if paste is None else {**paste, "follows": follows},
            "reliance_threshold": reliance_threshold,
            "expected_annotated": expected_annotated, "decided": decided,
            "group_differences": [{k: (json_float(v) if isinstance(v, float) else v)
                                   for k, v in t.items()} for t in groups]}))
    return out


def concept_findings(concepts: Sequence[Mapping[str, Any]], *, reliance_threshold: float = 0.2
                     ) -> list[Finding]:
    """One ``concept`` finding per important and associated concept (see the module docs).

    Args:
        concepts: the ``concepts.items`` entries of the summary: ``concept``, ``importance``
            ``{CLASS: {flip_rate, ci, n, prob_drop}}``, ``tests`` (from
            :func:`~auditor.metrics.concepts.concept_stats`), ``top`` (patch examples).
        reliance_threshold: flip rate that makes a finding ``high``.
    """
    out = []
    for c in concepts:
        assoc = [t for t in c.get("tests") or [] if significant(t["p_adj"])
                 and (t["odds_ratio"] or 0) >= CONCEPT_MIN_ODDS]
        if not assoc:
            continue
        t = next((x for x in assoc if x["what"] == "attribute"), assoc[0])
        rated = [(cls, v, concept_severity(
            flip_rate=v["flip_rate"], flip_lower=v["ci"][0] or 0.0, prob_drop=v["prob_drop"],
            p_adj=t["p_adj"], odds_ratio=t["odds_ratio"], reliance_threshold=reliance_threshold,
            with_attribute=t["what"] == "attribute"))
            for cls, v in (c.get("importance") or {}).items() if v.get("n")]
        rated = [r for r in rated if r[2] is not None]
        if not rated:
            continue
        cls, v, severity = max(rated, key=lambda r: ((r[1]["ci"][0] or 0), r[0]))
        if t["what"] == "errors":
            why = (f"it is present in {pct(t['rate_in'])} of the errors on class {t['class']} "
                   f"(n={t['n_in']}) against {pct(t['rate_out'])} of its right answers "
                   f"(n={t['n_out']})")
        else:
            why = (f"it is present in {pct(t['rate_in'])} of the samples with "
                   f"{t['attribute']}={t['value']} (n={t['n_in']}) against "
                   f"{pct(t['rate_out'])} of the others (n={t['n_out']})")
        title = (f"Discovered concept {c['concept']} (found without annotations) drives "
                 f"class {cls}: removing it changes {pct(v['flip_rate'])} of those predictions "
                 f"(CI {pct(v['ci'][0])}–{pct(v['ci'][1])}, n={v['n']}) and lowers their "
                 f"probability by {v['prob_drop'] or 0:.2f} on average "
                 f"({_ci(v.get('prob_drop_ci'), '.2f')}n={v['n']}); {why}, "
                 f"corrected {fmt_p(t['p_adj'])}")
        if severity == "medium":
            title += "; only medium: " + _concept_misses(v, t, reliance_threshold)
        out.append(Finding("concept", severity, title + ".", {
            "concept": c["concept"], "class": cls, "importance": dict(v),
            "association": dict(t), "reliance_threshold": reliance_threshold,
            "top": list(c.get("top") or [])}))
    return out


def _concept_misses(importance: Mapping[str, Any], test: Mapping[str, Any],
                    reliance_threshold: float) -> str:
    """Which bars of a high ``concept`` finding a medium one misses, in words."""
    misses = []
    if test["what"] == "errors":
        misses.append("its association is with a class's errors, which any concept driving "
                      "the class they are mistaken for shows, not with a subgroup")
    if importance["flip_rate"] < reliance_threshold or \
            (importance["ci"][0] or 0) < reliance_threshold / 2:
        misses.append(f"high needs removing it to change at least {pct(reliance_threshold)} of "
                      f"the predictions with a lower bound of at least "
                      f"{pct(reliance_threshold / 2)} (here {pct(importance['flip_rate'])}, "
                      f"lower bound {pct(importance['ci'][0])})")
    if (importance["prob_drop"] or 0) < CUE_MIN_PROB_DROP:
        misses.append(f"the class's probability drops by less than {CUE_MIN_PROB_DROP:g} "
                      "on average")
    if test["p_adj"] >= CONCEPT_HIGH_P or (test["odds_ratio"] or 0) < CONCEPT_HIGH_ODDS:
        misses.append(f"high needs corrected p < {CONCEPT_HIGH_P:g} and odds ratio "
                      f"{CONCEPT_HIGH_ODDS:g} (here {fmt_p(test['p_adj'])}, odds ratio "
                      f"{test['odds_ratio']:.1f})")
    return "; ".join(misses)


def _ci(ci: Any, spec: str = "") -> str:
    """``"CI a–b, "`` of a rate (``spec`` "": percentages) or a number (e.g. ``".2f"``), to
    stand before a count; empty without a finite interval."""
    if not ci or len(ci) != 2 or any(v is None or v != v for v in ci):
        return ""
    lo, hi = ((pct(v) for v in ci) if not spec else (format(v, spec) for v in ci))
    return f"CI {span(lo, hi)}, "

"""Reliance summaries: flip rates and confidence drops per region, class and subgroup.

The audit pass (:mod:`auditor.pipeline.reliance_pass`) occludes each region and stores per
sample ``flip_<region>`` (the predicted class changed) and ``conf_drop_<region>`` (softmax
probability of the original prediction before minus after). :func:`reliance_summary`
aggregates those columns with Wilson intervals (flip rates) and bootstrap intervals (drops).

The counterfactual swaps add, per swap ``s`` (``object`` or ``<attribute>:<region>``), the
columns ``swap_pred_<s>`` (the class predicted after the swap; missing when the sample got no
donor) and ``swap_to_<s>`` (the class the swapped-in content points to: for ``object`` the
donor's class, for a context swap the class the donor's attribute value goes with in training,
see :func:`context_classes`). A context swap also has ``swap_placebo_<s>``: the class predicted
after the same region is pasted in from a sample with the image's *own* attribute value (as
disruptive a paste, without the other context). :func:`swap_summary` gives, per class x
attribute value, the flip rate (prediction changed) and the follow rate — predictions that
follow the swapped-in content — against the placebo (see :func:`swap_rates`).

A *lead paste* of a spurious region (the region from any other sample, see
:func:`auditor.saliency.perturb.lead_paste`) adds ``swap_lead_<region>`` (the class predicted
after it), ``swap_donor_<region>`` (the class the model gives the donor image) and
``swap_hole_<region>`` (the class predicted after its hole control). :func:`lead_rates` asks
whether the pasted region leads the prediction to the donor's class. Pure pandas: no model is
run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics.columns import (
    area_column,
    conf_drop_column,
    flip_column,
    lead_donor_column,
    lead_hole_column,
    lead_pred_column,
)
from auditor.metrics.groups import attribute_values
from auditor.metrics.stats import bootstrap_mean_ci, json_float, newcombe_diff_ci, wilson_ci

__all__ = ["context_classes", "lead_rates", "lead_summary", "reliance_summary",
           "swap_placebo_column", "swap_pred_column", "swap_rates", "swap_summary",
           "swap_to_column"]


def swap_pred_column(swap: str) -> str:
    """Column of the class predicted after swap ``swap``."""
    return f"swap_pred_{swap}"


def swap_placebo_column(swap: str) -> str:
    """Column of the class predicted after swap ``swap``'s placebo (the region pasted in from
    a sample with the same attribute value)."""
    return f"swap_placebo_{swap}"


def swap_to_column(swap: str) -> str:
    """Column of the class the swapped-in content of ``swap`` points to."""
    return f"swap_to_{swap}"


#: A value goes with a class only when that class's share among the value's training rows
#: exceeds the class's share among all rows by this much ...
CONTEXT_MIN_EXCESS = 0.10
#: ... and a one-sided binomial test of that excess gives p below this.
CONTEXT_MAX_P = 0.01


def context_classes(table: pd.DataFrame, attribute: str, classes: Sequence[str]
                    ) -> dict[str, dict[str, Any]]:
    """The class each value of ``attribute`` goes with in training: its most common class,
    when the association is real.

    A value whose rows carry every class about as often as the whole table does (an attribute
    independent of the class) goes with no class: a swap of its region can then disrupt a
    model but not lead it, so no prediction is counted as *following* it.

    Args:
        table: rows to count (the training split), with ``label`` (class index) and the
            attribute column.
        attribute: attribute column.
        classes: class names by index.

    Returns:
        ``{VALUE: {"class": NAME | None, "share": float, "base": float, "n": int}}``: ``share``
        of the value's ``n`` rows carry its most common class (ties go to the lower class
        index), ``base`` of all rows do; ``class`` is None unless ``share - base >=
        CONTEXT_MIN_EXCESS`` with one-sided binomial p < ``CONTEXT_MAX_P``.
    """
    from scipy.stats import binomtest

    out: dict[str, dict[str, Any]] = {}
    values = attribute_values(table, attribute)
    labels = table["label"].to_numpy().astype(int)
    overall = np.bincount(labels, minlength=len(classes)) / max(len(labels), 1)
    for v in sorted(values.unique()):
        counts = np.bincount(labels[(values == v).to_numpy()], minlength=len(classes))
        n = int(counts.sum())
        if not n:
            continue
        top = int(counts.argmax())
        share, base = counts[top] / n, float(overall[top])
        p = binomtest(int(counts[top]), n, min(max(base, 1e-9), 1.0),
                      alternative="greater").pvalue
        real = share - base >= CONTEXT_MIN_EXCESS and p < CONTEXT_MAX_P
        out[v] = {"class": str(classes[top]) if real else None, "share": json_float(share),
                  "base": json_float(base), "n": n}
    return out


def swap_rates(df: pd.DataFrame, swap: str, level: float = 0.95) -> dict[str, Any]:
    """Flip and follow rates of one swap over the rows of ``df``, against a placebo.

    Args:
        df: per-sample rows with ``pred``, ``label``, ``swap_pred_<swap>``, ``swap_to_<swap>``
            and, for a context swap, ``swap_placebo_<swap>`` (rows without a swap are skipped).
        swap: swap name.
        level: Wilson interval level.

    Returns:
        ``{"n", "flip_rate", "ci", "n_follow", "follow_rate", "follow_ci", "n_movable",
        "n_corrections", "to_classes", "placebo", "n_placebo", "placebo_rate", "placebo_ci"}``;
        ``flip_rate`` over the ``n`` swapped rows; ``to_classes``: the classes follows were
        counted toward.

        With the placebo column (``placebo`` = ``"same_value"``) the follow rate is the share
        of the ``n_follow`` rows whose swapped-in content points to a class (``swap_to`` set)
        that are predicted as that class after the swap but were not before: what the swap
        decides in the cell, whichever way it points. ``n_movable`` of those rows were not
        predicted as that class; ``n_corrections`` of those are errors it would correct (a
        cat on an urban background called a cup, given a nature background). The placebo
        rate is the same share after the placebo paste (same rows, same denominator): how
        often a paste alone moves them there; ``placebo_flip_rate`` / ``placebo_flip_ci``: how
        many of the ``n`` predictions it changes at all.

        Without it (tables written before the placebo swap existed, or the ``object`` swap;
        ``placebo`` = ``"agreeing_rows"``), follows are counted over the ``n_follow`` rows
        whose class and prediction both differ from ``swap_to`` (a move there cannot be an
        error undone by mere disruption), and the placebo rate is the flip rate of the
        ``n_placebo`` rows whose prediction already is that class.
    """
    after, to = df[swap_pred_column(swap)], df[swap_to_column(swap)]
    pcol = swap_placebo_column(swap)
    done = after.notna().to_numpy().copy()
    paired = pcol in df.columns
    if paired:
        done &= df[pcol].notna().to_numpy()
    has_to = to.notna().to_numpy()[done]  # the swapped-in value goes with a class
    after, to = after.astype(str).to_numpy()[done], to.astype(str).to_numpy()[done]
    pred, label = df["pred"].astype(str).to_numpy()[done], df["label"].astype(str).to_numpy()[done]
    flips = int((after != pred).sum())
    n = int(done.sum())
    out: dict[str, Any] = {"n": n, "flip_rate": json_float(flips / n) if n else None,
                           "ci": [json_float(v) for v in wilson_ci(flips, n, level)]}
    if paired:
        placebo_after = df[pcol].astype(str).to_numpy()[done]
        p_flips = int((placebo_after != pred).sum())
        out["placebo_flip_rate"] = json_float(p_flips / n) if n else None
        out["placebo_flip_ci"] = [json_float(v) for v in wilson_ci(p_flips, n, level)]
        movable = has_to & (pred != to)
        follows = int((after[movable] == to[movable]).sum())
        moved = int((placebo_after[movable] == to[movable]).sum())
        n_f = n_p = int(has_to.sum())
        n_corr = int((movable & (label == to)).sum())
    else:
        movable = has_to & (label != to) & (pred != to)
        agree = has_to & (pred == to)  # the swapped-in value already points to the prediction
        follows, n_f = int((after[movable] == to[movable]).sum()), int(movable.sum())
        moved, n_p, n_corr = int((after[agree] != pred[agree]).sum()), int(agree.sum()), 0
    out.update({"n_follow": n_f, "follow_rate": json_float(follows / n_f) if n_f else None,
                "follow_ci": [json_float(v) for v in wilson_ci(follows, n_f, level)],
                "n_movable": int(movable.sum()), "n_corrections": n_corr,
                "to_classes": sorted(set(to[movable].tolist())),
                "placebo": "same_value" if paired else "agreeing_rows", "n_placebo": n_p,
                "placebo_rate": json_float(moved / n_p) if n_p else None,
                "placebo_ci": [json_float(v) for v in wilson_ci(moved, n_p, level)]})
    return out


def lead_rates(df: pd.DataFrame, region: str, level: float = 0.95) -> dict[str, Any] | None:
    """Does the pasted region lead the prediction to the class the model gives its donor?

    Over the rows of ``df`` with a lead paste of ``region`` (and its hole control): the
    *follow* rate is the share of the ``n_follow`` rows whose donor the model gives another
    class that the paste sends to the donor's class. Two controls, each of which a model that
    does not read the region's content matches:

    * ``hole_rate``: the share of the same rows the hole control sends there (the donor
      object's outline, filled the same way, without the donor's region): a model that reads
      the outline, not the region;
    * ``control_rate``: the share of the ``n_control`` rows whose donor the model gives their
      own class that the paste changes at all: a model that any paste upsets (in a two-class
      task every change lands on the donor's class).

    ``excess`` (``excess_ci``: Newcombe's interval at ``level``) is the follow rate minus the
    larger of the two control rates: what the region's content decides beyond them.

    Returns:
        ``{"region", "n", "flip_rate", "ci", "n_follow", "follow_rate", "follow_ci",
        "hole_rate", "hole_ci", "n_control", "control_rate", "control_ci", "excess",
        "excess_ci"}`` (Wilson intervals at ``level``; ``flip_rate``: the share of all ``n``
        rows the paste changes), or None
        without the lead columns (no lead paste ran: tables written before it existed, or no
        expected region).
    """
    cols = (lead_pred_column(region), lead_donor_column(region), lead_hole_column(region))
    if not all(c in df.columns for c in cols):
        return None
    done = np.logical_and.reduce([df[c].notna().to_numpy() for c in cols])
    after, donor, hole = (df[c].astype(str).to_numpy()[done] for c in cols)
    pred = df["pred"].astype(str).to_numpy()[done]
    other = donor != pred
    k_f, n_f = int((after[other] == donor[other]).sum()), int(other.sum())
    k_h = int((hole[other] == donor[other]).sum())
    k_c, n_c = int((after[~other] != pred[~other]).sum()), int((~other).sum())
    k_x, n_x = int((after != pred).sum()), int(done.sum())

    def rate(k: int, n: int) -> tuple[float | None, list[float | None]]:
        return (json_float(k / n) if n else None,
                [json_float(v) for v in wilson_ci(k, n, level)])

    (f, f_ci), (h, h_ci), (c, c_ci) = rate(k_f, n_f), rate(k_h, n_f), rate(k_c, n_c)
    x, x_ci = rate(k_x, n_x)
    # the excess over the larger control: what the region's content decides beyond disruption
    # (in a two-class task every disrupted prediction lands on the donor's class) and outline
    k_r, n_r = (k_h, n_f) if (h or 0.0) >= (c or 0.0) else (k_c, n_c)
    lo, hi = newcombe_diff_ci(k_f, n_f, k_r, n_r, level)
    return {"region": region, "n": n_x, "flip_rate": x, "ci": x_ci, "n_follow": n_f,
            "follow_rate": f, "follow_ci": f_ci, "hole_rate": h, "hole_ci": h_ci,
            "n_control": n_c, "control_rate": c, "control_ci": c_ci,
            "excess": json_float(k_f / n_f - k_r / n_r) if n_f and n_r else None,
            "excess_ci": [json_float(lo), json_float(hi)]}


def lead_summary(df: pd.DataFrame, regions: Sequence[str], attributes: Sequence[str] = (), *,
                 level: float = 0.95) -> dict[str, dict[str, Any]]:
    """:func:`lead_rates` per lead-pasted region: overall, per class and per class x
    attribute value (regions without lead columns are skipped).

    Returns:
        ``{REGION: {**lead_rates, "by_class": {CLASS: {...}},
        "by_cell": {ATTR: {CLASS: {VALUE: {...}}}}}}``.
    """
    out: dict[str, dict[str, Any]] = {}
    labels = df["label"].astype(str)
    for region in regions:
        entry = lead_rates(df, region, level)
        if entry is None:
            continue
        classes = sorted(labels.unique())
        entry["by_class"] = {c: lead_rates(df[labels == c], region, level) for c in classes}
        entry["by_cell"] = {}
        for attr in attributes:
            values = attribute_values(df, attr)
            entry["by_cell"][attr] = {
                c: {v: lead_rates(df[(labels == c) & (values == v)], region, level)
                    for v in sorted(values[labels == c].unique())} for c in classes}
        out[region] = entry
    return out


def swap_summary(df: pd.DataFrame, swaps: Sequence[str], attributes: Sequence[str] = (), *,
                 regions: Sequence[str] = (), level: float = 0.95) -> dict[str, dict[str, Any]]:
    """Flip and follow rates per swap: overall, per class and per class x attribute value.

    Args:
        df: per-sample table of ONE model with the swap columns (see the module docstring).
        swaps: swap names; those without columns are skipped.
        attributes: attribute columns of the class x value cells.
        regions: region names: a context swap ``<attribute>:<region>`` is matched to its
            attribute and region from these and ``attributes``, never split apart (either
            name may contain ``:``).
        level: Wilson interval level.

    Returns:
        ``{SWAP: {**swap_rates, "attribute", "region", "by_class": {CLASS: {...}},
        "by_cell": {ATTR: {CLASS: {VALUE: {...}}}}}}``; ``attribute`` / ``region``: what a
        context swap pastes, None for the ``object`` swap (or a name they do not make).
    """
    parts = {f"{a}:{r}": (a, r) for a in attributes for r in regions}
    out: dict[str, dict[str, Any]] = {}
    for swap in swaps:
        if swap_pred_column(swap) not in df.columns:
            continue
        entry = swap_rates(df, swap, level)
        entry["attribute"], entry["region"] = parts.get(swap, (None, None))
        labels = df["label"].astype(str)
        entry["by_class"] = {c: swap_rates(df[labels == c], swap, level)
                             for c in sorted(labels.unique())}
        entry["by_cell"] = {}
        for attr in attributes:
            values = attribute_values(df, attr)
            entry["by_cell"][attr] = {
                c: {v: swap_rates(df[(labels == c) & (values == v)], swap, level)
                    for v in sorted(values[labels == c].unique())}
                for c in sorted(labels.unique())}
        out[swap] = entry
    return out


def _stats(sub: pd.DataFrame, region: str, level: float, n_boot: int, seed: int
           ) -> dict[str, Any]:
    fcol, dcol, acol = flip_column(region), conf_drop_column(region), area_column(region)
    if acol in sub.columns:  # occluding an empty region is no test
        sub = sub[sub[acol].to_numpy(dtype=float) > 0]
    sub = sub[sub[fcol].notna()]  # samples the test did not run on (NaN) are left out
    flips = sub[fcol].dropna().astype(bool)
    k, n = int(flips.sum()), int(len(flips))
    out: dict[str, Any] = {"flip_rate": json_float(k / n) if n else None,
                           "ci": [json_float(v) for v in wilson_ci(k, n, level)], "n": n}
    if dcol in sub.columns:
        mean, lo, hi = bootstrap_mean_ci(sub[dcol].to_numpy(dtype=float), n_boot=n_boot,
                                         level=level, seed=seed)
        out["conf_drop"] = json_float(mean)
        out["conf_drop_ci"] = [json_float(lo), json_float(hi)]
    return out


def reliance_summary(df: pd.DataFrame, regions: Sequence[str], attributes: Sequence[str] = (),
                     *, level: float = 0.95, n_boot: int = 1000, seed: int = 0
                     ) -> dict[str, dict[str, Any]]:
    """Flip rates and confidence drops per region, overall, per class and per attribute value.

    Samples whose region is empty (``area_<region>`` == 0) are left out of that region's
    numbers. Regions without a ``flip_<region>`` column are skipped.

    Args:
        df: per-sample table of ONE model with ``flip_<region>`` (bool) and
            ``conf_drop_<region>`` (float) columns, ``label`` and the attribute columns.
        regions: region names.
        attributes: attribute columns for the per-group breakdown.
        level, n_boot, seed: interval settings (Wilson for flip rates, bootstrap for drops).

    Returns:
        ``{REGION: {flip_rate, ci, n, conf_drop, conf_drop_ci,
        by_class: {CLASS: {...}}, by_group: {ATTR: {VALUE: {...}}}}}``.
    """
    out: dict[str, dict[str, Any]] = {}
    for region in regions:
        if flip_column(region) not in df.columns:
            continue
        entry = _stats(df, region, level, n_boot, seed)
        if "label" in df.columns:
            labels = df["label"].astype(str)
            entry["by_class"] = {c: _stats(df[labels == c], region, level, n_boot, seed)
                                 for c in sorted(labels.unique())}
        entry["by_group"] = {}
        for attr in attributes:
            values = attribute_values(df, attr)
            entry["by_group"][attr] = {v: _stats(df[values == v], region, level, n_boot, seed)
                                       for v in sorted(values.unique())}
        out[region] = entry
    return out

"""Severity rules of every finding kind, in one place (the same rules as docs/findings.md).

Each function takes the finished statistics of one candidate finding (effect sizes and
p-values already corrected for multiple comparisons by the caller) and returns its severity,
or None when it is no finding at all. Three principles hold for every kind:

* **significance after correction**: each kind corrects over every cell, slice, cluster or
  pair it tested (Holm, family-wise, ``ALPHA``), or, for the worst-vs-best group gap, over
  every pair it could have picked (Bonferroni);
* **a minimum effect size**: ``gap_threshold`` (``analysis.gap_threshold``, 10 points by
  default) for a medium finding about accuracy or error rates, twice it for a high one, so a
  significant 2-point gap is at most low; ``MIN_MASS_DIFFERENCE`` for attention differences;
* **the right reference**: a cluster that is enriched for an attribute value only because the
  errors it groups look alike is at most low; it can be high only when the value's own error
  rate for that confusion is higher (the slice behind the cluster).

``unreliable_saliency`` (a failed randomisation check) keeps its rule in
:mod:`auditor.metrics.sanity`, ``spurious_cue`` in :mod:`auditor.metrics.spurious`. The cues
nobody annotated (``hotspot``, ``concept``) need causal evidence (masking the area, removing
the concept) for ``high``: attention alone, or an association alone, is at most ``medium``.
"""

from __future__ import annotations

from auditor.metrics.base import Severity

__all__ = ["ALPHA", "CLUSTER_MIN_RATIO", "CLUSTER_MIN_SHARE", "CONCEPT_HIGH_ODDS",
           "CONCEPT_HIGH_P", "CONCEPT_MIN_ODDS", "CUE_MIN_FLIP_LOWER", "CUE_MIN_PROB_DROP",
           "MIN_MASS_DIFFERENCE", "cluster_severity", "concept_severity", "disparity_severity",
           "group_gap_severity", "hotspot_severity", "significant", "slice_severity"]

#: Family-wise significance level after correction, for every kind.
ALPHA = 0.05
#: Smallest absolute difference of mean attention mass (share of the map) for a medium
#: attention disparity.
MIN_MASS_DIFFERENCE = 0.05
#: A high cluster holds at least this share of the model's errors ...
CLUSTER_MIN_SHARE = 0.25
#: ... and its enriched value is at least this many times as common as in the whole set.
CLUSTER_MIN_RATIO = 1.5
#: A hotspot or concept counts as relied on (medium) when masking / removing it changes at
#: least this share of predictions (lower Wilson bound) ...
CUE_MIN_FLIP_LOWER = 0.05
#: ... or (concepts) lowers the predicted class's probability by this much on average.
CUE_MIN_PROB_DROP = 0.1
#: A concept's association (attribute value or errors) needs this odds ratio for medium ...
CONCEPT_MIN_ODDS = 2.0
#: ... and this odds ratio and corrected p for high.
CONCEPT_HIGH_ODDS = 3.0
CONCEPT_HIGH_P = 0.001


#: Effect sizes are differences of proportions computed in floating point (1.0 - 0.8 is
#: 0.19999999999999996); a difference within this of a bar counts as reaching it.
EPS = 1e-9


def _reaches(value: float, bar: float) -> bool:
    """``value >= bar`` up to :data:`EPS` (a 20-point gap reaches a 20-point bar)."""
    return value >= bar - EPS


def high_gap_bar(effect: float, lower: float | None, gap_threshold: float) -> bool:
    """The bar of a high group-level difference: an effect of at least twice
    ``gap_threshold`` whose lower confidence bound still reaches ``gap_threshold``."""
    return (lower is not None and _reaches(effect, 2 * gap_threshold)
            and _reaches(lower, gap_threshold))


def significant(p_adj: float | None) -> bool:
    """A corrected p-value below ``ALPHA`` (None / NaN: not significant)."""
    return p_adj is not None and p_adj == p_adj and p_adj < ALPHA


def group_gap_severity(gap: float, gap_lower: float, p_adj: float | None,
                       gap_threshold: float) -> Severity | None:
    """Worst vs best group of one scope.

    Args:
        gap: best accuracy - worst accuracy (0..1).
        gap_lower: lower bound of the gap's Newcombe interval at the Bonferroni-corrected
            level (the pair was picked as the largest of every pair in the scope).
        p_adj: Fisher exact p of worst vs best, Bonferroni-corrected over every pair of
            groups in the scope.
        gap_threshold: minimum effect size.

    Returns:
        None unless significant and ``gap > gap_threshold``; ``high`` when
        ``gap >= 2 * gap_threshold`` and even ``gap_lower`` reaches ``gap_threshold`` (a
        30-point gap between two cells of 50 near 50% accuracy is significant, but its
        interval reaches down to a few points: medium), else ``medium``.
    """
    if not significant(p_adj) or not gap > gap_threshold + EPS:
        return None
    return "high" if high_gap_bar(gap, gap_lower, gap_threshold) else "medium"


def slice_severity(excess: float, excess_lower: float, p_adj: float | None,
                   gap_threshold: float) -> Severity | None:
    """A slice whose error rate exceeds its reference's (the rest of its parent,
    :mod:`auditor.metrics.slices`).

    Args:
        excess: slice error rate - reference error rate.
        excess_lower: lower (Newcombe) confidence bound of that excess.
        p_adj: Fisher p against the reference, Holm-corrected over every slice tested.
        gap_threshold: minimum effect size.

    Returns:
        None unless significant; ``high`` when ``excess >= 2 * gap_threshold`` and even the
        lower bound of the excess reaches ``gap_threshold``; ``medium`` when
        ``excess >= gap_threshold``; else ``low``. (The caller caps a class on its own at
        medium.)
    """
    if not significant(p_adj):
        return None
    if high_gap_bar(excess, excess_lower, gap_threshold):
        return "high"
    return "medium" if _reaches(excess, gap_threshold) else "low"


def cluster_severity(*, share_of_errors: float, ratio: float | None,
                     slice_p_adj: float | None, slice_effect: float | None,
                     gap_threshold: float, slice_effect_lower: float | None = None
                     ) -> Severity:
    """A cluster of errors enriched for an attribute value (corrected Fisher p < ``ALPHA``).

    Args:
        share_of_errors: the share of the model's errors that the cluster holds and its
            slice explains (members of the cluster's confusion with this value; the whole
            cluster when it is one confusion and one value).
        ratio: the value's share in the cluster / its share in the whole audited set.
        slice_p_adj: the slice behind the cluster: Fisher p that samples of the cluster's true
            class with this value get the cluster's wrong prediction more often than the rest
            of the class, Holm-corrected over every (confusion, attribute value) tested.
        slice_effect: that confusion rate for the value minus the rate for the rest.
        gap_threshold: minimum effect size.
        slice_effect_lower: lower (Newcombe) bound of ``slice_effect`` at the
            Bonferroni-corrected level (None: unknown, never high).

    Returns:
        ``low`` when the slice is not significant or its effect is under ``gap_threshold``
        (the cluster reflects what its errors look like, not a group the model fails much
        more often); ``high`` when, beyond that, the cluster holds at least
        ``CLUSTER_MIN_SHARE`` of the errors, ``ratio >= CLUSTER_MIN_RATIO``, and the slice
        passes the bar of a high group gap (:func:`high_gap_bar`; a 12-point slice of 100
        samples, 12% against 0%, reaches down to 5 points); else ``medium``.
    """
    if not significant(slice_p_adj) or not _reaches(slice_effect or 0.0, gap_threshold):
        return "low"
    strong = share_of_errors >= CLUSTER_MIN_SHARE and (ratio or 0.0) >= CLUSTER_MIN_RATIO
    sure = high_gap_bar(slice_effect or 0.0, slice_effect_lower, gap_threshold)
    return "high" if strong and sure else "medium"


def disparity_severity(difference: float, p_adj: float | None, min_difference: float
                       ) -> Severity:
    """A ratio to the reference group outside ``[tau, 1/tau]`` (the caller checks the ratio).

    Args:
        difference: absolute difference of the two groups' values (accuracy or mean mass).
        p_adj: Fisher (accuracy) or Mann-Whitney (mass) p, Holm-corrected over every
            disparity test of the model.
        min_difference: ``gap_threshold`` for accuracy, ``MIN_MASS_DIFFERENCE`` for mass.

    Returns:
        ``medium`` when significant and ``abs(difference) >= min_difference``, else ``low``
        (never high: a ratio to one reference group is a screening statistic).
    """
    return ("medium" if significant(p_adj) and _reaches(abs(difference), min_difference)
            else "low")


def hotspot_severity(*, flip_rate: float | None, flip_lower: float | None,
                     mass_differs: bool, reliance_threshold: float,
                     paste_follows: bool = False) -> Severity:
    """An area of consistent attention outside every annotated region (``hotspot``).

    Args:
        flip_rate: share of predictions that change when the hotspot is masked, in the cell
            (all samples or one class with at least ``min_group_size`` samples) whose lower
            Wilson bound is highest; None when the masking test did not run.
        flip_lower: that lower Wilson bound.
        mass_differs: its attention mass differs by attribute value (ratio to the largest
            group outside ``[tau, 1/tau]``, Mann-Whitney, Bonferroni-corrected p < ``ALPHA``).
        reliance_threshold: ``analysis.reliance_threshold``.
        paste_follows: pasting the hotspot's area from an image the model assigns to another
            class sends at least ``reliance_threshold`` of a cell's predictions to that class,
            its lower bound above the upper bound of a paste from one it assigns to the same
            class (the rule of
            :attr:`auditor.metrics.shortcuts.CausalEvidence.swap_follows`).

    Returns:
        ``high`` when ``paste_follows``, or ``flip_rate >= reliance_threshold`` and
        ``flip_lower >= reliance_threshold / 2``; ``medium`` when ``flip_lower >=
        CUE_MIN_FLIP_LOWER`` or ``mass_differs``; else ``low`` (the model looks there but does
        not depend on it). Without an expected region the caller caps ``high`` at ``medium``
        when the area may be the object (:func:`auditor.metrics.cue_findings.hotspot_findings`).
    """
    rate, lower = flip_rate or 0.0, flip_lower or 0.0
    if paste_follows or (rate >= reliance_threshold and lower >= reliance_threshold / 2):
        return "high"
    return "medium" if lower >= CUE_MIN_FLIP_LOWER or mass_differs else "low"


def concept_severity(*, flip_rate: float, flip_lower: float, prob_drop: float | None,
                     p_adj: float | None, odds_ratio: float | None,
                     reliance_threshold: float, with_attribute: bool = True
                     ) -> Severity | None:
    """A discovered concept's importance for a class and its strongest association.

    Args:
        flip_rate, flip_lower: share of the class's predictions that change when the concept
            is removed from the activations, and its lower Wilson bound.
        prob_drop: mean drop of the predicted class's probability when it is removed.
        p_adj: one-sided Fisher p of the association (presence vs an attribute value or a
            class's errors), Holm-corrected over every test of every concept.
        odds_ratio: that association's odds ratio.
        reliance_threshold: ``analysis.reliance_threshold``.
        with_attribute: the association is with an attribute value (a subgroup); False when
            it is with the errors of a class, which any concept driving the class those errors
            are mistaken for shows by construction: at most medium.

    Returns:
        None unless *important* (``flip_lower >= CUE_MIN_FLIP_LOWER`` or ``prob_drop >=
        CUE_MIN_PROB_DROP``) and *associated* (significant, ``odds_ratio >=
        CONCEPT_MIN_ODDS``); ``high`` when also ``flip_rate >= reliance_threshold``,
        ``flip_lower >= reliance_threshold / 2``, ``prob_drop >= CUE_MIN_PROB_DROP`` (flips of
        borderline answers alone are weak evidence), ``p_adj < CONCEPT_HIGH_P`` and
        ``odds_ratio >= CONCEPT_HIGH_ODDS`` and ``with_attribute``; else ``medium``.
    """
    drop, odds = prob_drop or 0.0, odds_ratio or 0.0
    important = flip_lower >= CUE_MIN_FLIP_LOWER or drop >= CUE_MIN_PROB_DROP
    if not important or not significant(p_adj) or odds < CONCEPT_MIN_ODDS:
        return None
    strong = (with_attribute and flip_rate >= reliance_threshold
              and flip_lower >= reliance_threshold / 2
              and drop >= CUE_MIN_PROB_DROP and p_adj is not None and p_adj < CONCEPT_HIGH_P
              and odds >= CONCEPT_HIGH_ODDS)
    return "high" if strong else "medium"

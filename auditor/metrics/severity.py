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

``unreliable_saliency`` (a failed randomisation check) is always high; ``spurious_cue`` keeps
its rule in :mod:`auditor.metrics.spurious`.
"""

from __future__ import annotations

from auditor.metrics.base import Severity

__all__ = ["ALPHA", "CLUSTER_MIN_RATIO", "CLUSTER_MIN_SHARE", "MIN_MASS_DIFFERENCE",
           "cluster_severity", "disparity_severity", "group_gap_severity", "significant",
           "slice_severity"]

#: Family-wise significance level after correction, for every kind.
ALPHA = 0.05
#: Smallest absolute difference of mean attention mass (share of the map) for a medium
#: attention disparity.
MIN_MASS_DIFFERENCE = 0.05
#: A high cluster holds at least this share of the model's errors ...
CLUSTER_MIN_SHARE = 0.25
#: ... and its enriched value is at least this many times as common as in the whole set.
CLUSTER_MIN_RATIO = 1.5


def significant(p_adj: float | None) -> bool:
    """A corrected p-value below ``ALPHA`` (None / NaN: not significant)."""
    return p_adj is not None and p_adj == p_adj and p_adj < ALPHA


def group_gap_severity(gap: float, p_adj: float | None, gap_threshold: float
                       ) -> Severity | None:
    """Worst vs best group of one scope.

    Args:
        gap: best accuracy - worst accuracy (0..1).
        p_adj: Fisher exact p of worst vs best, Bonferroni-corrected over every pair of
            groups in the scope.
        gap_threshold: minimum effect size.

    Returns:
        None unless significant and ``gap > gap_threshold``; ``high`` when
        ``gap >= 2 * gap_threshold``, else ``medium``.
    """
    if not significant(p_adj) or gap <= gap_threshold:
        return None
    return "high" if gap >= 2 * gap_threshold else "medium"


def slice_severity(excess: float, excess_lower: float, p_adj: float | None,
                   gap_threshold: float) -> Severity | None:
    """A slice whose error rate exceeds the overall one.

    Args:
        excess: slice error rate - overall error rate.
        excess_lower: lower Wilson bound of the slice's error rate - overall error rate.
        p_adj: binomial p, Holm-corrected over every slice tested.
        gap_threshold: minimum effect size.

    Returns:
        None unless significant; ``high`` when ``excess >= 2 * gap_threshold`` and even the
        lower bound exceeds the overall rate by ``gap_threshold``; ``medium`` when
        ``excess >= gap_threshold``; else ``low``.
    """
    if not significant(p_adj):
        return None
    if excess >= 2 * gap_threshold and excess_lower >= gap_threshold:
        return "high"
    return "medium" if excess >= gap_threshold else "low"


def cluster_severity(*, share_of_errors: float, ratio: float | None,
                     slice_p_adj: float | None, slice_effect: float | None,
                     gap_threshold: float) -> Severity:
    """A cluster of errors enriched for an attribute value (corrected Fisher p < ``ALPHA``).

    Args:
        share_of_errors: the cluster's share of the model's errors.
        ratio: the value's share in the cluster / its share in the whole audited set.
        slice_p_adj: the slice behind the cluster: Fisher p that samples of the cluster's true
            class with this value get the cluster's wrong prediction more often than the rest
            of the class, Holm-corrected over every (confusion, attribute value) tested.
        slice_effect: that confusion rate for the value minus the rate for the rest.
        gap_threshold: minimum effect size.

    Returns:
        ``low`` when the slice is not significant or its effect is under ``gap_threshold``
        (the cluster reflects what its errors look like, not a group the model fails much
        more often); ``high`` when, beyond that, the cluster holds at least
        ``CLUSTER_MIN_SHARE`` of the errors and ``ratio >= CLUSTER_MIN_RATIO``; else
        ``medium``.
    """
    if not significant(slice_p_adj) or (slice_effect or 0.0) < gap_threshold:
        return "low"
    strong = share_of_errors >= CLUSTER_MIN_SHARE and (ratio or 0.0) >= CLUSTER_MIN_RATIO
    return "high" if strong else "medium"


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
    return "medium" if significant(p_adj) and abs(difference) >= min_difference else "low"

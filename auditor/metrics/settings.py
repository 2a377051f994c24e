"""The analysis settings the metrics need, as plain frozen values.

Nothing in ``auditor.metrics`` reads the config: the pipeline builds an
:class:`AnalysisSettings` from the config's ``analysis`` section
(:func:`auditor.pipeline.model_summary.analysis_settings`) and passes it down. Every field has
the config's default, so tests and library users can build one directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.common.thresholds import LIFT_THRESHOLD, RELIANCE_THRESHOLD

__all__ = ["AnalysisSettings"]


@dataclass(frozen=True)
class AnalysisSettings:
    """Thresholds and statistics settings of one analysis.

    Attributes:
        expected_regions: regions the model should look at (``analysis.expected_regions``).
        spurious_regions: regions tested as cues; None = every other region.
        lift_threshold: spurious-cue lift whose lower confidence bound must be exceeded.
        reliance_threshold: share of a cell's predictions masking or swapping must change
            (lower Wilson bound) to count as causal evidence.
        gap_threshold: smallest accuracy / error-rate difference (0..1) worth a medium
            finding; twice it is needed for a high one (see :mod:`auditor.metrics.severity`).
        disparity_tau: a disparity ratio outside ``[tau, 1/tau]`` is flagged.
        min_group_size: smallest group compared.
        n_bootstrap, ci_level: bootstrap resamples and confidence level of every interval.
    """

    expected_regions: tuple[str, ...] = ("object",)
    spurious_regions: tuple[str, ...] | None = None
    lift_threshold: float = LIFT_THRESHOLD
    reliance_threshold: float = RELIANCE_THRESHOLD
    gap_threshold: float = 0.10
    disparity_tau: float = 0.8
    min_group_size: int = 10
    n_bootstrap: int = 1000
    ci_level: float = 0.95

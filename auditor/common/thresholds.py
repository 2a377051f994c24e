"""Evidence thresholds shared by the config defaults, the findings and the report text.

One number each, so ``config.resolved.yaml``, the findings and the report's sentences agree.
"""

from __future__ import annotations

__all__ = ["IGNORED_FLIP", "LIFT_THRESHOLD", "RELIANCE_THRESHOLD"]

#: A spurious region's lift must clear this (lower end of its interval) to count as
#: over-attended; ``analysis.lift_threshold``.
LIFT_THRESHOLD = 1.5
#: Share of predictions that must change when a region is masked or swapped (lower end of
#: the Wilson interval) before it counts as causal evidence; ``analysis.reliance_threshold``.
RELIANCE_THRESHOLD = 0.2
#: Masking or swapping an expected region that changes fewer predictions than this (upper end
#: of the Wilson interval) means the model does not read it.
IGNORED_FLIP = 0.1

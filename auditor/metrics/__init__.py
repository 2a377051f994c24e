"""Metrics: pure tensor/pandas functions from per-sample records to typed results.

* :mod:`~auditor.metrics.regions` — attention mass, region area, pointing game, lift (torch);
* :mod:`~auditor.metrics.stats` — bootstrap / Wilson intervals, McNemar, Wilcoxon, Fisher,
  Holm and Benjamini-Hochberg corrections;
* :mod:`~auditor.metrics.groups` — disaggregated accuracy (fairlearn ``MetricFrame``);
* :mod:`~auditor.metrics.attention` — the summary.json attention blocks;
* :mod:`~auditor.metrics.reliance` — summaries of the occlusion-based reliance test;
* :mod:`~auditor.metrics.clusters` — misclassification clusters;
* :mod:`~auditor.metrics.slices` — slice discovery;
* :mod:`~auditor.metrics.findings` — flags with evidence (``spurious_cue`` lives in
  :mod:`~auditor.metrics.spurious`).

Only the light torch/numpy modules are imported here; import the others from their modules.
"""

from auditor.metrics.regions import attention_mass, lift, pointing_game, region_area
from auditor.metrics.stats import bootstrap_mean_ci, wilson_ci

__all__ = [
    "attention_mass",
    "bootstrap_mean_ci",
    "lift",
    "pointing_game",
    "region_area",
    "wilson_ci",
]

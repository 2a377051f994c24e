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

The names below are loaded on first use, so importing a pure-numpy module such as
:mod:`auditor.metrics.stats` never pulls in torch (:mod:`~auditor.metrics.regions` needs it).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {"attention_mass": "regions", "lift": "regions", "pointing_game": "regions",
         "region_area": "regions", "bootstrap_mean_ci": "stats", "wilson_ci": "stats"}

__all__ = [
    "attention_mass",
    "bootstrap_mean_ci",
    "lift",
    "pointing_game",
    "region_area",
    "wilson_ci",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"auditor.metrics.{_HOME[name]}"), name)
    raise AttributeError(f"module 'auditor.metrics' has no attribute {name!r}")

"""The typed result of comparing two runs (``compare.json``, the comparison page's input).

Records only: :func:`auditor.pipeline.compare_runs.compare_runs` builds them from two run
directories, :mod:`auditor.report.compare_page` renders them. Keeping them here (metrics, the
layer both read) means neither of those modules imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from auditor.metrics.comparison import Comparison
from auditor.metrics.stats import json_float

__all__ = ["COMPARE_SCHEMA", "CompareResult", "RunInfo"]

COMPARE_SCHEMA = "auditor.compare/1"


@dataclass
class RunInfo:
    """One side of a comparison.

    Attributes:
        path: the run directory.
        name: the run's ``name`` (report title) from summary.json.
        model: the model's name inside that run.
        label: the name the model has in the comparison (``"A:<model>"`` on a name clash).
        created: the run's ``created`` timestamp, if recorded.
        setup: what shapes the model's maps: ``{"arch", "target_layer", "input_size",
            "resize", "target", "methods": {method: options}}`` (values as recorded).
    """

    path: Path
    name: str
    model: str
    label: str
    created: str | None = None
    setup: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {"path": str(self.path), "name": self.name, "model": self.model,
                "label": self.label, "created": self.created, "setup": self.setup}


@dataclass
class CompareResult:
    """Two runs compared on their shared samples.

    Attributes:
        run_a: the baseline side.
        run_b: the candidate side.
        comparison: the paired statistics (baseline = run A's model).
        audit_split: the split both runs audited (``None`` if not recorded).
        classes: class names, shared by both runs.
        regions: region names, shared by both runs.
        attributes: attribute columns present in both runs.
        methods: saliency methods compared (empty when the maps are not comparable).
        not_comparable: why the attention numbers are not comparable (empty when they are);
            the comparison then holds only the accuracy metrics.
        headline: what changed between the two models' findings, the sentence ``audit run``
            writes for several models (:func:`auditor.metrics.verdict.comparison_headline`
            on the two runs' model blocks; None when a run has no findings recorded).
    """

    run_a: RunInfo
    run_b: RunInfo
    comparison: Comparison
    audit_split: str | None
    classes: list[str]
    regions: list[str]
    attributes: list[str]
    methods: list[str]
    not_comparable: list[str] = field(default_factory=list)
    headline: str | None = None

    @property
    def same_model(self) -> bool:
        """A and B are one model of one run: nothing can change between them."""
        return (self.run_a.model == self.run_b.model
                and Path(self.run_a.path).resolve() == Path(self.run_b.path).resolve())

    @property
    def attention_comparable(self) -> bool:
        """Whether the two models' maps can be compared (same architecture, layer, input
        size and saliency settings, and at least one shared method)."""
        return not self.not_comparable

    def summary_line(self) -> str:
        """The one line ``audit compare`` prints: each delta in percentage points with its
        interval, the worst groups named, McNemar's p and its method."""
        c = self.comparison

        def delta(block: dict, note: str = "") -> str:
            d, ci = block.get("delta"), block.get("ci") or [None, None]
            if json_float(d) is None:
                return "n/a"
            finite = None not in (json_float(ci[0]), json_float(ci[1]))
            inside = ([f"{c.level:.0%} CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}"]
                      if finite else []) + ([note] if note else [])
            return f"{100 * d:+.1f} pp" + (f" ({'; '.join(inside)})" if inside else "")

        wg = c.worst_group
        groups = [(wg.get(side) or {}).get("group") for side in ("baseline", "candidate")]
        where = ("" if not all(groups) else groups[0] if groups[0] == groups[1] else
                 f"{groups[0]} → {groups[1]}, two different groups")
        p = ("n/a" if json_float(c.mcnemar.p) is None
             else f"{c.mcnemar.p:.3g} ({c.mcnemar.method})")
        return (f"{c.baseline} -> {c.candidate} on {c.n} samples: accuracy "
                f"{delta(c.accuracy)}, worst-group accuracy {delta(wg, where)}, "
                f"McNemar p = {p}")

    def to_dict(self) -> dict:
        """The ``compare.json`` document (schema ``auditor.compare/1``)."""
        return {
            "schema": COMPARE_SCHEMA,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "runs": {"a": self.run_a.to_dict(), "b": self.run_b.to_dict()},
            "dataset": {
                "audit_split": self.audit_split,
                "n_samples": self.comparison.n,
                "classes": self.classes,
                "regions": self.regions,
                "attributes": self.attributes,
                "methods": self.methods,
            },
            "headline": self.headline,
            "attention_comparable": self.attention_comparable,
            "not_comparable": list(self.not_comparable),
            "comparisons": [self.comparison.to_dict()],
        }

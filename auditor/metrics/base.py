"""The :class:`Finding` record and the wording helpers its titles share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["KINDS", "SEVERITIES", "Finding", "describe_group", "fmt_p", "method_label", "pct"]

Severity = Literal["high", "medium", "low"]
SEVERITIES: tuple[str, ...] = ("high", "medium", "low")
#: Most telling first; ``chance_level``, ``coarse_map``, ``ignored_region``, ``hotspot``,
#: ``concept``, ``disparity`` and ``slice`` are extra kinds.
KINDS: tuple[str, ...] = ("chance_level", "unreliable_saliency", "coarse_map", "spurious_cue",
                          "ignored_region", "group_gap", "misclassification_cluster", "hotspot",
                          "concept", "slice", "disparity")

_METHOD_LABELS = {
    "cam": "CAM", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGrad-CAM",
    "layercam": "LayerCAM", "hirescam": "HiResCAM", "gradcam-neg": "counterfactual Grad-CAM",
    "scorecam": "Score-CAM", "smoothgradcam++": "SmoothGrad-CAM++", "eigencam": "Eigen-CAM",
    "gradient": "gradient", "smoothgrad": "SmoothGrad", "guided-backprop": "guided backprop",
    "guided-gradcam": "Guided Grad-CAM", "occlusion": "occlusion",
}


@dataclass
class Finding:
    """One flag raised by the analysis.

    Attributes:
        kind: ``spurious_cue``, ``group_gap``, ``misclassification_cluster``,
            ``unreliable_saliency`` (DESIGN kinds) or the extra kinds ``ignored_region``,
            ``disparity``, ``slice``, ``coarse_map`` (docs/findings.md).
        severity: ``high``, ``medium`` or ``low``.
        title: one plain sentence carrying its numbers.
        evidence: the numbers behind the title (JSON-ready: no NaN, no numpy types).
    """

    kind: str
    severity: Severity
    title: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """A ``findings`` entry of summary.json."""
        return {"kind": self.kind, "severity": self.severity, "title": self.title,
                "evidence": self.evidence}

    def sort_key(self) -> tuple[int, int]:
        kind = KINDS.index(self.kind) if self.kind in KINDS else len(KINDS)
        return SEVERITIES.index(self.severity), kind


def method_label(method: str) -> str:
    """Display name of a saliency method (``gradcam`` -> ``Grad-CAM``)."""
    return _METHOD_LABELS.get(method, method)


def describe_group(features: dict[str, str]) -> str:
    """``{"label": "nurse", "hair": "blond"}`` -> ``"class nurse, hair=blond"``."""
    parts = [f"class {features['label']}"] if "label" in features else []
    parts += [f"{k}={v}" for k, v in sorted(features.items()) if k != "label"]
    return ", ".join(parts) if parts else "all samples"


def pct(x: float | None, digits: int = 0) -> str:
    """``0.583`` -> ``"58%"``; None/NaN -> ``"n/a"``. A share that is not exactly 0 or 1 never
    reads "0%" or "100%": it takes the decimals it needs (199 of 200: "99.5%", not "100%")."""
    if x is None or not math.isfinite(x):
        return "n/a"
    v = round(100 * x, 9)  # float noise never tips the rounding
    text = f"{v:.{digits}f}"
    for more in range(digits + 1, 3):  # at most two decimals: 99.995% and up read 100%
        if not (0 < v < 100 and float(text) in (0.0, 100.0)):
            break
        finer = f"{v:.{more}f}"
        if float(finer) not in (0.0, 100.0):
            text = finer
    return f"{text}%"


def fmt_p(p: float | None) -> str:
    """A p-value for a sentence: ``p=0.003`` or ``p<0.001`` style ``p=2e-09``."""
    if p is None or not math.isfinite(p):
        return "p n/a"
    if p >= 0.001:
        return f"p={p:.3f}"
    return f"p={p:.0e}" if p > 0 else "p<1e-300"

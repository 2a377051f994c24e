"""Number formatting for the report: every rate with its interval, nothing left as a raw float."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from auditor.common.text import clip, span

DASH = "–"


def is_num(value: Any) -> bool:
    """True for a finite int/float (bools excluded)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _points(value: Any) -> float:
    """``100 * value`` rounded at the ninth decimal: one number stored as 0.2275 and as
    0.22749999999999998 (float noise) prints the same, not 22.8 and 22.7."""
    return round(100 * float(value), 9)


def pct(value: Any, digits: int = 1) -> str:
    """0.8234 -> ``'82.3%'``; missing -> ``'–'``."""
    return f"{_points(value):.{digits}f}%" if is_num(value) else DASH


def num(value: Any, digits: int = 2) -> str:
    """Fixed-point number (never ``-0.00``); missing -> ``'–'``."""
    if not is_num(value):
        return DASH
    text = f"{float(value):.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def pvalue(value: Any) -> str:
    """p-values: ``'<0.001'`` below a thousandth, else three decimals."""
    if not is_num(value):
        return DASH
    return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def p_clause(value: Any) -> str:
    """``'p = 0.012'`` or ``'p < 0.001'`` (a p-value inside a sentence)."""
    text = pvalue(value)
    return f"p < {text[1:]}" if text.startswith("<") else f"p = {text}"


def ci_pair(ci: Any) -> tuple[float, float] | None:
    """A ``[lo, hi]`` pair of finite numbers, or None."""
    if isinstance(ci, Sequence) and not isinstance(ci, str) and len(ci) == 2 \
            and is_num(ci[0]) and is_num(ci[1]):
        return float(ci[0]), float(ci[1])
    return None


def pct_ci(ci: Any) -> str:
    """``[0.78, 0.86]`` -> ``'78.0–86.0%'``; ``[-0.02, 0.59]`` -> ``'−2.0 to 59.0%'``."""
    pair = ci_pair(ci)
    return span(f"{_points(pair[0]):.1f}", f"{_points(pair[1]):.1f}") + "%" if pair else DASH


def num_ci(ci: Any, digits: int = 2) -> str:
    """``[2.3, 2.9]`` -> ``'2.30–2.90'``; ``[-0.39, -0.21]`` -> ``'−0.39 to −0.21'``."""
    pair = ci_pair(ci)
    return span(num(pair[0], digits), num(pair[1], digits)) if pair else DASH


def pp(value: Any) -> str:
    """A difference of two rates in signed percentage points: 0.031 -> ``'+3.1 pp'``."""
    return f"{_points(value):+.1f} pp" if is_num(value) else DASH


def pp_ci(ci: Any) -> str:
    """An interval of a rate difference: ``[-0.01, 0.05]`` -> ``'-1.0 to +5.0 pp'``."""
    pair = ci_pair(ci)
    return f"{_points(pair[0]):+.1f} to {_points(pair[1]):+.1f} pp" if pair else DASH


def excludes_zero(ci: Any) -> bool:
    """True when ``ci`` is a finite interval that does not contain 0."""
    pair = ci_pair(ci)
    return pair is not None and not (pair[0] <= 0 <= pair[1])


def count(value: Any) -> str:
    """Integer with thousands separators; missing -> ``'–'``."""
    return f"{int(value):,}" if is_num(value) else DASH


def auto(value: Any) -> str:
    """Format any evidence value: numbers compactly, pairs as intervals, dicts as k=v lists."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return count(value)
    if is_num(value):
        v = float(value)
        return f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e4 else f"{v:.3f}".rstrip("0").rstrip(".")
    pair = ci_pair(value)
    if pair:
        return f"[{auto(pair[0])}, {auto(pair[1])}]"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={auto(v)}" for k, v in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(auto(v) for v in value)
    if value is None:
        return DASH
    return str(value)


def items(evidence: Mapping[str, Any], *, limit: int = 12) -> list[tuple[str, str]]:
    """Readable ``(label, value)`` pairs of a free evidence dict.

    Scalars, intervals and short flat lists/dicts are kept; nested structures (lists of
    records, dicts of dicts) are left out, since a one-line verdict cannot show them.

    Args:
        evidence: The finding's ``evidence`` (or any block of numbers).
        limit: At most this many pairs.
    """
    out: list[tuple[str, str]] = []
    for key, value in evidence.items():
        if isinstance(value, Mapping):
            if len(value) > 6 or any(isinstance(v, Mapping | list | tuple) for v in value.values()):
                continue
        elif isinstance(value, list | tuple) and ci_pair(value) is None:
            if len(value) > 6 or any(isinstance(v, Mapping | list | tuple) for v in value):
                continue
        text = auto(value)
        out.append((humanize(key), clip(text, 80)))
        if len(out) >= limit:
            break
    return out


def flatten(block: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"attention": {"gradcam": {"face": 0.1}}}`` -> ``[("attention gradcam face", 0.1)]``."""
    out: list[tuple[str, Any]] = []
    for key, value in block.items():
        label = f"{prefix} {humanize(key)}".strip()
        if isinstance(value, Mapping):
            out += flatten(value, label)
        elif not isinstance(value, list | tuple) or ci_pair(value) is not None:
            out.append((label, value))
    return out


def humanize(key: str) -> str:
    """``'worst_group_accuracy'`` -> ``'worst group accuracy'``; ``ci`` -> ``CI``."""
    words = str(key).replace("_", " ").split()
    return " ".join("CI" if w.lower() == "ci" else w for w in words)


def sentence(text: str) -> str:
    """Capitalise and end with a full stop."""
    text = " ".join(str(text).split())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."

"""Text for display: shortening (one rule for plot labels, evidence tables and CLI lines)
and interval ends."""

from __future__ import annotations

__all__ = ["MINUS", "clip", "span"]


def clip(text: object, limit: int, *, middle: bool = False) -> str:
    """``str(text)`` cut to ``limit`` characters with ``…`` where it was cut: at the end, or
    in the middle (``middle=True``: paths, whose ends differ)."""
    text = str(text)
    if len(text) <= limit:
        return text
    if not middle:
        return text[: limit - 1] + "…"
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


MINUS = "\u2212"


def span(lo: str, hi: str) -> str:
    """Two formatted ends of an interval: ``'12–24'``, or with a negative end a true minus
    and "to" (``'−2 to 59'``, ``'−0.39 to −0.21'``): "-2–59" and "-0.39–-0.21" read as
    ranges of hyphens."""
    lo, hi = _unsigned_zero(lo), _unsigned_zero(hi)
    if not (lo.startswith("-") or hi.startswith("-")):
        return f"{lo}–{hi}"
    return f"{lo.replace('-', MINUS, 1)} to {hi.replace('-', MINUS, 1)}"


def _unsigned_zero(text: str) -> str:
    """``'-0'``, ``'-0.0'``, ``'-0%'`` (a small negative number rounded) without the sign."""
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) \
        else text

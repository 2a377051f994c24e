"""Shortening a text for display: one rule for plot labels, evidence tables and CLI lines."""

from __future__ import annotations

__all__ = ["clip"]


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

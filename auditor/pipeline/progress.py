"""Progress reporting without printing: stages call a sink, the CLI draws the bars."""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "ProgressSink", "scoped"]


class ProgressSink(Protocol):
    """Receives progress; ``task`` is a short human label (e.g. "train baseline")."""

    def __call__(self, task: str, done: int, total: int) -> None: ...


class NullProgress:
    """A sink that ignores everything (library use, tests)."""

    def __call__(self, task: str, done: int, total: int) -> None:
        return None


def scoped(sink: ProgressSink | None, task: str):
    """A ``(done, total)`` callback reporting under ``task``; None when there is no sink."""
    if sink is None:
        return None

    def report(done: int, total: int) -> None:
        sink(task, done, total)

    return report

"""The worst group of a model's summary block, in words (for :mod:`auditor.metrics.verdict`).

Pure functions on a ``models[NAME]`` block of summary.json: its worst group with the Wilson
interval and count of its cell, the cells tied with it, and the change between two models.

Only cells that compete for the worst group count as tied (:func:`competing`): those with at
least ``groups.min_group_size`` samples, or every cell when none is that large (the rule of
:func:`auditor.metrics.groups.worst_and_best`). A block written before ``min_group_size`` was
recorded there counts every cell, as then.

With a ``level``, a cell's interval is the Wilson interval of its counts (``correct``, ``n``)
at that level, so both sides of a comparison share it; without one (or without the counts),
the interval stored in the block (at its run's ``analysis.ci_level``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.metrics.base import pct
from auditor.metrics.stats import wilson_ci

__all__ = ["cell", "cell_ci", "competing", "rate", "tied", "worst", "worst_change",
           "worst_name"]


def rate(value: Any, ci: Any, n: Any, extra: str = "") -> str:
    """``'38% (29–48%, n=100)'`` (``extra`` added inside the brackets); the bare percentage
    when the interval is missing."""
    if value is None:
        return "n/a"
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in ci:
        return f"{pct(value)} ({pct(ci[0])}–{pct(ci[1])}, n={n}{extra})"
    return f"{pct(value)} (n={n}{extra})" if n is not None else pct(value)


def _cells(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((block.get("groups") or {}).get("cells") or [])


def cell(block: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    """The (class x attribute value) cell called ``name`` ({} when there is none)."""
    return next((c for c in _cells(block) if c.get("group") == name), {})


def competing(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The cells that compete for the worst group: at least ``groups.min_group_size``
    samples, or all cells when none is that large or the size is not recorded."""
    cells = _cells(block)
    size = (block.get("groups") or {}).get("min_group_size")
    if not isinstance(size, int) or isinstance(size, bool):
        return cells
    return [c for c in cells if isinstance(c.get("n"), int) and c["n"] >= size] or cells


def cell_ci(c: Mapping[str, Any], level: float | None = None) -> Any:
    """The cell's accuracy interval: Wilson at ``level`` from its counts when both are
    there, else the stored ``ci``."""
    k, n = c.get("correct"), c.get("n")
    if level is not None and isinstance(k, int) and isinstance(n, int) and n > 0:
        return list(wilson_ci(k, n, level))
    return c.get("ci")


def worst(block: Mapping[str, Any], name: str | None = None,
          level: float | None = None) -> str:
    """Worst-group accuracy with the interval (see :func:`cell_ci`) and count of its cell
    (``name``: one of the cells tied at that accuracy; default the worst group)."""
    metrics = block.get("metrics") or {}
    c = cell(block, name or metrics.get("worst_group"))
    return rate(metrics.get("worst_group_accuracy"), cell_ci(c, level), c.get("n"))


def tied(block: Mapping[str, Any]) -> list[str]:
    """The competing cells at the worst-group accuracy, the worst group first (four digits
    on four photos: 12 cells at 0%, where the name alone suggested one)."""
    metrics = block.get("metrics") or {}
    name, acc = metrics.get("worst_group"), metrics.get("worst_group_accuracy")
    if not name:
        return []
    return [name, *(c["group"] for c in competing(block)
                    if c.get("group") not in (None, name) and acc is not None
                    and c.get("accuracy") == acc)]


def worst_name(block: Mapping[str, Any], name: str | None = None) -> str:
    """The worst group's name (or ``name``, one tied with it), and how many competing cells
    share its accuracy when others tie."""
    ties = tied(block)
    name = name or (ties[0] if ties else None)
    acc = (block.get("metrics") or {}).get("worst_group_accuracy")
    return f"{name}, one of {len(ties)} cells at {pct(acc)}" if len(ties) > 1 else str(name)


def worst_change(base: Mapping[str, Any], block: Mapping[str, Any],
                 level: float | None = None) -> str:
    """Worst-group accuracy before → after; when the worst group is another one after, both
    are named and the first one's own accuracy after is given (the same group, compared).
    When several competing cells tie for worst before and the worst after is one of them,
    that one is the group compared. ``level``: see :func:`cell_ci`."""
    ties = tied(base)
    after = (block.get("metrics") or {}).get("worst_group")
    before = after if after in ties else (ties[0] if ties else None)
    if not before or not after or before == after:
        text = f"worst-group accuracy {worst(base, before, level)} → {worst(block, None, level)}"
        return text + (f" ({after}; it was one of {len(ties)} cells at "
                       f"{pct((base.get('metrics') or {}).get('worst_group_accuracy'))} before)"
                       if before and len(ties) > 1 else "")
    text = (f"worst-group accuracy {worst(base, None, level)} ({worst_name(base)}) → "
            f"{worst(block, None, level)} ({worst_name(block)})")
    same = cell(block, before)
    if same.get("accuracy") is None:  # not listed after
        return text
    return f"{text}; {before} itself {rate(same['accuracy'], cell_ci(same, level), same.get('n'))}"

"""Whether a ``summary.json`` object can be read by ``audit report`` and ``audit compare``."""

from __future__ import annotations

from typing import Any

__all__ = ["summary_problem"]


def summary_problem(summary: dict[str, Any]) -> str | None:
    """Why a ``summary.json`` object cannot be read by ``audit report`` and ``audit compare``
    (a hand-edited or damaged one), or None: its schema and the types of the blocks they
    read (``dataset`` and its name lists, ``models``, ``methods``, ``training``,
    ``comparisons``)."""
    if summary.get("schema") != "auditor.summary/1":
        return "no auditor.summary/1 schema"
    d, models = summary.get("dataset"), summary.get("models")
    if not isinstance(d, dict) or not isinstance(models, dict):
        return "'dataset' and 'models' must be objects"
    for key in ("classes", "attributes", "regions"):
        if d.get(key) is not None and not (isinstance(d[key], list)
                                           and all(isinstance(v, str) for v in d[key])):
            return f"dataset.{key} must be a list of names"
    bad = next((str(k) for k, v in models.items() if not isinstance(v, dict)), None)
    if bad is not None:
        return f"models.{bad[:40]} must be an object"
    if summary.get("methods") is not None and not (
            isinstance(summary["methods"], list)
            and all(isinstance(m, str) for m in summary["methods"])):
        return "methods must be a list of names"
    for key, kind in (("training", dict), ("comparisons", list)):
        if summary.get(key) is not None and not isinstance(summary[key], kind):
            return f"{key} must be {'an object' if kind is dict else 'a list'}"
    return None

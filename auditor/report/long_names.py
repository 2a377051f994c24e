"""Class names and attribute values of any length, shown at a length a page can hold.

Names come from the data: a 10,000-character class label appeared 129 times in the report (in
tables, titles and captions), overflowed the page, and made weasyprint's layout run for
minutes (2,000 characters: 122 s; 10,000: no end within 10 minutes). Before the view-model is
built, every class name and attribute value longer than :data:`MAX_NAME` characters is
replaced, wherever it appears in the summary's text and in the samples table, by its first
characters, an ellipsis and a short hash (so that two long names stay apart). summary.json and
samples.parquet keep the full names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["MAX_NAME", "shorten_long_names"]

MAX_NAME = 80


def _short(name: str) -> str:
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"{name[:48]}…[{len(name)} characters, {digest}]"


def _names(summary: Mapping[str, Any], samples: pd.DataFrame) -> list[str]:
    d = summary.get("dataset") if isinstance(summary.get("dataset"), Mapping) else {}
    attributes = [str(a) for a in d.get("attributes") or [] if isinstance(a, str)]
    found = {str(c) for c in d.get("classes") or [] if isinstance(c, str)}
    for col in ("label", "pred", *attributes):
        if col in samples.columns:
            found |= {str(v) for v in samples[col].dropna().unique()}
    for record in d.get("counts") or []:
        if isinstance(record, Mapping):
            found |= {str(record.get(a)) for a in attributes if record.get(a) is not None}
    return sorted((n for n in found if len(n) > MAX_NAME), key=len, reverse=True)


def _replace(obj: Any, table: list[tuple[str, str]]) -> Any:
    if isinstance(obj, str):
        for long, short in table:
            if long in obj:
                obj = obj.replace(long, short)
        return obj
    if isinstance(obj, Mapping):
        return {_replace(k, table): _replace(v, table) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace(v, table) for v in obj]
    return obj


def shorten_long_names(summary: dict, samples: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """``summary`` and ``samples`` with class names and attribute values longer than
    :data:`MAX_NAME` shortened everywhere (both returned as they are when there is none)."""
    names = _names(summary, samples)
    if not names:
        return summary, samples
    table = [(n, _short(n)) for n in names]
    mapping = dict(table)
    d = summary.get("dataset") if isinstance(summary.get("dataset"), Mapping) else {}
    columns = ["label", "pred", *[str(a) for a in d.get("attributes") or []]]
    samples = samples.copy()
    for col in columns:
        if col in samples.columns:
            samples[col] = samples[col].map(lambda v: mapping.get(v, v) if isinstance(v, str)
                                            else v)
    return _replace(summary, table), samples

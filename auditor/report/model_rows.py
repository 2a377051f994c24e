"""View-model of the report's "models" table (section Methods): what each audited model is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.report import fmt as f

__all__ = ["model_rows"]


def model_rows(summary: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """Per model: architecture, where its weights came from, target layer and map size."""
    training = summary.get("training") if isinstance(summary.get("training"), Mapping) else {}
    rows = []
    for name, m in (summary.get("models") or {}).items():
        meta = training.get(name) if isinstance(training.get(name), Mapping) else {}
        size = m.get("map_size") if isinstance(m, Mapping) else None
        source = str(meta.get("source", f.DASH))
        if meta.get("trust_pickle"):
            source += " (trust_pickle: the file was fully unpickled, running code it names)"
        rows.append((str(name), str(meta.get("arch", f.DASH)), source,
                     str(m.get("target_layer", f.DASH)) if isinstance(m, Mapping) else f.DASH,
                     f"{size[0]}x{size[1]}" if isinstance(size, list) and len(size) == 2
                     else f.DASH))
    return rows

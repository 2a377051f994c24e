"""The ``unreliable_saliency`` finding of a failed model-parameter randomisation check.

The check itself runs the model (:mod:`auditor.saliency.sanity`, in the audit pass); this reads
its ``sanity`` block of summary.json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.common.text import span
from auditor.metrics.base import Finding, method_label
from auditor.metrics.stats import json_float

__all__ = ["sanity_findings"]


def sanity_findings(sanity: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
                    ) -> list[Finding]:
    """``unreliable_saliency`` for each sanity result that failed.

    A result ``{method, spearman, passed, threshold, lowest: {layer, spearman, ci, n}}``
    failed when its maps stayed similar (mean Spearman at or above ``threshold``) at every
    step of the cascade. High when the lowest step's interval clears the threshold too; medium
    when it reaches below it (too few images to tell). A result without ``lowest`` (written
    before it existed) is judged on ``spearman``, high.
    """
    if sanity is None:
        return []
    results = [sanity] if isinstance(sanity, Mapping) else list(sanity)
    out = []
    for s in results:
        rho = json_float(s.get("spearman"))
        if s.get("passed", True) or rho is None:
            continue  # None: every map checked was empty (an empty-map finding says so)
        name = method_label(str(s.get("method")))
        evidence = {k: (json_float(v) if isinstance(v, float) else v) for k, v in s.items()}
        low = s.get("lowest") if isinstance(s.get("lowest"), Mapping) else None
        if low is None or json_float(low.get("spearman")) is None:
            out.append(Finding("unreliable_saliency", "high", (
                f"{name} maps barely change when the model's weights are randomised (Spearman "
                f"{rho:.2f}), so they may not show what the model learned."), evidence))
            continue
        ci = low.get("ci") or [None, None]
        threshold = float(s.get("threshold", 0.5))
        sure = ci[0] is not None and ci[0] >= threshold
        interval = (f"95% CI {span(f'{ci[0]:.2f}', f'{ci[1]:.2f}')}, " if None not in ci
                    else "") + f"{low.get('n')} images"
        title = (f"{name} maps barely change when the model's weights are randomised: at every "
                 f"step of the cascade their rank correlation with the trained model's maps "
                 f"stays at {low['spearman']:.2f} or above (lowest after randomising down to "
                 f"{low.get('layer')}, {interval}; {rho:.2f} fully randomised), so they may "
                 "not show what the model learned.")
        if not sure:
            title = title[:-1] + (f"; only medium: on {low.get('n')} images the interval "
                                  f"reaches below {threshold:.2f}.")
        out.append(Finding("unreliable_saliency", "high" if sure else "medium", title,
                           evidence))
    return out

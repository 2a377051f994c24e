"""Bar charts drawn in HTML: view-models for the ``stacked_bars`` and ``grouped_bars`` macros
of ``templates/macros.html.j2`` (styles in ``templates/bars.css``).

The bars are real text (searchable, crisp in print, read by screen readers) and cost nothing
to draw, so the pages that need only these charts (``compare.html``) never import matplotlib.
Every value arrives pre-formatted; the template does no arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from auditor.report import fmt as f
from auditor.report.palette import BACKGROUND, text_on

__all__ = ["SEGMENT_LABEL_MIN", "grouped_chart", "stacked_segments"]

#: A segment of a stacked bar this wide or wider shows its percentage inside.
SEGMENT_LABEL_MIN = 0.08


def _share(value: object) -> float:
    """A share in [0, 1]; missing or NaN -> 0."""
    v = float(value) if f.is_num(value) else 0.0
    return float(np.clip(np.nan_to_num(v), 0.0, 1.0))


def stacked_segments(masses: Mapping[str, float], regions: Sequence[str],
                     colors: Mapping[str, str]) -> list[dict[str, str | bool]]:
    """One row of a 100%-stacked bar: per region, its width, colours and label.

    Args:
        masses: region -> share (a row sums to about 1; less when maps were empty).
        regions: stack order.
        colors: region -> fill colour.

    Returns:
        ``[{"region", "width" ("34.00%"), "pct" ("34%"), "color", "text", "show"}]``; the
        shares are clipped so that a row never exceeds 100%.
    """
    out: list[dict[str, str | bool]] = []
    left = 1.0
    for region in regions:
        share = min(_share(masses.get(region)), left)
        left -= share
        fill = colors.get(region, BACKGROUND)
        out.append({"region": region, "width": f"{100 * share:.2f}%", "pct": f.pct(share, 0),
                    "color": fill, "text": text_on(fill), "show": share >= SEGMENT_LABEL_MIN})
    return out


def grouped_chart(categories: Sequence[str], series: Mapping[str, Sequence[float]],
                  colors: Mapping[str, str], *, title: str, alt: str) -> dict:
    """Horizontal bars grouped by category, one bar per series (e.g. per model), on a 0-1 axis.

    Args:
        categories: e.g. regions.
        series: series name -> one value in [0, 1] per category (NaN: no bar, "–").
        colors: series name -> colour.
        title: shown above the bars.
        alt: the chart as one sentence (aria-label).

    Returns:
        ``{"title", "alt", "legend": [{"name", "color"}], "groups": [{"label", "bars":
        [{"name", "width", "value", "color"}]}]}``.
    """
    names = list(series)
    groups = [{"label": cat, "bars": [
        {"name": n, "width": f"{100 * _share(series[n][i]):.2f}%", "value": f.pct(series[n][i], 0),
         "color": colors.get(n, BACKGROUND)} for n in names]}
        for i, cat in enumerate(categories)]
    return {"title": title, "alt": alt, "groups": groups,
            "legend": [{"name": n, "color": colors.get(n, BACKGROUND)} for n in names]}

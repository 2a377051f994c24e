"""One colour per region, per model and per severity, the same everywhere in the report.

Colours come from the Okabe-Ito palette (distinguishable with the common colour-vision
deficiencies). The pixels no region covers (``background``) always get a neutral grey, so
"looking at nothing in particular" never competes with a real region for attention.
Severity badges pair a fill with a text colour chosen for WCAG AA contrast (>= 4.5:1), and
always carry a text label, so colour is never the only signal.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Okabe-Ito, without black (kept for text) and reordered so neighbours contrast well.
OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#0072B2",  # blue
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
)

#: Neutral grey for the ``background`` region and for "not clustered" points.
BACKGROUND = "#A0A0A0"

#: Model colours start at a different offset than regions so a model bar is rarely mistaken
#: for a region bar in the comparison chart.
_MODEL_ORDER: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")

#: severity -> (fill, text colour, label). Contrast of text on fill is >= 4.5:1.
SEVERITY: dict[str, tuple[str, str, str]] = {
    "high": ("#A50F15", "#FFFFFF", "HIGH"),
    "medium": ("#F6C342", "#1A1A1A", "MEDIUM"),
    "low": ("#DCE6F2", "#1A1A1A", "LOW"),
}

SEVERITY_ORDER: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


def region_colors(regions: Sequence[str]) -> dict[str, str]:
    """Assign each region a fixed colour; ``background`` is always :data:`BACKGROUND`.

    Args:
        regions: Region names in report order (annotated names, then ``background``).

    Returns:
        Mapping region -> hex colour, stable for the same list of regions.
    """
    colors: dict[str, str] = {}
    i = 0
    for name in regions:
        if name == "background":
            colors[name] = BACKGROUND
            continue
        colors[name] = OKABE_ITO[i % len(OKABE_ITO)]
        i += 1
    return colors


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """Assign each model a fixed colour, in the order the models appear in the summary."""
    return {name: _MODEL_ORDER[i % len(_MODEL_ORDER)] for i, name in enumerate(models)}


#: Clusters past the seven Okabe-Ito colours: darker hues, none of them a repeat (a 4-class
#: run's 8 clusters gave clusters 0 and 7 one orange in the table and the scatter).
_CLUSTER_EXTRA: tuple[str, ...] = ("#8C510A", "#1B7837", "#762A83", "#01665E", "#B2182B",
                                   "#2D004B", "#4D4D4D", "#7F3B08")


def cluster_color(cluster_id: int, order: int) -> str:
    """Colour of a misclassification cluster; ``-1`` (not clustered) is neutral grey.

    Args:
        cluster_id: The cluster id from ``samples.parquet`` (``-1`` = not in a cluster).
        order: Position of the cluster among the clusters shown.
    """
    if cluster_id < 0:
        return BACKGROUND
    colours = OKABE_ITO + _CLUSTER_EXTRA
    return colours[order % len(colours)]


def _luminance(hex_color: str) -> float:
    """Relative luminance per WCAG 2.x of a ``#RRGGBB`` colour."""
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(fg: str, bg: str) -> float:
    """WCAG contrast ratio between two ``#RRGGBB`` colours (1.0 to 21.0)."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def text_on(fill: str) -> str:
    """Near-black or white, whichever reads better on ``fill`` (for labels inside bars)."""
    dark, light = "#1A1A1A", "#FFFFFF"
    return dark if contrast_ratio(dark, fill) >= contrast_ratio(light, fill) else light

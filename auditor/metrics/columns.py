"""Names of the per-sample columns of ``samples.parquet``, and the parser of the mass columns.

Every module that writes or reads a per-method or per-region column names it here, so the
names are built one way and read back one way:

- ``mass_<method>_<region>``, ``point_<method>_<region>``, ``rank_<method>_<region>``;
- ``area_<region>``, ``flip_<region>``, ``conf_drop_<region>``.

Reading a mass column back needs the known regions (and, when available, the known methods):
a name cannot be split on ``_`` alone, since methods (``gradcam++``, ``smooth_grad``) and regions
(``left_eye``) may contain one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "IMAGE_HASH",
    "area_column",
    "conf_drop_column",
    "flip_column",
    "lead_donor_column",
    "lead_hole_column",
    "lead_pred_column",
    "mass_column",
    "mass_methods",
    "parse_mass_column",
    "paste_follow_column",
    "paste_placebo_column",
    "point_column",
    "rank_column",
    "swap_from_column",
]

MASS_PREFIX = "mass_"

#: Each audited image file's fingerprint, as the run read it (:mod:`auditor.data.fingerprints`):
#: ``audit report`` and ``audit compare`` check the images they pair with results against it.
IMAGE_HASH = "image_hash"


def mass_column(method: str, region: str) -> str:
    """``mass_<method>_<region>``: share of the map's mass inside the region."""
    return f"{MASS_PREFIX}{method}_{region}"


def point_column(method: str, region: str) -> str:
    """``point_<method>_<region>``: pointing-game hit (the map's peak lies in the region)."""
    return f"point_{method}_{region}"


def rank_column(method: str, region: str) -> str:
    """``rank_<method>_<region>``: relevance rank accuracy of the region."""
    return f"rank_{method}_{region}"


def area_column(region: str) -> str:
    """``area_<region>``: share of the image the region covers."""
    return f"area_{region}"


def flip_column(region: str) -> str:
    """``flip_<region>``: the answer changed when the region was blurred out."""
    return f"flip_{region}"


def conf_drop_column(region: str) -> str:
    """``conf_drop_<region>``: confidence lost when the region was blurred out."""
    return f"conf_drop_{region}"


def swap_from_column(swap: str) -> str:
    """``swap_from_<swap>``: for a context swap (``<attribute>:<region>``), the class the
    image's OWN attribute value goes with in training (the context the swap takes away; None
    when the value goes with no class), on every row."""
    return f"swap_from_{swap}"


def lead_pred_column(region: str) -> str:
    """``swap_lead_<region>``: the class predicted after the lead paste of the region (the
    region pasted in from any other image)."""
    return f"swap_lead_{region}"


def lead_donor_column(region: str) -> str:
    """``swap_donor_<region>``: the class the model gives that lead paste's donor image."""
    return f"swap_donor_{region}"


def lead_hole_column(region: str) -> str:
    """``swap_hole_<region>``: the class predicted after the lead paste's hole control."""
    return f"swap_hole_{region}"


def paste_follow_column(region: str) -> str:
    """``paste_follow_<region>``: pasting the region's area from an image the model assigns to
    another class moved the answer to that class (1.0 / 0.0; NaN untested)."""
    return f"paste_follow_{region}"


def paste_placebo_column(region: str) -> str:
    """``paste_placebo_<region>``: pasting it from another image the model assigns to the
    same class changed the answer (the placebo of the paste; 1.0 / 0.0, NaN untested)."""
    return f"paste_placebo_{region}"


def parse_mass_column(column: str, regions: Sequence[str],
                      methods: Sequence[str] | None = None) -> tuple[str, str] | None:
    """``(method, region)`` of a mass column, or ``None`` if it is not one.

    Args:
        column: a column name.
        regions: the known region names.
        methods: the known method names; ``None`` accepts any non-empty method name.

    Returns:
        The split with a known region (and method); when several splits fit, the one with
        the longest region name (``mass_gradcam_left_face`` with regions ``face`` and
        ``left_face`` is ``("gradcam", "left_face")``).
    """
    if not column.startswith(MASS_PREFIX):
        return None
    rest = column[len(MASS_PREFIX):]
    fits = []
    for region in regions:
        method = rest[:-len(region) - 1]
        if rest.endswith(f"_{region}") and method and (methods is None or method in methods):
            fits.append((method, region))
    return max(fits, key=lambda mr: len(mr[1])) if fits else None


def mass_methods(columns: Iterable[str], regions: Sequence[str],
                 methods: Sequence[str] | None = None) -> list[str]:
    """Methods with a mass column for every region, in column order.

    Args:
        columns: column names of a per-sample table.
        regions: the known region names.
        methods: the known method names (``None``: any).
    """
    cols = list(columns)
    present = set(cols)
    found = [parsed[0] for c in cols if (parsed := parse_mass_column(c, regions, methods))]
    return [m for m in dict.fromkeys(found)
            if all(mass_column(m, r) in present for r in regions)]

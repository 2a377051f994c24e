"""Statistics of a loaded dataset, for ``audit validate`` (the CLI prints them).

:func:`describe` returns plain JSON-able dicts: counts per split x class x attribute value,
annotation coverage per region (share of samples whose mask for that region is non-empty)
and warnings for subgroups smaller than ``min_group_size``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from auditor.data.dataset import DataBundle
from auditor.data.regions import BACKGROUND

__all__ = ["annotated_anywhere", "annotation_coverage", "describe", "group_counts",
           "skipped_kinds"]


def group_counts(bundle: DataBundle) -> dict:
    """``{split: {class: {"n": int, ATTR: {VALUE: int}}}}`` over the usable samples.

    Every class and every attribute value seen anywhere appears in every split, with 0 where
    absent, so empty cells are visible.
    """
    t = bundle.table
    values = {a: sorted(t[a].astype(str).unique()) for a in bundle.attributes}
    out: dict = {}
    for split in ("train", "val", "test"):
        part = t[t["split"] == split]
        if part.empty:
            continue
        out[split] = {}
        for i, cls in enumerate(bundle.classes):
            rows = part[part["label"] == i]
            entry: dict = {"n": len(rows)}
            for a in bundle.attributes:
                counts = rows[a].astype(str).value_counts()
                entry[a] = {v: int(counts.get(v, 0)) for v in values[a]}
            out[split][cls] = entry
    return out


def annotation_coverage(bundle: DataBundle, split: str | None = None
                        ) -> dict[str, float | None]:
    """Share of samples (of ``split``, or of all) with a non-empty mask per annotated region.

    Masks are rasterised at each image's original size from the annotation source (no image
    is decoded). Regions added by automatic detection (``regions.auto``) need the pixels, so
    they get ``None`` unless also annotated. ``background`` is left out.
    """
    reg = bundle._regions
    names = [r for r in bundle.regions if r != BACKGROUND]
    table = _rows(bundle, split)
    if reg.source is None or table.empty:
        return {r: None for r in names}
    hits = Counter(name for drawn in _drawn_regions(bundle, table) for name in drawn)
    n = len(table)
    return {r: (hits[r] / n if r in reg.source.names else None) for r in names}


def annotated_anywhere(bundle: DataBundle, regions: list[str], split: str | None = None
                       ) -> dict[str, bool | None]:
    """Whether each of ``regions`` has a non-empty mask on some sample of ``split`` (or of
    all); None where :func:`annotation_coverage` gives None (a region no annotation file
    holds). Its question answered with the first hit, so a check at start-up rasterises one
    sample per region, not the whole split."""
    source = bundle._regions.source
    todo = {r for r in regions if source is not None and r in source.names}
    found: set[str] = set()
    if todo:
        for drawn in _drawn_regions(bundle, _rows(bundle, split)):
            found |= todo & drawn
            if found == todo:
                break
    return {r: (r in found if r in todo else None) for r in regions}


def _rows(bundle: DataBundle, split: str | None):
    return bundle.table if split is None else bundle.table[bundle.table["split"] == split]


def _drawn_regions(bundle: DataBundle, table) -> Iterator[set[str]]:
    """Per annotated sample of ``table``, the regions whose mask (at the image's original size,
    from the annotation source: no image is decoded) has a pixel."""
    source = bundle._regions.source
    for sample_id in table["id"]:
        h, w = bundle.image_sizes.get(sample_id, (0, 0))
        if sample_id not in source.annotated or not h:
            continue
        yield {name for name, mask in source.masks(sample_id, h, w).items() if mask.any()}


def _reason_kind(reason: str) -> str:
    """What kind of problem a skip reason names, without the sample's own details: the file
    an annotation reason starts with and its annotation id are dropped first
    (``/d/regions.json: annotation 7: polygon has ...`` -> ``polygon has ...``)."""
    text = re.sub(r"^\S*[/\\]\S*: ", "", reason)
    text = re.sub(r"^(annotation|image) \S+: ", "", text)
    return re.split(r"[:(]", text, maxsplit=1)[0].strip() or reason


def skipped_kinds(skipped: list[dict]) -> dict[str, tuple[int, dict]]:
    """``{kind: (count, first skipped entry)}`` of ``DataBundle.skipped``, in order of the
    first sample of each kind (see :func:`_reason_kind`)."""
    out: dict[str, tuple[int, dict]] = {}
    for entry in skipped:
        kind = _reason_kind(str(entry["reason"]))
        n, first = out.get(kind, (0, entry))
        out[kind] = (n + 1, first)
    return out


#: Small groups named one per warning line; the rest are one counted line.
MAX_SMALL_LISTED = 5


def describe(bundle: DataBundle, *, min_group_size: int = 10, coverage: bool = True) -> dict:
    """Summarise a dataset.

    Args:
        bundle: from :func:`auditor.data.dataset.load_data`.
        min_group_size: subgroups (split x class x attribute value) below this size are
            listed in ``small_groups`` and, the :data:`MAX_SMALL_LISTED` smallest by name and
            the rest as one counted line, in ``warnings``.
        coverage: compute the annotation coverage (rasterises every sample's masks).

    Returns:
        ``{"n_samples", "n_skipped", "skipped_by_reason": {reason: n}, "classes",
        "attributes", "regions", "splits": {split: n}, "counts": see group_counts,
        "coverage": {region: share | None}, "small_groups": [{"split", "label", "attribute",
        "value", "n"}], "warnings": [str]}``.
    """
    counts = group_counts(bundle)
    small = []
    for split, per_class in counts.items():
        for cls, entry in per_class.items():
            for attr in bundle.attributes:
                for value, n in entry[attr].items():
                    if n < min_group_size:
                        small.append({"split": split, "label": cls, "attribute": attr,
                                      "value": value, "n": n})
    warnings = list(bundle.warnings)
    listed = sorted(small, key=lambda g: g["n"])[:MAX_SMALL_LISTED]  # the smallest first
    for g in listed:
        warnings.append(f"small group: {g['split']} {g['label']} with {g['attribute']}="
                        f"{g['value']} has {g['n']} sample(s) (< {min_group_size})")
    if len(small) > len(listed):  # 14 classes x a 20-valued attribute printed 1142 lines
        warnings.append(f"small group: {len(small) - len(listed)} more (split x class x "
                        f"attribute value) groups have fewer than {min_group_size} samples "
                        f"(analysis.min_group_size); the counts per split, class and value show "
                        f"them all")
    splits = bundle.table["split"].value_counts()
    return {
        "n_samples": len(bundle.table),
        "n_skipped": len(bundle.skipped),
        "skipped_by_reason": dict(Counter(_reason_kind(s["reason"]) for s in bundle.skipped)),
        "classes": list(bundle.classes),
        "attributes": list(bundle.attributes),
        "regions": list(bundle.regions),
        "splits": {s: int(splits.get(s, 0)) for s in ("train", "val", "test")},
        "counts": counts,
        "coverage": annotation_coverage(bundle) if coverage else {},
        "small_groups": small,
        "warnings": warnings,
    }

"""Matching the samples of two runs by id, and saying how two id sets differ.

A sample id is the image's path relative to the data root (:mod:`auditor.data.table`), so two
runs over the same files have the same ids whatever their source (manifest, image folder,
synthetic). When the sets still differ, :func:`check_same_samples` says how: most often the
runs read the same files from different data roots, and the ids of one run are those of the
other with a folder prefix in front (``images/cat/1.png`` against ``cat/1.png``). An id names a
file, not its content: runs that recorded their images' fingerprints are also checked to have
audited the same bytes under each id (:func:`check_same_images`).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from auditor.errors import CompareError
from auditor.metrics.columns import IMAGE_HASH

__all__ = ["check_same_images", "check_same_samples", "id_prefixes", "strip_id_prefix"]


def strip_id_prefix(rows: pd.DataFrame, prefix: str | None, side: str) -> pd.DataFrame:
    """``rows`` with ``prefix`` removed from every id (``--strip-a`` / ``--strip-b``).

    Raises:
        CompareError: an id of the run does not start with the prefix.
    """
    if not prefix:
        return rows
    ids = rows["id"].astype(str)
    bad = ids[~ids.str.startswith(prefix)]
    if len(bad):
        raise CompareError(f"--strip-{side.lower()} {prefix!r}: {len(bad)} sample id(s) of run "
                           f"{side} do not start with it, e.g. {bad.iloc[0]!r}")
    return rows.assign(id=ids.str.slice(len(prefix)))


def id_prefixes(ids_a: set[str], ids_b: set[str]) -> tuple[str, str] | None:
    """``(prefix_a, prefix_b)`` such that the ids of A without ``prefix_a`` are exactly the ids
    of B without ``prefix_b`` (one of them usually empty), or ``None``.

    The prefixes are whole leading folders (they end with ``/``).
    """
    if not ids_a or not ids_b:
        return None
    by_name: dict[str, list[str]] = defaultdict(list)
    for b in ids_b:
        by_name[b.rsplit("/", 1)[-1]].append(b)
    example = min(ids_a - ids_b or ids_a)
    for b in by_name.get(example.rsplit("/", 1)[-1], []):
        pa, pb = _split_common_tail(example, b)
        if pa == pb:
            continue
        if all(a.startswith(pa) for a in ids_a) and all(x.startswith(pb) for x in ids_b) and {
                a[len(pa):] for a in ids_a} == {x[len(pb):] for x in ids_b}:
            return pa, pb
    return None


def _split_common_tail(a: str, b: str) -> tuple[str, str]:
    """The leading folders of ``a`` and ``b`` before their longest common path tail."""
    pa, pb = a.split("/"), b.split("/")
    k = 0
    while k < min(len(pa), len(pb)) and pa[-1 - k] == pb[-1 - k]:
        k += 1
    head_a, head_b = pa[:len(pa) - k], pb[:len(pb) - k]
    return ("/".join(head_a) + "/" if head_a else "", "/".join(head_b) + "/" if head_b else "")


def check_same_samples(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> None:
    """Refuse runs whose sample ids, images (:func:`check_same_images`) or labels differ,
    saying how they differ and what to do.

    Raises:
        CompareError: one line naming the difference.
    """
    ids_a, ids_b = set(rows_a["id"]), set(rows_b["id"])
    if ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        counts = (f"different sample id sets: {len(only_a)} ids only in run A, {len(only_b)} "
                  f"only in run B (of {len(ids_a)} and {len(ids_b)})")
        prefixes = id_prefixes(ids_a, ids_b)
        if prefixes is not None:
            pa, pb = prefixes
            how = " and ".join(f"run {s}'s ids start with {p!r}" for s, p in (("A", pa), ("B", pb))
                               if p)
            flags = " ".join(f"--strip-{s} {p}" for s, p in (("a", pa), ("b", pb)) if p)
            raise CompareError(
                f"{counts}: they are the same images, but {how} (e.g. A {min(ids_a)!r}, B "
                f"{min(ids_b)!r}): the runs read them from different data roots. Compare them "
                f"with {flags}, or give both configs the same data root (data.root for a "
                "manifest, the folder itself for data.image_folder)")
        shared = len(ids_a & ids_b)
        example = (only_a or only_b)[0]
        raise CompareError(
            f"{counts}, {shared} shared, e.g. '{example}' only in run "
            f"{'A' if only_a else 'B'}: the runs audited different samples; compare needs two "
            "runs of the same audit split (same data, data.audit_split, seed and split ratios)")
    check_same_images(rows_a, rows_b)
    merged = rows_a[["id", "label"]].merge(rows_b[["id", "label"]], on="id", suffixes=("_a", "_b"))
    bad = merged[merged["label_a"].astype(str) != merged["label_b"].astype(str)]
    if len(bad):
        row = bad.iloc[0]
        raise CompareError(
            f"different labels for the same id: {len(bad)} ids, e.g. '{row['id']}' is "
            f"'{row['label_a']}' in run A and '{row['label_b']}' in run B"
        )


def check_same_attributes(rows_a: pd.DataFrame, rows_b: pd.DataFrame,
                          attributes: list[str]) -> None:
    """Refuse runs that give one id another value of a shared attribute: their groups would
    hold different images under one name, and every per-group difference would be wrong.

    Raises:
        CompareError: one line naming the attribute, how many ids differ and one of them.
    """
    for attr in attributes:
        merged = rows_a[["id", attr]].merge(rows_b[["id", attr]], on="id", suffixes=("_a", "_b"))
        bad = merged[merged[f"{attr}_a"].astype(str) != merged[f"{attr}_b"].astype(str)]
        if len(bad):
            row = bad.iloc[0]
            raise CompareError(
                f"different values of attribute '{attr}' for the same id: {len(bad)} ids, e.g. "
                f"'{row['id']}' is {attr}={row[f'{attr}_a']} in run A and "
                f"{attr}={row[f'{attr}_b']} in run B; the runs read different attribute data "
                f"(compare runs made from the same manifest or attributes CSV)")


def check_same_images(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> None:
    """Refuse runs whose samples of one id are different images: the file's fingerprint
    (``image_hash``, :mod:`auditor.data.fingerprints`) differs. Runs of an older auditor (no
    fingerprints) and samples without one are compared as before.

    Raises:
        CompareError: one line naming how many differ, the first id and the likely cause.
    """
    if IMAGE_HASH not in rows_a.columns or IMAGE_HASH not in rows_b.columns:
        return
    both = rows_a[["id", IMAGE_HASH]].drop_duplicates("id").merge(
        rows_b[["id", IMAGE_HASH]].drop_duplicates("id"), on="id", suffixes=("_a", "_b"))
    a, b = both[f"{IMAGE_HASH}_a"], both[f"{IMAGE_HASH}_b"]
    differ = sorted(both.loc[a.notna() & b.notna() & (a.astype(str) != b.astype(str)), "id"])
    if differ:
        raise CompareError(
            f"{len(differ)} of the {len(both)} sample ids name different images in the two "
            f"runs, e.g. '{differ[0]}' (the file's bytes differ): the data was regenerated or "
            "edited between the runs, and pairing them would compare different images; audit "
            "the same files in both runs (e.g. run the earlier audit again on the current data)")

"""Where samples come from: a manifest CSV or an ImageFolder (+ attributes CSV).

Both readers return a raw table of strings with columns ``id`` (the path relative to
``root``; :func:`auditor.data.dataset.load_data` turns it into the sample id, one rule for
every source), ``label``, ``split`` (empty when unknown) and one column per
attribute, plus the root folder and warnings. Splits that are not given are drawn by
:func:`assign_splits` (seeded, stratified by label).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.config import DataConfig
from auditor.data.csv_files import read_csv, undo_spreadsheet_safe
from auditor.data.regions import match_names
from auditor.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "SPLITS", "WEIGHT", "assign_splits", "read_image_folder",
           "read_manifest"]

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DEFAULT_SPLIT_RATIOS = (0.7, 0.1, 0.2)
MISSING_ATTRIBUTE = "unknown"
WEIGHT = "weight"  # optional manifest column: the sample's sampling weight in training


def _require(df: pd.DataFrame, path: Path, columns: list[str], what: str) -> None:
    for col in columns:
        if col not in df.columns:
            sep = next((c for c in ";\t|" if len(df.columns) == 1
                        and c in str(df.columns[0])), None)
            hint = f"; the file seems separated by {sep!r}: auditor reads commas" if sep else ""
            raise DataError(f"{path}: no {what} column {col!r} (available columns: "
                            f"{', '.join(map(str, df.columns)) or 'none'}){hint}")


def _clean_split(df: pd.DataFrame, path: Path) -> pd.Series:
    split = df["split"].str.strip().str.lower() if "split" in df.columns else pd.Series(
        "", index=df.index)
    bad = ~split.isin(list(SPLITS) + [""])
    if bad.any():  # the index is the line of the file (auditor.data.csv_files.read_csv)
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{path}: line {df.index[i]}: split {df['split'].iloc[i]!r} is not one of "
                        f"{', '.join(SPLITS)} (or leave it empty for a seeded split)")
    return split


def _to_nfc(df: pd.DataFrame, columns: list[str], where: Callable[[int], str]) -> list[str]:
    """Put the text of ``columns`` in Unicode NFC form, in place: a label or value typed on
    one system (``café``, NFC) and copied from another (``cafe`` + U+0301, NFD) print alike
    and must be one class or group. Sample paths are never touched: they name files.

    Returns:
        One counted warning naming the first cell changed (``where(row position)``), or none.
    """
    n, first = 0, None
    for col in columns:
        norm = df[col].map(lambda v: unicodedata.normalize("NFC", v) if isinstance(v, str) else v)
        changed = (norm != df[col]).to_numpy()
        if changed.any():
            k = int(np.flatnonzero(changed)[0])
            if first is None or k < first[0]:
                first = (k, col, df[col].iloc[k])
            n += int(changed.sum())
            df[col] = norm
    if first is None:
        return []
    k, col, old = first
    return [f"{n} label or attribute value(s) were not in Unicode NFC form and were normalised "
            "to it, so that names that print alike are one class or group (first: "
            f"{where(k)}, {col} {ascii(old)})"]


def _fill_missing(df: pd.DataFrame, attributes: list[str], path: Path) -> list[str]:
    """Empty attribute cells become :data:`MISSING_ATTRIBUTE`, as images without a row of an
    attributes CSV do (an empty value was a subgroup named ``""``); one counted warning per
    attribute, naming the first line and image (``id``). The index of ``df`` is the line of
    the file."""
    warnings = []
    for attr in attributes:
        empty = (df[attr] == "").to_numpy()
        if empty.any():
            k = int(np.flatnonzero(empty)[0])
            warnings.append(f"{int(empty.sum())} image(s) have an empty {attr} cell in {path} "
                            f"(first: line {df.index[k]}, {df['id'].iloc[k]!r}); "
                            f"their {attr} is {MISSING_ATTRIBUTE!r}")
            df.loc[empty, attr] = MISSING_ATTRIBUTE
    return warnings


def read_manifest(cfg: DataConfig) -> tuple[pd.DataFrame, Path, list[str]]:
    """Read ``data.manifest`` (columns ``path,label[,split]`` + ``data.attributes``).

    Labels and attribute values are put in Unicode NFC form, empty attribute cells read as
    ``unknown``; each is a counted warning naming the first line (paths are kept as written).

    Returns:
        ``(raw table, root, warnings)``; root is ``data.root`` or the manifest's folder.

    Raises:
        DataError: missing/unreadable manifest, missing column (lists the available ones).
    """
    path = Path(cfg.manifest)
    df = undo_spreadsheet_safe(read_csv(  # a CSV written by audit rebalance reads back as is
        path, "manifest", "set data.manifest to a CSV with columns path,label,split "
        "(+ attribute columns), or use data.image_folder or data.synthetic"))
    _require(df, path, ["path", "label"], "required")
    _require(df, path, list(cfg.attributes), "attribute")
    out = pd.DataFrame({"id": df["path"].str.strip(), "label": df["label"].str.strip(),
                        "split": _clean_split(df, path)})
    for attr in cfg.attributes:
        out[attr] = df[attr].astype(str).str.strip()
    warnings = _to_nfc(out, ["label", *cfg.attributes], lambda k: f"{path} line {out.index[k]}")
    warnings += _fill_missing(out, list(cfg.attributes), path)
    if WEIGHT in df.columns:  # sampling weights, parsed by auditor.data.train_rows
        out[WEIGHT] = df[WEIGHT].str.strip()
    root = Path(cfg.root) if cfg.root is not None else path.parent
    return out, root, warnings


def read_image_folder(cfg: DataConfig) -> tuple[pd.DataFrame, Path, list[str]]:
    """Read ``data.image_folder`` (one sub-folder per class) and ``data.attributes_csv``.

    Files are taken recursively under each class folder when their suffix is an image suffix
    (``.jpg .jpeg .jfif .png .bmp .gif .tif .tiff .webp``); other files are counted in a
    warning, hidden files and folders (a part starting with ``.``) are skipped. The optional
    attributes CSV has a ``path`` column (relative to the image folder, or a unique base
    name), the attribute columns and optionally ``split``; an image named by two rows that
    agree is read once, by two rows that disagree is an error naming both lines. An image
    without a row, or with an empty cell, has the attribute value ``unknown`` (a counted
    warning). Class names and attribute values are read in Unicode NFC form.

    Raises:
        DataError: missing folder, no class folders, attribute columns missing, a bad split,
            conflicting rows for one image.
    """
    root = Path(cfg.image_folder)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found; set data.image_folder to a folder "
                        "with one sub-folder of images per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    rows, other = [], 0
    for cls in classes:
        for f in sorted((root / cls).rglob("*")):
            rel = f.relative_to(root)
            if any(part.startswith(".") for part in rel.parts) or f.is_dir():
                continue  # hidden files and folders (.ipynb_checkpoints: copies of images)
            if f.suffix.lower() in IMAGE_SUFFIXES:
                rows.append((rel.as_posix(), cls))
            else:
                other += 1
    if not rows:
        raise DataError(f"{root}: no images found in class sub-folders (expected "
                        f"{root}/<class>/<image>.png)")
    df = pd.DataFrame(rows, columns=["id", "label"])
    df["split"] = ""
    # class names come from folder names: the label is normalised, the id (a path) never
    warnings = _to_nfc(df, ["label"], lambda k: f"{root}/{df['id'].iloc[k]}")
    if other:
        warnings.append(f"{other} file(s) in {root} were ignored: their suffix is not one of "
                        f"{' '.join(sorted(IMAGE_SUFFIXES))}")
    if cfg.attributes_csv is None:
        if cfg.attributes:
            raise DataError(f"data.attributes ({', '.join(cfg.attributes)}) needs "
                            "data.attributes_csv (columns path + attributes) with image_folder")
        return df, root, warnings
    path = Path(cfg.attributes_csv)
    attrs = undo_spreadsheet_safe(read_csv(
        path, "attributes CSV", "set data.attributes_csv to a CSV with a path column and one "
        "column per attribute, or remove it"))
    _require(attrs, path, ["path"], "required")
    _require(attrs, path, list(cfg.attributes), "attribute")
    found, unmatched = match_names(attrs["path"].str.strip(), df["id"].tolist())
    attrs = attrs.assign(id=attrs["path"].str.strip().map(found)).dropna(subset=["id"])
    for attr in cfg.attributes:
        attrs[attr] = attrs[attr].astype(str).str.strip()
    warnings += _to_nfc(attrs, list(cfg.attributes), lambda k: f"{path} line {attrs.index[k]}")
    warnings += _fill_missing(attrs, list(cfg.attributes), path)
    if "split" in attrs.columns:  # checked before rows are dropped: the index is the line
        attrs["split"] = _clean_split(attrs, path)
    attrs = _one_row_per_image(attrs, [*cfg.attributes, *(["split"] if "split" in attrs else [])],
                               path)
    if unmatched:
        warnings.append(f"{len(unmatched)} row(s) of {path} name no image in {root} "
                        f"(e.g. {unmatched[0]!r}); ignored")
    if "split" in attrs.columns:
        df["split"] = attrs["split"].reindex(df["id"]).fillna("").to_numpy()
    n_missing = 0
    for attr in cfg.attributes:
        values = attrs[attr].reindex(df["id"])
        n_missing = max(n_missing, int(values.isna().sum()))
        df[attr] = values.fillna(MISSING_ATTRIBUTE).to_numpy()
    if n_missing:
        warnings.append(f"{n_missing} image(s) have no row in {path}; their attributes are "
                        f"{MISSING_ATTRIBUTE!r}")
    return df, root, warnings


def _one_row_per_image(attrs: pd.DataFrame, keys: list[str], path: Path) -> pd.DataFrame:
    """The rows of an attributes CSV indexed by image id, repeated rows merged.

    An image may be named twice (by its path and by its base name, or by the same path): rows
    that agree on every column of ``keys`` are one row; rows that disagree are an error naming
    both lines, since either could be right (keeping the first moved a test image to train).

    Raises:
        DataError: two rows name the same image with different values of a ``keys`` column.
    """
    distinct = attrs.drop_duplicates(subset=["id", *keys], keep="first")
    clash = distinct["id"].duplicated(keep=False)
    if clash.any():
        sample = distinct.loc[clash, "id"].iloc[0]
        (a, first), (b, second) = list(distinct[distinct["id"] == sample].iterrows())[:2]
        col = next(k for k in keys if first[k] != second[k])
        named = (f"as {first['path'].strip()!r} and {second['path'].strip()!r}"
                 if first["path"].strip() != second["path"].strip() else "twice")
        raise DataError(f"{path}: lines {a} and {b} both name image {sample!r} ({named}) with "
                        f"different {col} ({first[col]!r} and {second[col]!r}); keep one row "
                        "per image")
    return distinct.set_index("id")


def assign_splits(df: pd.DataFrame, ratios: list[float] | None, seed: int) -> pd.Series:
    """Fill empty ``split`` values: a seeded split stratified by label.

    Args:
        df: raw table with ``label`` and ``split`` ("" where unknown).
        ratios: train/val/test shares (normalised); default 0.7/0.1/0.2.
        seed: numpy ``Generator`` seed.

    Returns:
        The completed split column.

    Raises:
        DataError: ratios are not three non-negative numbers with a positive sum.
    """
    split = df["split"].copy()
    todo = split == ""
    if not todo.any():
        return split
    r = np.asarray(ratios if ratios is not None else DEFAULT_SPLIT_RATIOS, dtype=float)
    if r.shape != (3,) or (r < 0).any() or r.sum() <= 0:
        raise DataError(f"data.split_ratios: need three non-negative train/val/test shares, "
                        f"got {ratios}")
    r = r / r.sum()
    rng = np.random.default_rng([seed, 11])
    for label in sorted(df.loc[todo, "label"].unique()):
        idx = np.flatnonzero((todo & (df["label"] == label)).to_numpy())
        idx = idx[rng.permutation(len(idx))]
        n_train = int(round(r[0] * len(idx)))
        n_val = int(round(r[1] * len(idx)))
        split.iloc[idx[:n_train]] = "train"
        split.iloc[idx[n_train:n_train + n_val]] = "val"
        split.iloc[idx[n_train + n_val:]] = "test"
    return split

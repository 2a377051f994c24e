"""How a rebalanced manifest reaches training: repeated train rows and sampling weights.

``audit rebalance`` writes one of two things, and both are read here:

- **repeated rows** (``oversample``): identical rows of the train split are one sample whose
  sampling weight is the number of copies;
- **a ``weight`` column** (``reweight``): each train sample is drawn in proportion to it.

Either way the sample appears once in the table (ids stay unique, so the audit, the report
and ``audit compare`` are unaffected) and training draws it with probability proportional to
its weight (:func:`auditor.models.train.train_model`); an epoch still draws as many samples as
the train split has distinct images. Weights of other splits are ignored (they are 1).

``data.train_manifest`` names a CSV of the same shape whose train rows *replace* the train
split of the data source (manifest, image folder or synthetic): the way to train the "after"
model of a before/after comparison on the very same validation and test samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from auditor.config import DataConfig
from auditor.data.regions import normalise_name
from auditor.data.sources import WEIGHT, read_manifest
from auditor.errors import DataError

__all__ = ["apply_train_manifest", "describe_weights", "merge_train_repeats", "parse_weights"]


def parse_weights(raw: pd.DataFrame, where: Path | str) -> pd.DataFrame:
    """Turn the optional ``weight`` column (strings) into floats, 1.0 where absent or empty.

    Args:
        raw: the source table (``id, label, split``, attributes, maybe ``weight``).
        where: the file named in errors.

    Returns:
        A copy with a float ``weight`` column.

    Raises:
        DataError: a weight is not a finite non-negative number (names the line), or every
            train row has weight 0.
    """
    out = raw.copy()
    if WEIGHT not in out.columns:
        out[WEIGHT] = 1.0
        return out
    values = []
    for line, text in zip(out.index, out[WEIGHT].astype(str), strict=True):  # index: file line
        try:
            value = float(text) if text.strip() else 1.0
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise DataError(f"{where}: line {line}: weight {text!r} is not a non-negative "
                            "number (the weight column holds sampling weights for training)")
        values.append(value)
    out[WEIGHT] = values
    train = (out["split"].astype(str).str.strip().str.lower() == "train").to_numpy()
    if train.any() and not (out.loc[train, WEIGHT] > 0).any():
        raise DataError(f"{where}: every train row has weight 0, so training would draw "
                        "nothing (the weight column holds sampling weights)")
    return out


def merge_train_repeats(raw: pd.DataFrame) -> pd.DataFrame:
    """Merge identical rows of the train split into one sample, adding up their weights.

    Rows are identical when every column but ``weight`` is equal (same path, label, split and
    attributes). Repeats outside the train split, or rows that share a path but not the rest,
    are left for the duplicate-id check of :func:`auditor.data.dataset.load_data`. The index
    (the line of the file, :func:`auditor.data.csv_files.read_csv`) of the first copy is kept.
    """
    keys = [c for c in raw.columns if c != WEIGHT]
    train = raw["split"] == "train"
    repeated = train & raw.duplicated(subset=keys, keep=False)
    if not repeated.any():
        return raw
    out = raw.copy()
    out.loc[repeated, WEIGHT] = (out[repeated].groupby(keys, sort=False)[WEIGHT]
                                 .transform("sum").to_numpy())
    return out[~(train & out.duplicated(subset=keys, keep="first"))]


def apply_train_manifest(raw: pd.DataFrame, cfg: DataConfig, root: Path
                         ) -> tuple[pd.DataFrame, list[str]]:
    """Replace the train split of ``raw`` by the train rows of ``cfg.train_manifest``.

    Args:
        raw: the source table after splits are assigned, ids normalised, weights parsed.
        cfg: the data section (``train_manifest``, ``attributes``).
        root: the source's data root (paths of the train manifest are relative to it).

    Returns:
        ``(table, warnings)``: the other splits unchanged, then one row per train sample of the
        train manifest with the source's label and attributes and the manifest's weight.

    Raises:
        DataError: the file has no train row, or a train row names an image that is not a
            train sample of the source or gives it another label (names the line).
    """
    path = Path(cfg.train_manifest)  # type: ignore[arg-type]
    rows, _, _ = read_manifest(cfg.model_copy(update={"manifest": path, "root": root}))
    rows = parse_weights(rows, path)
    rows = rows[rows["split"].str.lower() == "train"]
    if rows.empty:
        raise DataError(f"{path}: data.train_manifest has no rows with split=train")
    rows = merge_train_repeats(rows.assign(id=rows["id"].map(normalise_name)))
    source = raw.set_index("id")
    if not source.index.is_unique:  # load_data's duplicate check names the repeated id
        return raw, []
    for line, sid, label in zip(rows.index, rows["id"], rows["label"], strict=True):
        if sid not in source.index:
            raise DataError(f"{path}: line {line}: {sid!r} is not a sample of the data "
                            f"source (paths are relative to the data root {root})")
        split, known = source.at[sid, "split"], source.at[sid, "label"]
        if split != "train":
            raise DataError(f"{path}: line {line}: {sid!r} is in the {split} split of the "
                            "data source; data.train_manifest may list only train samples")
        if known != label:
            raise DataError(f"{path}: line {line}: {sid!r} has label {label!r} here but "
                            f"{known!r} in the data source")
    weights = rows.groupby("id", sort=False)[WEIGHT].sum()
    train = source.loc[weights.index].assign(**{WEIGHT: weights.to_numpy()}).reset_index()
    n_source = int((raw["split"] == "train").sum())
    warnings = []
    if len(weights) < n_source:
        warnings.append(f"{n_source - len(weights)} train sample(s) of the data source are not "
                        f"in {path.name} and are not trained on")
    return pd.concat([raw[raw["split"] != "train"], train], ignore_index=True), warnings


def describe_weights(table: pd.DataFrame, source: str) -> str | None:
    """One line for ``audit validate`` saying how training draws the train split, or ``None``
    when every train sample has weight 1 (plain shuffling).

    Args:
        table: the sample table (``split``, ``weight``).
        source: where the weights come from, for the message.
    """
    if WEIGHT not in table.columns:
        return None
    w = table.loc[table["split"] == "train", WEIGHT].to_numpy(dtype=float)
    if len(w) == 0 or bool((w == 1.0).all()):
        return None
    return (f"training draws the {len(w)} train images with the sampling weights of {source} "
            f"(repeated rows or weight column; min {w.min():g}, max {w.max():g}, "
            f"{int((w == 0).sum())} never drawn), {len(w)} draws per epoch")

"""Rebalance a training manifest over (label x attribute) groups.

The fix the Grad-CAM paper applied to its doctor/nurse classifier was to change the training
data so that every (class, gender) combination is equally represented. This module does that
for a manifest CSV (``path, label, split``, attribute columns):

- ``oversample``: every group of the train split is topped up to the size of the largest one
  by drawing extra copies of its rows with replacement (every original row is kept once);
- ``undersample``: every group is cut down to the size of the smallest one (drawn without
  replacement);
- ``reweight``: rows are kept as they are and a ``weight`` column is added, the inverse of the
  row's group frequency normalised to mean 1 over the train split (rows of other splits get
  weight 1), so every group carries the same total weight.

Only (label x attribute) combinations that *occur* in the train split are groups: a
combination with no sample at all cannot be rebalanced and is listed in
:attr:`RebalanceResult.missing`. Rows of other splits pass through unchanged.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from auditor.common.files import atomic_write_text
from auditor.common.names import reserved_column_problem
from auditor.config import AuditConfig
from auditor.data.csv_files import read_csv, spreadsheet_safe, undo_spreadsheet_safe
from auditor.data.inputs import input_paths
from auditor.data.scenes import scenes_table
from auditor.data.synthetic import clinic_table
from auditor.data.table import read_source
from auditor.data.train_rows import apply_train_manifest
from auditor.errors import ConfigError, DataError

__all__ = ["RebalanceResult", "STRATEGIES", "load_manifest", "rebalance_manifest", "run_rebalance",
           "save_manifest", "source_manifest", "spreadsheet_safe"]

Strategy = Literal["oversample", "undersample", "reweight"]
STRATEGIES: tuple[str, ...] = ("oversample", "undersample", "reweight")


@dataclass
class RebalanceResult:
    """A rebalanced manifest and the group proportions before and after.

    Attributes:
        manifest: the new manifest (all splits; ``weight`` column for ``reweight``).
        before: one row per group of the train split: the group columns, ``n`` (rows),
            ``weight`` (total weight) and ``proportion`` (share of the total weight).
        after: the same table for the new manifest.
        missing: (label, attribute values...) combinations absent from the train split.
    """

    manifest: pd.DataFrame
    before: pd.DataFrame
    after: pd.DataFrame
    missing: list[tuple] = field(default_factory=list)


def load_manifest(path: Path) -> pd.DataFrame:
    """Read a manifest CSV (:func:`auditor.data.csv_files.read_csv`), the escapes of
    :func:`save_manifest` undone.

    Args:
        path: the CSV file.

    Returns:
        The manifest as a DataFrame (string columns kept as strings), indexed by file line.

    Raises:
        DataError: the file is missing, unreadable, or has no rows.
    """
    table = read_csv(Path(path), "manifest", "write one with audit rebalance --out")
    if table.empty:
        raise DataError(f"{path}: manifest has no rows")
    return undo_spreadsheet_safe(table)


def save_manifest(manifest: pd.DataFrame, path: Path) -> Path:
    """Write a manifest CSV atomically (:func:`auditor.common.files.atomic_write_text`), its
    cells made inert for spreadsheet tools (:func:`spreadsheet_safe`).

    Args:
        manifest: the table to write.
        path: destination CSV (its folder is created if missing).

    Returns:
        ``path``.

    Raises:
        DataError: the file cannot be written.
    """
    try:
        return atomic_write_text(Path(path), spreadsheet_safe(manifest).to_csv(index=False))
    except OSError as err:
        raise DataError(f"cannot write manifest {path}: {err.strerror}") from err


def rebalance_manifest(
    manifest: pd.DataFrame,
    *,
    by: list[str],
    strategy: Strategy,
    seed: int,
    split: str = "train",
    label_col: str = "label",
    split_col: str = "split",
) -> RebalanceResult:
    """Equalise the (label x ``by``) groups of one split of a manifest.

    Args:
        manifest: the manifest (one row per image).
        by: attribute columns that, with the label, define the groups (may be empty: classes).
        strategy: ``"oversample"``, ``"undersample"`` or ``"reweight"``.
        seed: seed of the random draws (same seed, same output).
        split: the split to rebalance; the others pass through unchanged.
        label_col: the label column.
        split_col: the split column.

    Returns:
        The :class:`RebalanceResult`. Row order: the original order, with oversampled copies
        right after their original row. A ``weight`` column of ``manifest`` (a manifest
        already reweighted) weighs the ``before`` table, as it weighs training now; the new
        manifest replaces it (``reweight``) or drops it.

    Raises:
        DataError: a column is missing or the split has no rows.
        ConfigError: the strategy is unknown.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"unknown rebalance strategy '{strategy}' (choose: {', '.join(STRATEGIES)})"
        )
    keys = list(dict.fromkeys([label_col, *by]))  # a column twice: one key (pandas refuses)
    for col in [split_col, *keys]:
        if col not in manifest.columns:
            raise DataError(
                f"manifest has no column '{col}' (columns: {', '.join(map(str, manifest.columns))})"
            )
    table = manifest.reset_index(drop=True)
    old_weights = (table.pop("weight").astype(float).to_numpy() if "weight" in table.columns
                   else np.ones(len(table)))  # what training weighs now; the output replaces it
    is_split = (table[split_col].astype(str) == split).to_numpy()
    if not is_split.any():
        raise DataError(f"manifest has no rows with {split_col} == '{split}'")
    train = table[is_split]
    group_ids = train.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    counts = np.bincount(group_ids)
    rng = np.random.default_rng(seed)

    if strategy == "reweight":
        out = table.copy()
        weights = np.ones(len(table))
        train_w = len(train) / (len(counts) * counts[group_ids])
        weights[is_split] = train_w
        out["weight"] = weights
        after = _proportions(out[is_split], keys, out.loc[is_split, "weight"].to_numpy())
    else:
        rows = np.flatnonzero(is_split)
        picked: list[np.ndarray] = []
        target = counts.max() if strategy == "oversample" else counts.min()
        for g, n in enumerate(counts):
            members = rows[group_ids == g]
            if strategy == "oversample":
                extra = rng.choice(members, size=target - n, replace=True)
                picked.append(np.concatenate([members, extra]))
            else:
                picked.append(rng.choice(members, size=target, replace=False))
        keep = np.concatenate([np.flatnonzero(~is_split), *picked])
        out = table.iloc[np.sort(keep, kind="stable")].reset_index(drop=True)
        out_split = (out[split_col].astype(str) == split).to_numpy()
        after = _proportions(out[out_split], keys, np.ones(int(out_split.sum())))

    before = _proportions(train, keys, old_weights[is_split])
    return RebalanceResult(manifest=out, before=before, after=after,
                           missing=_missing(train, keys))


def _proportions(rows: pd.DataFrame, keys: list[str], weights: np.ndarray) -> pd.DataFrame:
    """Per group: ``n`` rows, total ``weight`` and ``proportion`` of the total weight."""
    frame = rows[keys].copy()
    frame["n"] = 1
    frame["weight"] = weights
    agg = frame.groupby(keys, sort=True, dropna=False)[["n", "weight"]].sum().reset_index()
    agg["proportion"] = agg["weight"] / agg["weight"].sum()
    return agg


def _missing(rows: pd.DataFrame, keys: list[str]) -> list[tuple]:
    """Combinations of the observed values of ``keys`` that no row has."""
    values = [sorted(rows[k].dropna().unique().tolist(), key=str) for k in keys]
    present = set(map(tuple, rows[keys].itertuples(index=False, name=None)))
    return [combo for combo in itertools.product(*values) if combo not in present]


def source_manifest(cfg: AuditConfig) -> tuple[pd.DataFrame, Path | None]:
    """The samples of ``cfg``'s data source as a manifest table, splits as ``audit run`` sees.

    Works for every source: a manifest, an image folder (+ attributes CSV) and the synthetic
    generator (its rows are computed without drawing an image). ``path`` is the sample id, the
    path relative to the data root, so a run trained from the result audits the same ids.

    Returns:
        ``(table, root)``: columns ``path, label, split``, the attributes and ``weight`` where
        the source has weights; ``root`` is the data root (``None`` for synthetic data, whose
        root is the run's ``data/`` folder).
    """
    data = cfg.data
    if data.synthetic is None:
        raw, root, _ = read_source(data, seed=cfg.seed)
    else:
        if data.synthetic.kind == "scenes":
            rows, attribute = scenes_table(data.synthetic, seed=cfg.seed), "scene"
        else:
            rows, attribute = clinic_table(data.synthetic, seed=cfg.seed), "hair"
        raw = pd.DataFrame(rows, columns=["id", "label", "split", attribute]).assign(weight=1.0)
        root = None
        if data.train_manifest is not None:
            raw, _ = apply_train_manifest(raw, data, Path("."))
    table = raw.rename(columns={"id": "path"})
    if (table["weight"] == 1.0).all():
        table = table.drop(columns="weight")
    return table, root


def run_rebalance(cfg: AuditConfig, *, by: list[str], strategy: str, out: Path,
                  seed: int | None = None) -> RebalanceResult:
    """``audit rebalance``: rebalance the train split of ``cfg``'s data source into ``out``.

    Any source works (manifest, image folder, synthetic). The written CSV lists every split
    (``path`` = sample id, relative to the data root); train it with ``data.train_manifest:
    <out>`` added to the same config (README, "Before and after").

    Raises:
        ConfigError: no ``--by`` attribute, an unknown strategy, or ``out`` is one of the
            config's inputs (the config file, a manifest, annotations, a checkpoint).
        DataError: the source cannot be read, or ``out`` cannot be written.
    """
    _check_out(cfg, out)
    if strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if not by:
        raise ConfigError("--by: name at least one attribute column")
    manifest, _ = source_manifest(cfg)
    _check_by(by, [c for c in manifest.columns if reserved_column_problem(c) is None])
    result = rebalance_manifest(manifest, by=by, strategy=strategy,  # type: ignore[arg-type]
                                seed=cfg.seed if seed is None else seed)
    save_manifest(result.manifest, out)
    return result


def _check_by(by: list[str], attributes: list[str]) -> None:
    """Refuse ``--by`` names that are repeated, the label (always part of a group) or not an
    attribute column of the data (``path`` and ``split`` would make meaningless groups)."""
    valid = f"attribute columns: {', '.join(attributes) or 'none'}"
    for i, name in enumerate(by):
        if name in by[:i]:
            raise ConfigError(f"--by: {name!r} is given twice")
        if name == "label":
            raise ConfigError(f"--by: 'label' is always part of the groups (label x "
                              f"attributes); name attributes only ({valid})")
        if name not in attributes:
            raise ConfigError(f"--by: {name!r} is not an attribute column of the data ({valid})")


def _check_out(cfg: AuditConfig, out: Path) -> None:
    """Refuse an ``out`` that is a file or folder the config reads (its own inputs), that
    does not end in ``.csv`` (``--out data/images/a.png`` or a run's ``summary.json`` would be
    replaced by a CSV), or that exists and is no regular file (``/dev/null``, a folder, a
    pipe: the atomic write would put a file in its place)."""
    target = Path(out).resolve()
    for key, path in input_paths(cfg).items():
        if Path(path).resolve() == target:
            what = "the config file itself" if key == "config file" else f"the config's {key}"
            raise ConfigError(f"--out: {out} is {what}, an input of the run; write the "
                              "rebalanced manifest to another file (e.g. train_balanced.csv)")
    if Path(out).suffix.lower() != ".csv":
        raise ConfigError(f"--out: {out} does not end in .csv; the rebalanced manifest is a "
                          "CSV file: name it e.g. train_balanced.csv")
    if Path(out).exists() and not Path(out).is_file():
        raise ConfigError(f"--out: {out} exists and is not a regular file; write the "
                          "rebalanced manifest to a new .csv file")

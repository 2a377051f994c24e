"""rebalance_manifest: exact proportions, pass-through of other splits, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.data.rebalance import load_manifest, rebalance_manifest, save_manifest
from auditor.errors import ConfigError, DataError


@pytest.fixture
def manifest() -> pd.DataFrame:
    """Train cells (label x hair): doctor/dark 30, doctor/blond 4, nurse/dark 3, nurse/blond 23."""
    rows = []
    for label, hair, n in (("doctor", "dark", 30), ("doctor", "blond", 4),
                           ("nurse", "dark", 3), ("nurse", "blond", 23)):
        rows += [{"label": label, "hair": hair, "split": "train"} for _ in range(n)]
    rows += [{"label": "doctor", "hair": "blond", "split": "test"} for _ in range(5)]
    rows += [{"label": "nurse", "hair": "dark", "split": "val"} for _ in range(2)]
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
    table.insert(0, "path", [f"img/{i:03d}.png" for i in range(len(table))])
    return table


def _cell_sizes(table: pd.DataFrame) -> dict:
    train = table[table.split == "train"]
    return train.groupby(["label", "hair"]).size().to_dict()


def _others(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.split != "train"].drop(columns="weight", errors="ignore").reset_index(
        drop=True)


def test_oversample_equal_cells(manifest):
    res = rebalance_manifest(manifest, by=["hair"], strategy="oversample", seed=0)
    assert set(_cell_sizes(res.manifest).values()) == {30}
    assert len(res.manifest) == 4 * 30 + 7
    # every original train row is kept; the extra rows are copies of the same cell
    train_paths = set(manifest.loc[manifest.split == "train", "path"])
    assert train_paths <= set(res.manifest["path"])
    pd.testing.assert_frame_equal(_others(res.manifest), _others(manifest))
    assert np.allclose(res.after["proportion"], 0.25)
    assert res.before.set_index(["label", "hair"])["n"].to_dict() == _cell_sizes(manifest)
    again = rebalance_manifest(manifest, by=["hair"], strategy="oversample", seed=0)
    pd.testing.assert_frame_equal(again.manifest, res.manifest)
    other = rebalance_manifest(manifest, by=["hair"], strategy="oversample", seed=1)
    assert not other.manifest["path"].equals(res.manifest["path"])


def test_undersample_equal_cells(manifest):
    res = rebalance_manifest(manifest, by=["hair"], strategy="undersample", seed=3)
    assert set(_cell_sizes(res.manifest).values()) == {3}
    train = res.manifest[res.manifest.split == "train"]
    assert train["path"].is_unique  # drawn without replacement
    assert set(train["path"]) <= set(manifest["path"])
    pd.testing.assert_frame_equal(_others(res.manifest), _others(manifest))
    assert res.after["n"].tolist() == [3, 3, 3, 3]


def test_reweight_equal_weighted_proportions(manifest):
    res = rebalance_manifest(manifest, by=["hair"], strategy="reweight", seed=0)
    out = res.manifest
    assert len(out) == len(manifest) and out["path"].equals(manifest["path"])
    train = out[out.split == "train"]
    assert train["weight"].mean() == pytest.approx(1.0)
    per_cell = train.groupby(["label", "hair"])["weight"].sum()
    assert np.allclose(per_cell / per_cell.sum(), 0.25)
    assert np.allclose(res.after["proportion"], 0.25)
    assert (out.loc[out.split != "train", "weight"] == 1.0).all()
    # rarer cells get larger weights: 60 / (4 * 3) = 5 for nurse/dark
    assert train.loc[(train.label == "nurse") & (train.hair == "dark"), "weight"].iloc[0] == 5.0
    before = res.before.set_index(["label", "hair"])["proportion"]
    assert before[("doctor", "dark")] == pytest.approx(30 / 60)


@pytest.mark.parametrize("strategy", ["oversample", "reweight"])
def test_an_already_weighted_manifest_shows_its_weights_before(manifest, strategy):
    """A manifest reweighted by hair trains on four cells of equal weight: "before" says so
    (25% each, as training weighs them) instead of the raw 30/4/3/23 rows, and the new
    manifest replaces the old weights instead of multiplying or copying them."""
    weighted = rebalance_manifest(manifest, by=["hair"], strategy="reweight", seed=0).manifest
    res = rebalance_manifest(weighted, by=["hair"], strategy=strategy, seed=0)
    assert np.allclose(res.before["proportion"], 0.25)
    assert res.before.set_index(["label", "hair"])["n"].to_dict() == _cell_sizes(manifest)
    assert np.allclose(res.after["proportion"], 0.25)
    if strategy == "oversample":
        assert "weight" not in res.manifest.columns
        assert set(_cell_sizes(res.manifest).values()) == {30}
    else:
        pd.testing.assert_frame_equal(res.manifest, weighted)


def test_by_nothing_balances_classes(manifest):
    res = rebalance_manifest(manifest, by=[], strategy="undersample", seed=0)
    train = res.manifest[res.manifest.split == "train"]
    assert train["label"].value_counts().to_dict() == {"doctor": 26, "nurse": 26}


def test_a_key_given_twice_is_one_key(manifest):
    once = rebalance_manifest(manifest, by=["hair"], strategy="undersample", seed=0)
    for by in (["hair", "hair"], ["label", "hair"]):
        twice = rebalance_manifest(manifest, by=by, strategy="undersample", seed=0)
        pd.testing.assert_frame_equal(twice.manifest, once.manifest)
        pd.testing.assert_frame_equal(twice.after, once.after)


def test_missing_combination_is_reported():
    table = pd.DataFrame({"label": ["a", "a", "b"], "hair": ["x", "y", "x"],
                          "split": ["train"] * 3})
    res = rebalance_manifest(table, by=["hair"], strategy="oversample", seed=0)
    assert res.missing == [("b", "y")]
    assert len(res.manifest) == 3


def test_errors(manifest, tmp_path):
    with pytest.raises(DataError, match="no column 'gender' .*path, label, hair, split"):
        rebalance_manifest(manifest, by=["gender"], strategy="oversample", seed=0)
    with pytest.raises(DataError, match="no rows with split == 'training'"):
        rebalance_manifest(manifest, by=["hair"], strategy="oversample", seed=0,
                           split="training")
    with pytest.raises(ConfigError, match="unknown rebalance strategy 'smote'"):
        rebalance_manifest(manifest, by=["hair"], strategy="smote", seed=0)
    with pytest.raises(DataError, match=r"nope\.csv: manifest not found"):
        load_manifest(tmp_path / "nope.csv")


def test_save_and_load_roundtrip(manifest, tmp_path):
    res = rebalance_manifest(manifest, by=["hair"], strategy="reweight", seed=0)
    path = save_manifest(res.manifest, tmp_path / "sub" / "balanced.csv")
    back = load_manifest(path)
    assert list(back.columns) == ["path", "label", "hair", "split", "weight"]
    assert np.allclose(back["weight"].astype(float), res.manifest["weight"])
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["balanced.csv"]

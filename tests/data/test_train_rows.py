"""Sample ids (one rule for every source), repeated train rows, weights and train_manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.data import write_image, write_manifest

from auditor.config import DataConfig
from auditor.data import load_data
from auditor.data.table import read_source, sample_id
from auditor.data.train_rows import describe_weights
from auditor.errors import DataError


def _folder_and_manifest(tmp_path):
    """The same six images as an image folder (data/images/<class>/) and a manifest in data/."""
    rows = []
    for i in range(6):
        label = "cat" if i % 2 else "dog"
        write_image(tmp_path / "data" / "images" / label / f"{i}.png", colour=(40 * i, 90, 60))
        rows.append((f"./images\\{label}/{i}.png", label, "train" if i < 4 else "test"))
    manifest = write_manifest(tmp_path / "data" / "manifest.csv", rows, ("path", "label", "split"))
    return tmp_path / "data" / "images", manifest


def test_sample_id_is_the_normalised_path_relative_to_the_data_root(tmp_path):
    assert sample_id("./images\\cat/1.png") == "images/cat/1.png"
    assert sample_id("../x.png") == "../x.png"  # unsafe: kept as written, skipped later
    folder, manifest = _folder_and_manifest(tmp_path)
    by_manifest = load_data(DataConfig(manifest=manifest), seed=0).table
    assert sorted(by_manifest["id"]) == sorted(f"images/{c}/{i}.png" for i, c in
                                               enumerate(["dog", "cat"] * 3))
    # same root, same ids, whatever the source
    same_root = load_data(DataConfig(manifest=manifest, root=folder.parent), seed=0).table
    assert sorted(same_root["id"]) == sorted(by_manifest["id"])
    by_folder = load_data(DataConfig(image_folder=folder), seed=0).table
    assert sorted("images/" + by_folder["id"]) == sorted(by_manifest["id"])


def test_repeated_train_rows_become_weights(simple_manifest):
    text = simple_manifest.read_text()
    lines = text.splitlines()
    simple_manifest.write_text("\n".join([*lines, lines[1], lines[1], lines[2]]) + "\n")
    bundle = load_data(DataConfig(manifest=simple_manifest, attributes=["hair"]), seed=0)
    t = bundle.table.set_index("id")
    assert t.loc["img/0.png", "weight"] == 3.0
    assert t.loc["img/1.png", "weight"] == 2.0 and t.loc["img/2.png", "weight"] == 1.0
    assert len(bundle.table) == 6  # one sample per image
    assert "sampling weights" in describe_weights(bundle.table, "m.csv")
    # a repeat in the test split is still an error, with the rule in the message
    simple_manifest.write_text(text + lines[-1] + "\n")
    with pytest.raises(DataError, match="duplicate sample id 'img/5.png'.*allowed in the train"):
        load_data(DataConfig(manifest=simple_manifest, attributes=["hair"]), seed=0)


def test_weight_column_is_read_and_checked(simple_manifest):
    table = pd.read_csv(simple_manifest)
    table["weight"] = [2, 0.5, "", 1, 1, 7]
    table.to_csv(simple_manifest, index=False)
    bundle = load_data(DataConfig(manifest=simple_manifest), seed=0)
    assert bundle.table["weight"].tolist() == [2.0, 0.5, 1.0, 1.0, 1.0, 7.0]
    assert "min 0.5, max 2" in describe_weights(bundle.table, "x")  # train rows only
    table["weight"] = [1, 1, "heavy", 1, 1, 1]
    table.to_csv(simple_manifest, index=False)
    with pytest.raises(DataError, match=r"manifest.csv: line 4: weight 'heavy' is not a "
                                        r"non-negative number"):
        load_data(DataConfig(manifest=simple_manifest), seed=0)
    table["weight"] = [0 if s == "train" else 1 for s in table["split"]]
    table.to_csv(simple_manifest, index=False)
    with pytest.raises(DataError, match="every train row has weight 0"):  # validate passed it
        load_data(DataConfig(manifest=simple_manifest), seed=0)


def test_unweighted_data_keeps_its_hash(simple_manifest):
    plain = load_data(DataConfig(manifest=simple_manifest), seed=0)
    assert describe_weights(plain.table, "x") is None
    table = pd.read_csv(simple_manifest).assign(weight=1.0)
    table.to_csv(simple_manifest, index=False)
    assert load_data(DataConfig(manifest=simple_manifest), seed=0).data_hash == plain.data_hash


def test_train_manifest_replaces_the_train_split_of_an_image_folder(tmp_path):
    folder, _ = _folder_and_manifest(tmp_path)
    cfg = DataConfig(image_folder=folder, split_ratios=[0.5, 0.0, 0.5])
    raw, _, _ = read_source(cfg, seed=0)
    train = raw[raw["split"] == "train"]["id"].tolist()
    rows = [(train[0], raw.set_index("id").at[train[0], "label"], "train")] * 3
    out = write_manifest(tmp_path / "balanced.csv", rows, ("path", "label", "split"))
    bundle = load_data(cfg.model_copy(update={"train_manifest": out}), seed=0)
    t = bundle.table
    assert t.loc[t["split"] == "train", "id"].tolist() == [train[0]]
    assert t.loc[t["split"] == "train", "weight"].tolist() == [3.0]
    assert sorted(t.loc[t["split"] == "test", "id"]) == sorted(
        raw.loc[raw["split"] == "test", "id"])  # the audited samples are untouched
    assert any("not trained on" in w for w in bundle.warnings)


@pytest.mark.parametrize(("row", "message"), [
    (("nope.png", "cat", "train"), "line 2: 'nope.png' is not a sample of the data source"),
    (("TEST", "cat", "train"), "is in the test split of the data source"),
    (("TRAIN", "wrong", "train"), "has label 'wrong' here but"),
    (("TRAIN", "cat", "test"), "has no rows with split=train"),
])
def test_train_manifest_errors_name_the_line(tmp_path, row, message):
    folder, _ = _folder_and_manifest(tmp_path)
    cfg = DataConfig(image_folder=folder, split_ratios=[0.5, 0.0, 0.5])
    raw, _, _ = read_source(cfg, seed=0)
    first = {s: raw[raw["split"] == s].iloc[0] for s in ("train", "test")}
    path = {"TEST": first["test"]["id"], "TRAIN": first["train"]["id"]}.get(row[0], row[0])
    label = row[1] if row[1] != "cat" or row[0] == "nope.png" else first[
        "test" if row[0] == "TEST" else "train"]["label"]
    out = write_manifest(tmp_path / "t.csv", [(path, label, row[2])], ("path", "label", "split"))
    with pytest.raises(DataError, match=message):
        load_data(cfg.model_copy(update={"train_manifest": out}), seed=0)


def test_weights_reach_the_sampler():
    """Training draws only samples with weight > 0: a model fed one class predicts it."""
    import torch
    from torch.utils.data import TensorDataset

    from auditor.config import TrainConfig
    from auditor.errors import ModelError
    from auditor.models.train import train_model

    x = torch.cat([torch.full((20, 2), -1.0), torch.full((20, 2), 1.0)])
    y = torch.tensor([0] * 20 + [1] * 20)
    weights = np.r_[np.zeros(20), np.ones(20)]  # only class-1 samples are ever drawn
    cfg = TrainConfig(epochs=3, lr=0.1, batch_size=8)
    model = torch.nn.Linear(2, 2)
    train_model(model, TensorDataset(x, y), np.zeros(40), cfg, seed=0,
                device=torch.device("cpu"), sample_weights=weights)
    with torch.no_grad():
        assert (model(x).argmax(1) == 1).all()  # class 0 was never seen
    with pytest.raises(ModelError, match="every train sample has weight 0"):
        train_model(torch.nn.Linear(2, 2), TensorDataset(x, y), np.zeros(40), cfg, seed=0,
                    device=torch.device("cpu"), sample_weights=np.zeros(40))

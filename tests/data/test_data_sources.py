"""Sources: manifest CSV, ImageFolder + attributes CSV, synthetic; seeded splits; errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers.data import TINY_CLINIC, write_image, write_manifest

from auditor.config import DataConfig, RegionsConfig, load_config
from auditor.data import describe, load_data, resolve_synthetic
from auditor.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def test_manifest_source(simple_manifest):
    bundle = load_data(DataConfig(manifest=simple_manifest, attributes=["hair"], image_size=16),
                       seed=0)
    t = bundle.table
    assert bundle.classes == ["cat", "dog"] and bundle.attributes == ["hair"]
    assert list(t.columns[:4]) == ["id", "path", "label", "split"] and "hair" in t.columns
    assert t["id"].tolist() == [f"img/{i}.png" for i in range(6)]
    assert t["path"][0] == simple_manifest.parent / "img/0.png" and t["path"][0].is_absolute()
    assert t["label"].tolist() == [1, 0, 1, 0, 1, 0]
    assert bundle.regions == ["background"] and bundle.skipped == []
    item = bundle.dataset("test")[1]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert item["masks"].shape == (1, 16, 16) and item["masks"].all()
    assert item["index"] == 5 and item["label"] == 0
    assert bundle.raw_image(5).shape == (16, 16, 3)
    assert len(bundle.data_hash) == 64


def test_data_hash_changes_with_rows(simple_manifest, tmp_path):
    a = load_data(DataConfig(manifest=simple_manifest, attributes=["hair"]), seed=0).data_hash
    b = load_data(DataConfig(manifest=simple_manifest, attributes=["hair"]), seed=0).data_hash
    text = simple_manifest.read_text().replace("5.png,cat,test,blond", "5.png,cat,test,dark")
    simple_manifest.write_text(text)
    c = load_data(DataConfig(manifest=simple_manifest, attributes=["hair"]), seed=0).data_hash
    assert a == b != c


def test_missing_attribute_column_lists_available(simple_manifest):
    with pytest.raises(DataError, match=r"no attribute column 'gender' \(available columns: "
                                        r"path, label, split, hair\)"):
        load_data(DataConfig(manifest=simple_manifest, attributes=["gender"]), seed=0)


def test_missing_manifest_names_path(tmp_path):
    with pytest.raises(DataError, match=r"gone\.csv: manifest not found; set data.manifest"):
        load_data(DataConfig(manifest=tmp_path / "gone.csv"), seed=0)


def test_missing_regions_file_names_path(simple_manifest):
    cfg = DataConfig(manifest=simple_manifest,
                     regions=RegionsConfig(format="coco", path=simple_manifest.parent / "r.json"))
    with pytest.raises(DataError, match=r"r\.json: region annotations not found"):
        load_data(cfg, seed=0)


def test_bad_split_value_names_line(tmp_path):
    write_image(tmp_path / "a.png")
    manifest = write_manifest(tmp_path / "m.csv", [("a.png", "x", "dev")])
    with pytest.raises(DataError, match=r"m\.csv: line 2: split 'dev' is not one of"):
        load_data(DataConfig(manifest=manifest), seed=0)


def _folder(tmp_path, n=10):
    for cls in ("cats", "dogs"):
        for i in range(n):
            write_image(tmp_path / "imgs" / cls / f"{cls}{i}.png", colour=(i * 20, 9, 9))
    (tmp_path / "imgs" / "cats" / "notes.txt").write_text("not an image")
    return tmp_path / "imgs"


def test_image_folder_seeded_split(tmp_path):
    folder = _folder(tmp_path)
    cfg = DataConfig(image_folder=folder, split_ratios=[0.6, 0.2, 0.2])
    a = load_data(cfg, seed=1)
    assert a.classes == ["cats", "dogs"] and len(a.table) == 20
    counts = a.table.groupby(["label", "split"]).size()
    assert counts[(0, "train")] == 6 and counts[(1, "val")] == 2 and counts[(1, "test")] == 2
    b = load_data(cfg, seed=1)
    c = load_data(cfg, seed=2)
    assert a.table["split"].tolist() == b.table["split"].tolist()
    assert a.table["split"].tolist() != c.table["split"].tolist()


def test_image_folder_with_attributes_csv(tmp_path):
    folder = _folder(tmp_path, n=4)
    attrs = tmp_path / "attrs.csv"
    attrs.write_text("path,hair,split\ncats/cats0.png,dark,test\ncats1.png,blond,train\n"
                     "dogs/dogs0.png,dark,test\nother/zzz.png,dark,train\n")
    cfg = DataConfig(image_folder=folder, attributes_csv=attrs, attributes=["hair"])
    bundle = load_data(cfg, seed=0)
    t = bundle.table.set_index("id")
    assert t.loc["cats/cats0.png", "hair"] == "dark" and t.loc["cats/cats1.png", "hair"] == "blond"
    assert t.loc["cats/cats2.png", "hair"] == "unknown"
    assert t.loc["cats/cats0.png", "split"] == "test"
    assert t.loc["cats/cats1.png", "split"] == "train"
    assert any("name no image" in w for w in bundle.warnings)
    assert any("have no row in" in w for w in bundle.warnings)


def test_image_folder_attributes_need_csv(tmp_path):
    with pytest.raises(DataError, match="needs data.attributes_csv"):
        load_data(DataConfig(image_folder=_folder(tmp_path, 2), attributes=["hair"]), seed=0)


def test_resolve_synthetic_goes_through_manifest_path(tmp_path):
    from auditor.config import SyntheticConfig

    cfg = DataConfig(synthetic=SyntheticConfig(n_train=8, n_val=0, n_test=4, image_size=32),
                     image_size=32)
    seen = []
    resolved = resolve_synthetic(cfg, tmp_path / "gen", seed=0,
                                 progress=lambda d, t: seen.append(t))
    assert resolved.synthetic is None and resolved.manifest == tmp_path / "gen/manifest.csv"
    assert resolved.regions.format == "coco" and resolved.attributes == ["hair"] and seen
    bundle = load_data(resolved, seed=0)
    assert bundle.classes == ["doctor", "nurse"] and bundle.regions == ["face", "object",
                                                                        "background"]
    masks = bundle.dataset("test")[0]["masks"]
    assert masks[0].any() and masks[1].any() and masks[2].any()
    with pytest.raises(ValueError, match="resolve_synthetic"):
        load_data(cfg, seed=0)


def test_clinic_bundle_describe(clinic_dir):
    cfg = DataConfig(manifest=clinic_dir / "manifest.csv", attributes=["hair"],
                     regions=RegionsConfig(format="coco", path=clinic_dir / "regions.json"))
    bundle = load_data(cfg, seed=0)
    info = describe(bundle, min_group_size=3)
    assert info["n_samples"] == 64 and info["splits"] == {"train": 40, "val": 8, "test": 16}
    assert info["counts"]["test"]["doctor"]["hair"] == {"blond": 4, "dark": 4}
    assert info["coverage"] == {"face": 1.0, "object": 1.0}
    small = {(g["split"], g["label"], g["value"]) for g in info["small_groups"]}
    assert ("train", "doctor", "blond") in small and ("test", "doctor", "dark") not in small
    assert any(w.startswith("small group: train doctor with hair=blond") for w in info["warnings"])


def test_many_small_groups_are_five_lines_and_a_count(clinic_dir):
    """14 classes and a 20-valued attribute printed 1142 "small group" lines."""
    cfg = DataConfig(manifest=clinic_dir / "manifest.csv", attributes=["hair"],
                     regions=RegionsConfig(format="coco", path=clinic_dir / "regions.json"))
    info = describe(load_data(cfg, seed=0), min_group_size=100)  # every group is small
    lines = [w for w in info["warnings"] if w.startswith("small group")]
    assert len(info["small_groups"]) == 12  # 3 splits x 2 classes x 2 values, all kept
    assert len(lines) == 6 and lines[-1].startswith("small group: 7 more (split x class x "
                                                    "attribute value) groups have fewer than 100")
    sizes = [int(w.split(" has ")[1].split()[0]) for w in lines[:5]]
    assert sizes == sorted(sizes) and sizes[0] == min(g["n"] for g in info["small_groups"])


def test_sample_config_real_folder_example():
    cfg = load_config(REPO / "sample_configs/real_folder_example.yaml")
    bundle = load_data(cfg.data, seed=cfg.seed)
    assert bundle.classes == ["doctor", "nurse"] and bundle.regions == ["face", "object",
                                                                        "background"]
    assert len(bundle.table) >= 12 and bundle.skipped == [] and bundle.warnings == []
    assert set(bundle.table["hair"]) == {"dark", "blond"}
    assert (bundle.table["split"] == "test").sum() >= 4
    item = bundle.dataset("test")[0]
    assert item["masks"][:2].any(dim=(1, 2)).all()
    size = sum(f.stat().st_size for f in (REPO / "sample_configs/fixtures/tiny_folder").rglob("*")
               if f.is_file())
    assert size < 200_000
    assert TINY_CLINIC.image_size == 64 and isinstance(bundle.table, pd.DataFrame)


def test_image_folder_skips_hidden_folders_and_counts_other_files(tmp_path):
    """A Jupyter .ipynb_checkpoints copy became a sample (a duplicate that can leak between
    splits); a .jfif (a browser's JPEG) was ignored without a word."""
    from PIL import Image

    from auditor.config import DataConfig
    from auditor.data.sources import read_image_folder

    for rel in ("a/x.png", "a/.ipynb_checkpoints/x-checkpoint.png", "b/y.jfif", "b/z.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / rel, format="PNG" if rel.endswith("png")
                                      else "JPEG")
    (tmp_path / "b" / "notes.txt").write_text("x")
    df, _, warnings = read_image_folder(DataConfig(image_folder=tmp_path))
    assert sorted(df["id"]) == ["a/x.png", "b/y.jfif", "b/z.png"]
    assert any(w.startswith("1 file(s) in ") and "were ignored" in w for w in warnings)


def test_manifest_encoding_and_separator_mistakes_say_what_to_do(tmp_path):
    from auditor.config import DataConfig
    from auditor.data.sources import read_manifest
    from auditor.errors import DataError

    latin = tmp_path / "latin.csv"
    latin.write_bytes("path,label,split\na.png,doctor,test\nb.png,m\xe9decin,test\n"
                      .encode("latin-1"))
    with pytest.raises(DataError, match=r"line 3 \(byte 0xe9\) is not UTF-8; save the file as"):
        read_manifest(DataConfig(manifest=latin))
    semi = tmp_path / "semi.csv"
    semi.write_text("path;label;split\na.png;doctor;test\n")
    with pytest.raises(DataError, match="seems separated by ';': auditor reads commas"):
        read_manifest(DataConfig(manifest=semi))

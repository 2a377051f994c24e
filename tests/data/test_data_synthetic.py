"""The clinic generator: files, determinism, split balance, bias, stamp, annotation coverage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers.data import TINY_CLINIC

from auditor.config import SyntheticConfig
from auditor.data.clinic_draw import ClinicStyle, render_scene
from auditor.data.region_formats.coco import rasterise_annotation
from auditor.data.synthetic import DEFAULT_STYLE, generate_clinic, scene_for, split_plan


def test_files_and_columns(clinic_dir):
    manifest = pd.read_csv(clinic_dir / "manifest.csv")
    assert list(manifest.columns) == ["path", "label", "split", "hair"]
    assert len(manifest) == TINY_CLINIC.n_train + TINY_CLINIC.n_val + TINY_CLINIC.n_test
    assert set(manifest["label"]) == {"doctor", "nurse"}
    assert set(manifest["hair"]) == {"dark", "blond"}
    assert all((clinic_dir / p).is_file() for p in manifest["path"])
    coco = json.loads((clinic_dir / "regions.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["face", "object"]
    assert len(coco["annotations"]) == 2 * len(manifest)
    assert {im["file_name"] for im in coco["images"]} == set(manifest["path"])
    assert not list(clinic_dir.rglob("*.tmp"))


def test_deterministic_for_a_seed(tmp_path, clinic_dir):
    again = generate_clinic(tmp_path / "a", TINY_CLINIC, seed=3).parent
    for rel in ["manifest.csv", "regions.json", "images/train/train_00007.png",
                "images/test/test_00003.png"]:
        assert (again / rel).read_bytes() == (clinic_dir / rel).read_bytes(), rel
    other = generate_clinic(tmp_path / "b", TINY_CLINIC, seed=4).parent
    assert (other / "images/train/train_00007.png").read_bytes() != (
        clinic_dir / "images/train/train_00007.png").read_bytes()


def test_val_test_balanced_and_train_biased():
    rng = np.random.default_rng(0)
    for split, n in (("test", 1000), ("val", 202)):
        cells = pd.Series(split_plan(split, n, 0.95, rng)).value_counts()
        assert len(cells) == 4 and cells.max() - cells.min() <= 1, cells
    train = split_plan("train", 3000, 0.95, rng)
    agree = np.mean([(lab == "doctor") == (hair == "dark") for lab, hair in train])
    assert abs(agree - 0.95) < 0.005
    assert sum(lab == "doctor" for lab, _ in train) == 1500


def test_generated_split_counts(clinic_dir):
    m = pd.read_csv(clinic_dir / "manifest.csv")
    test = m[m["split"] == "test"].groupby(["label", "hair"]).size()
    assert (test == TINY_CLINIC.n_test // 4).all() and len(test) == 4
    train = m[m["split"] == "train"]
    agree = ((train["label"] == "doctor") == (train["hair"] == "dark")).mean()
    assert agree == pytest.approx(TINY_CLINIC.bias, abs=0.03)


def test_stamp_skips_work_and_detects_changes(tmp_path):
    cfg = SyntheticConfig(n_train=8, n_val=0, n_test=4, image_size=32)
    calls = []
    manifest = generate_clinic(tmp_path, cfg, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (12, 12)
    png = tmp_path / "images/train/train_00000.png"
    before = png.stat().st_mtime_ns
    calls.clear()
    assert generate_clinic(tmp_path, cfg, seed=0, progress=lambda d, t: calls.append(d)) == manifest
    assert calls == [] and png.stat().st_mtime_ns == before
    generate_clinic(tmp_path, cfg.model_copy(update={"bias": 0.5}), seed=0)
    stamp = json.loads((tmp_path / "params.json").read_text())
    assert stamp["config"]["bias"] == 0.5


def test_a_foreign_folder_is_refused_and_an_interrupted_one_is_redone(tmp_path, monkeypatch):
    from auditor.data import synthetic
    from auditor.errors import DataError

    cfg = SyntheticConfig(n_train=8, n_val=0, n_test=4, image_size=32)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "manifest.csv").write_text("my manifest")
    with pytest.raises(DataError, match=r"mine: not written: it holds 'manifest.csv'"):
        generate_clinic(mine, cfg, seed=0)
    assert (mine / "manifest.csv").read_text() == "my manifest"
    assert sorted(p.name for p in mine.iterdir()) == ["manifest.csv"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_dataset", killed)
    with pytest.raises(KeyboardInterrupt):  # images written, manifest and stamp not yet
        generate_clinic(tmp_path / "d", cfg, seed=0)
    assert json.loads((tmp_path / "d/params.json").read_text())["complete"] is False
    monkeypatch.undo()
    manifest = generate_clinic(tmp_path / "d", cfg, seed=0)  # an unfinished dataset is redone
    assert len(pd.read_csv(manifest)) == 12
    assert "complete" not in json.loads((tmp_path / "d/params.json").read_text())


def test_style_knobs_change_pixels():
    scene, _ = scene_for(0, "test", 1, "doctor", "dark", DEFAULT_STYLE)
    full = render_scene(scene, 64, DEFAULT_STYLE, layers=("background", "object"))
    faint = render_scene(scene, 64, ClinicStyle(object_contrast=0.2),
                         layers=("background", "object"))
    bg = render_scene(scene, 64, DEFAULT_STYLE, layers=("background",))
    assert np.abs(full.astype(int) - bg).sum() > 3 * np.abs(faint.astype(int) - bg).sum()


def _drawn(scene, part: str, size: int) -> np.ndarray:
    empty = render_scene(scene, size, DEFAULT_STYLE, layers=())
    alone = render_scene(scene, size, DEFAULT_STYLE, layers=(part,))
    return np.abs(alone.astype(int) - empty).max(axis=-1) > 0


@pytest.mark.parametrize("part", ["object", "face"])
def test_annotations_cover_drawn_pixels(clinic_dir, part):
    """Render each part alone on a blank canvas: the COCO mask must cover >= 90% of its pixels
    and be at most 3x larger; the object stays small (a few dozen pixels at 64 px)."""
    coco = json.loads((clinic_dir / "regions.json").read_text())
    manifest = pd.read_csv(clinic_dir / "manifest.csv")
    cat = {c["name"]: c["id"] for c in coco["categories"]}[part]
    anns = {a["image_id"]: a for a in coco["annotations"] if a["category_id"] == cat}
    sizes = []
    for im in coco["images"][:40]:
        row = manifest[manifest["path"] == im["file_name"]].iloc[0]
        split, index = row["split"], int(im["file_name"].rsplit("_", 1)[1][:-4])
        scene, _ = scene_for(3, split, index, row["label"], row["hair"], DEFAULT_STYLE)
        drawn = _drawn(scene, part, 64)
        seg = anns[im["id"]]["segmentation"]
        mask = rasterise_annotation({"segmentation": seg}, 64, 64)
        assert (drawn & mask).sum() >= 0.9 * drawn.sum(), im["file_name"]
        assert mask.sum() <= 3 * drawn.sum(), im["file_name"]
        ys, xs = np.nonzero(drawn)
        sizes.append(max(np.ptp(ys), np.ptp(xs)) + 1)
    if part == "object":
        assert 7 <= np.median(sizes) <= 14, sizes
    else:
        assert np.median(sizes) >= 18

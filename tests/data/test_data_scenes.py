"""The scenes generator: real photos, planted bias, annotations that match the pasted object."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from auditor.config import SyntheticConfig
from auditor.data.region_formats.coco import rasterise_annotation
from auditor.errors import DataError

pytest.importorskip("skimage")

from auditor.data.scenes import generate_scenes, render_image  # noqa: E402

TINY = SyntheticConfig(kind="scenes", n_train=40, n_val=0, n_test=8, bias=0.9, image_size=32)


@pytest.fixture(scope="module")
def scenes_dir(tmp_path_factory):
    return generate_scenes(tmp_path_factory.mktemp("scenes"), TINY, seed=1).parent


def test_the_table_without_images_is_the_manifest(scenes_dir):
    """``audit rebalance`` reads the rows without drawing the images: the same rows."""
    from auditor.data.scenes import scenes_table

    m = pd.read_csv(scenes_dir / "manifest.csv")
    assert scenes_table(TINY, seed=1) == list(m.itertuples(index=False, name=None))


def test_rebalance_of_a_scenes_config_balances_scene(tmp_path):
    """``audit rebalance --by scene`` on ``synthetic: {kind: scenes}`` read the clinic's rows
    (attribute hair) and refused 'scene'."""
    from auditor.config import AuditConfig
    from auditor.data.rebalance import run_rebalance

    cfg = AuditConfig.model_validate({"data": {"synthetic": TINY.model_dump()},
                                      "models": [{"name": "m"}], "seed": 1})
    res = run_rebalance(cfg, by=["scene"], strategy="oversample", out=tmp_path / "b.csv")
    assert res.before["n"].tolist() == [18, 2, 2, 18]  # cat/nature, cat/urban, cup/...
    assert res.after["n"].tolist() == [18, 18, 18, 18]
    out = pd.read_csv(tmp_path / "b.csv")
    assert list(out.columns) == ["path", "label", "split", "scene"]


def test_files_bias_and_balance(scenes_dir):
    m = pd.read_csv(scenes_dir / "manifest.csv")
    assert list(m.columns) == ["path", "label", "split", "scene"]
    train, test = m[m["split"] == "train"], m[m["split"] == "test"]
    agree = ((train["label"] == "cat") & (train["scene"] == "nature")) | (
        (train["label"] == "cup") & (train["scene"] == "urban"))
    assert agree.mean() == pytest.approx(0.9)
    assert test.groupby(["label", "scene"]).size().tolist() == [2, 2, 2, 2]
    coco = json.loads((scenes_dir / "regions.json").read_text())
    assert [c["name"] for c in coco["categories"]] == ["object"]
    assert len(coco["annotations"]) == len(m)


def test_annotation_covers_the_pasted_object_and_background_dominates():
    pixels, polys = render_image(0, "train", 3, "cat", "urban", 48)
    assert pixels.shape == (48, 48, 3) and pixels.dtype == np.uint8
    seg = [[v for xy in polys["object"][0] for v in xy]]
    mask = rasterise_annotation({"segmentation": seg}, 48, 48).astype(bool)
    assert 0.08 < mask.mean() < 0.25  # the background is 75-92% of the image
    again, _ = render_image(0, "train", 3, "cat", "urban", 48)
    assert np.array_equal(pixels, again)


def test_missing_scikit_image_is_one_line(monkeypatch, tmp_path):
    from auditor.data import scenes

    scenes._photo.cache_clear()
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(DataError, match=r"pip install 'auditor\[scenes\]'"):
        generate_scenes(tmp_path, TINY, seed=0)
    scenes._photo.cache_clear()

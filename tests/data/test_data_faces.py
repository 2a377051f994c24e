"""Automatic face regions from OpenCV's bundled Haar cascade."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers.data import write_manifest
from PIL import Image

from auditor.config import DataConfig, RegionsConfig
from auditor.data import faces
from auditor.data.dataset import load_data
from auditor.errors import DataError

pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

# the astronaut's face in skimage.data.astronaut() (512 x 512), checked by eye on a crop
FACE = (170, 60, 260, 170)  # x0, y0, x1, y1


def _overlap(box, ref) -> float:
    x, y, w, h = box
    ix = max(0, min(x + w, ref[2]) - max(x, ref[0]))
    iy = max(0, min(y + h, ref[3]) - max(y, ref[1]))
    return ix * iy / (w * h)


def test_astronaut_face_detected():
    img = skdata.astronaut()
    boxes = faces.detect_faces(img)
    assert boxes, "no face found"
    assert _overlap(boxes[0], FACE) > 0.8, boxes
    mask = faces.face_mask(img)
    assert mask[110, 215] and not mask[400, 400]
    assert 0.01 < mask.mean() < 0.1


def test_auto_face_region_in_items(tmp_path):
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astro.png")
    Image.new("RGB", (64, 64), (30, 200, 30)).save(tmp_path / "plain.png")
    manifest = write_manifest(tmp_path / "m.csv", [("astro.png", "person", "test"),
                                                   ("plain.png", "plant", "test")])
    cfg = DataConfig(manifest=manifest, image_size=64,
                     regions=RegionsConfig(auto=["face"]))  # no annotation file
    bundle = load_data(cfg, seed=0)
    assert bundle.regions == ["face", "background"]
    ds = bundle.dataset("test")
    face = ds[0]["masks"][0].numpy()
    ys, xs = np.nonzero(face)
    assert 170 / 8 - 3 <= xs.mean() <= 260 / 8 + 3 and 60 / 8 - 3 <= ys.mean() <= 170 / 8 + 3
    assert not ds[1]["masks"][0].any()


def test_missing_opencv_says_how_to_install(monkeypatch):
    monkeypatch.setattr(faces, "_CASCADE", None)
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(DataError, match=r"pip install 'auditor\[faces\]'"):
        faces.detect_faces(np.zeros((32, 32, 3), np.uint8))

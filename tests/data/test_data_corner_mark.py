"""The clinic generator's planted, unannotated corner mark (``synthetic.corner_mark``)."""

import json

import numpy as np
import pandas as pd
from PIL import Image

from auditor.config import SyntheticConfig
from auditor.data.synthetic import CLASSES, MARK_BOX, generate_clinic, mark_plan


def test_mark_plan_agrees_with_the_class_in_train_and_is_balanced_in_test():
    labels = ["doctor"] * 100 + ["nurse"] * 100
    marks = np.array(mark_plan("train", labels, 0.95, np.random.default_rng(0)))
    assert marks[:100].sum() == 95 and marks[100:].sum() == 5  # agreement 95% per class
    marks = np.array(mark_plan("test", labels, 0.95, np.random.default_rng(0)))
    assert marks[:100].sum() == 50 and marks[100:].sum() == 50
    indep = np.array(mark_plan("train", labels, 0.5, np.random.default_rng(0)))
    assert indep[:100].sum() == 50 and indep[100:].sum() == 50
    assert not any(mark_plan("train", labels, None, np.random.default_rng(0)))


def test_generated_marks_are_painted_and_listed_but_not_annotated(tmp_path):
    cfg = SyntheticConfig(n_train=40, n_val=0, n_test=20, image_size=32, corner_mark=1.0)
    manifest = generate_clinic(tmp_path, cfg, seed=0)
    df = pd.read_csv(manifest)
    assert list(df.columns) == ["path", "label", "split", "hair", "corner_mark"]
    train = df[df["split"] == "train"]
    assert (train["corner_mark"] == (train["label"] == CLASSES[0])).all()
    x0, y0, x1, y1 = (int(round(v * 32)) for v in MARK_BOX)
    for row in df.itertuples():
        pixels = np.asarray(Image.open(tmp_path / row.path).convert("RGB"))
        red = pixels[y0:y1, x0:x1].reshape(-1, 3)
        is_mark = (red[:, 0] > 180) & (red[:, 1] < 80) & (red[:, 2] < 80)
        assert is_mark.all() == bool(row.corner_mark)
    coco = json.loads((tmp_path / "regions.json").read_text())
    assert {c["name"] for c in coco["categories"]} == {"face", "object"}


def test_without_the_option_nothing_changes(tmp_path):
    cfg = SyntheticConfig(n_train=8, n_val=0, n_test=4, image_size=32)
    generate_clinic(tmp_path, cfg, seed=0)
    stamp = json.loads((tmp_path / "params.json").read_text())
    assert "corner_mark" not in stamp["config"]  # old cached datasets stay valid
    assert list(pd.read_csv(tmp_path / "manifest.csv").columns) == ["path", "label", "split",
                                                                    "hair"]

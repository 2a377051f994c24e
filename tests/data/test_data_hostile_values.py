"""Values that were read without a word and changed the audit (second adversarial pass):
booleans as coordinates, annotations that draw nothing, two COCO categories of one name,
mask values the config does not name, empty attribute cells, labels in other Unicode forms."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from helpers.data import write_image, write_manifest
from PIL import Image

from auditor.config import DataConfig, RegionsConfig
from auditor.data.dataset import load_data
from auditor.errors import DataError

H, W = 20, 30
NAMES = ("a.png", "b.png", "c.png", "d.png")
BOX = [[2, 2, 12, 2, 12, 12, 2, 12]]  # a 10 x 10 square


def _data(tmp_path, annotations, categories=None, images=None, attrs=("dark",) * 4):
    for name in NAMES:
        write_image(tmp_path / name, size=(W, H))
    rows = [(n, "xy"[i % 2], "train" if i < 2 else "test", attrs[i])
            for i, n in enumerate(NAMES)]
    manifest = write_manifest(tmp_path / "m.csv", rows, ("path", "label", "split", "hair"))
    coco = {"images": images or [{"id": i + 1, "file_name": n, "width": W, "height": H}
                                 for i, n in enumerate(NAMES)],
            "annotations": [dict(a, id=k + 1) for k, a in enumerate(annotations)],
            "categories": categories or [{"id": 1, "name": "face"}, {"id": 2, "name": "object"}]}
    (tmp_path / "r.json").write_text(json.dumps(coco))
    return DataConfig(manifest=manifest, attributes=["hair"], image_size=10,
                      regions=RegionsConfig(format="coco", path=tmp_path / "r.json"))


def _object_pixels(bundle, sample):
    row = bundle.table.index[bundle.table["id"] == sample][0]
    return int(bundle.masks(int(row))[bundle.regions.index("object")].sum())


# -- 1. numbers: true/false are not coordinates; what draws nothing is dropped, counted ------

@pytest.mark.parametrize("ann, needle", [
    ({"segmentation": [[True, 1, 12, 2, 12, 12, 2, 12]]}, "polygon coordinates must be numbers, "
                                                          "got true"),
    ({"segmentation": [[2, 2, 12, None, 12, 12, 2, 12]]}, "polygon coordinates must be "
                                                          "numbers, got null"),
    ({"bbox": [False, 2, 5, 5]}, "bbox coordinates must be numbers, got false"),
    ({"segmentation": {"size": [True, W], "counts": [H * W]}}, "RLE size must be two integers"),
])
def test_true_false_and_null_as_numbers_skip_their_sample_naming_the_annotation(
        tmp_path, ann, needle):
    """``true`` is 1 to Python: a polygon starting with it was drawn as a sliver (0 pixels),
    a bbox at x=0, without a word."""
    cfg = _data(tmp_path, [{"image_id": 1, "category_id": 2, "segmentation": BOX},
                           dict(ann, image_id=2, category_id=2)])
    bundle = load_data(cfg, seed=0)
    assert [s["id"] for s in bundle.skipped] == ["b.png"]
    assert "r.json: annotation 2: " + needle in bundle.skipped[0]["reason"]


@pytest.mark.parametrize("cell", ["true", "False", "", "nan", "1e400"])
def test_a_box_csv_value_that_is_no_finite_number_is_named(tmp_path, cell):
    """Box CSVs were already strict (pandas reads no booleans in them): kept so."""
    cfg = _data(tmp_path, [])
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(f"path,region,x,y,w,h\na.png,face,1,1,4,4\nb.png,face,1,{cell},4,4\n")
    cfg = cfg.model_copy(update={"regions": RegionsConfig(format="boxes_csv", path=boxes)})
    if cell == "1e400":  # a number, but not finite: its sample is skipped
        bundle = load_data(cfg, seed=0)
        assert [s["id"] for s in bundle.skipped] == ["b.png"]
        assert "a coordinate is not finite" in bundle.skipped[0]["reason"]
        return
    with pytest.raises(DataError, match=r"boxes\.csv: line 3: path, region and numeric"):
        load_data(cfg, seed=0)


def test_a_recorded_size_of_false_is_not_taken_for_no_size(tmp_path):
    images = [{"id": i + 1, "file_name": n, "width": W, "height": H}
              for i, n in enumerate(NAMES)]
    images[1].update(width=False, height=False)
    cfg = _data(tmp_path, [{"image_id": 2, "category_id": 2, "segmentation": BOX}],
                images=images)
    bundle = load_data(cfg, seed=0)
    assert [s["id"] for s in bundle.skipped] == ["b.png"]
    assert "recorded image size must be two integers, got False x False" in (
        bundle.skipped[0]["reason"])


def test_an_annotation_that_draws_nothing_is_dropped_and_counted_numbers_as_text_too(tmp_path):
    """Points on one line (here written as text, as some converters do) enclose no area: the
    annotation's bbox is drawn instead, as for a polygon of fewer than 3 points; without a bbox
    it is dropped with a count (the sample had the region, at 0 pixels, without a word)."""
    line = [["1", "2", "3", "4", "5", "6"]]
    cfg = _data(tmp_path, [{"image_id": 1, "category_id": 2, "segmentation": line,
                            "bbox": [10, 4, 6, 7]},
                           {"image_id": 2, "category_id": 2, "segmentation": line},
                           {"image_id": 3, "category_id": 2, "bbox": [5, 5, 0, 4]},
                           {"image_id": 4, "category_id": 2, "segmentation": BOX}])
    bundle = load_data(cfg, seed=0)
    assert bundle.skipped == [] and _object_pixels(bundle, "a.png") > 0  # its bbox
    assert any("2 annotation(s)" in w and "draw nothing" in w for w in bundle.warnings)
    assert any("2 sample(s) have no region annotations" in w for w in bundle.warnings)


# -- 2. two categories of one name -----------------------------------------------------------

def test_two_categories_of_one_name_are_one_error_naming_both(tmp_path):
    cats = [{"id": 1, "name": "face"}, {"id": 2, "name": "object"}, {"id": 3, "name": "face"}]
    cfg = _data(tmp_path, [{"image_id": 1, "category_id": 3, "segmentation": BOX}],
                categories=cats)
    with pytest.raises(DataError, match=r"r\.json: categories\[0\] and categories\[2\] have "
                                        "the same name 'face'") as err:
        load_data(cfg, seed=0)
    assert "\n" not in str(err.value)


# -- 3. mask values the config does not name, masks of more than two values --------------------

def _mask_data(tmp_path, masks, names=None):
    for name in NAMES:
        write_image(tmp_path / name, size=(W, H))
    manifest = write_manifest(tmp_path / "m.csv", [(n, "xy"[i % 2], "train" if i < 2 else "test")
                                                   for i, n in enumerate(NAMES)])
    for rel, img in masks.items():
        (tmp_path / "masks" / rel).parent.mkdir(parents=True, exist_ok=True)
        img.save(tmp_path / "masks" / rel)
    return DataConfig(manifest=manifest, image_size=W, resize="stretch",
                      regions=RegionsConfig(format="masks", path=tmp_path / "masks", names=names))


def test_label_values_the_names_do_not_list_are_a_counted_warning(tmp_path):
    eight = np.zeros((H, W), np.uint8)
    eight[2:6, 2:6] = 1
    eight[10:12, 10:20] = 7  # an "ignore" label, or a region the config forgot
    sixteen = np.zeros((H, W), np.uint16)
    sixteen[0:5, 0:5] = 2
    sixteen[8:10, 0:5] = 258  # 16-bit PNG: 2 + 256
    clean = np.where(np.arange(W) < 5, 2, 0).astype(np.uint8)[None].repeat(H, 0)
    cfg = _mask_data(tmp_path, {"a.png": Image.fromarray(eight),
                                "b.png": Image.fromarray(sixteen),
                                "c.png": Image.fromarray(clean)}, names={1: "face", 2: "object"})
    bundle = load_data(cfg, seed=0)
    note = [w for w in bundle.warnings if "label PNG" in w]
    assert len(note) == 1 and note[0].startswith("2 label PNG(s)")
    assert "(7, 258)" in note[0] and "first: sample a.png" in note[0] and ": 7)" in note[0]
    assert _object_pixels(bundle, "b.png") > 0 and bundle.skipped == []  # still read


def test_a_binary_mask_of_many_values_is_a_counted_warning(tmp_path):
    """A mask saved through JPEG has many grey levels: read as "non-zero", its faint noise
    became region pixels without a word. Two-valued masks in any mode stay silent."""
    square = np.zeros((H, W), np.uint8)
    square[4:12, 4:12] = 255
    noisy = square.copy()
    noisy[square == 0] = np.random.default_rng(0).integers(0, 6, (square == 0).sum())
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[4:12, 4:12, 3] = 255  # a transparent export: black, the region in alpha
    cfg = _mask_data(tmp_path, {"object/a.png": Image.fromarray(square),
                                "object/b.png": Image.fromarray(rgba, "RGBA"),
                                "object/c.png": Image.fromarray(noisy),
                                "face/d.png": Image.fromarray(noisy).convert("RGB")})
    bundle = load_data(cfg, seed=0)
    note = [w for w in bundle.warnings if "more than two values" in w]
    assert len(note) == 1 and note[0].startswith("2 mask PNG(s)")
    assert "first: sample c.png" in note[0] and "7 values" in note[0]  # 0-5 and 255
    assert _object_pixels(bundle, "a.png") == _object_pixels(bundle, "b.png") > 0


# -- 4. empty attribute cells ------------------------------------------------------------------

def test_empty_attribute_cells_of_a_manifest_are_unknown_with_a_warning(tmp_path):
    for name in NAMES:
        write_image(tmp_path / name)
    manifest = write_manifest(tmp_path / "m.csv", [("a.png", "x", "train", "dark"),
                                                   ("b.png", "y", "train", " "),
                                                   ("c.png", "x", "test", ""),
                                                   ("d.png", "y", "test", "blond")],
                              ("path", "label", "split", "hair"))
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"]), seed=0)
    assert sorted(bundle.table["hair"]) == ["blond", "dark", "unknown", "unknown"]
    assert any(w.startswith("2 image(s) have an empty hair cell in ") and "line 3, 'b.png'" in w
               and "'unknown'" in w for w in bundle.warnings)


def test_empty_cells_of_an_attributes_csv_are_unknown_like_missing_rows(tmp_path):
    for cls in ("x", "y"):
        for i in range(2):
            write_image(tmp_path / "f" / cls / f"{cls}{i}.png")
    attrs = tmp_path / "a.csv"
    attrs.write_text("path,hair\nx/x0.png,dark\nx1.png,\ny/y0.png,blond\n")
    bundle = load_data(DataConfig(image_folder=tmp_path / "f", attributes_csv=attrs,
                                  attributes=["hair"]), seed=0)
    hair = dict(zip(bundle.table["id"], bundle.table["hair"], strict=True))
    assert hair == {"x/x0.png": "dark", "x/x1.png": "unknown", "y/y0.png": "blond",
                    "y/y1.png": "unknown"}
    assert any("1 image(s) have an empty hair cell" in w and "line 3, 'x/x1.png'" in w
               for w in bundle.warnings)
    assert any("1 image(s) have no row in" in w for w in bundle.warnings)


def test_a_train_manifest_takes_the_sources_attributes_not_its_empty_cells(tmp_path):
    for name in NAMES:
        write_image(tmp_path / name)
    rows = [(n, "xy"[i % 2], "train" if i < 2 else "test", "dark") for i, n in enumerate(NAMES)]
    head = ("path", "label", "split", "hair")
    manifest = write_manifest(tmp_path / "m.csv", rows, head)
    train = write_manifest(tmp_path / "t.csv", [(n, lab, s, "") for n, lab, s, _ in rows], head)
    bundle = load_data(DataConfig(manifest=manifest, train_manifest=train,
                                  attributes=["hair"]), seed=0)
    assert set(bundle.table["hair"]) == {"dark"}


# -- 5. labels and values in other Unicode normal forms ----------------------------------------

NFC, NFD = "caf\u00e9", "cafe\u0301"


def test_labels_and_values_that_differ_only_in_unicode_form_are_one(tmp_path):
    """NFC "café" in train, NFD "café" in test were two classes that print alike."""
    assert unicodedata.normalize("NFC", NFD) == NFC
    name = f"{NFD}.png"  # a file named in NFD: its path must stay as written
    for n in (*NAMES[:3], name):
        write_image(tmp_path / n)
    manifest = write_manifest(tmp_path / "m.csv", [("a.png", NFC, "train", NFC),
                                                   ("b.png", "tea", "train", "x"),
                                                   ("c.png", "tea", "test", "x"),
                                                   (name, NFD, "test", NFD)],
                              ("path", "label", "split", "hair"))
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"]), seed=0)
    assert bundle.classes == [NFC, "tea"] and bundle.skipped == []
    assert set(bundle.table["hair"]) == {NFC, "x"} and name in set(bundle.table["id"])
    note = [w for w in bundle.warnings if "NFC" in w]
    assert len(note) == 1 and note[0].startswith("2 label or attribute value(s)")
    assert "m.csv line 5, label 'cafe\\u0301'" in note[0]


def test_image_folder_classes_and_attributes_csv_values_are_read_in_nfc(tmp_path):
    write_image(tmp_path / "f" / NFD / "a.png")
    write_image(tmp_path / "f" / "tea" / "b.png")
    attrs = tmp_path / "a.csv"
    attrs.write_text(f"path,hair\n{NFD}/a.png,{NFD}\nb.png,{NFC}\n", encoding="utf-8")
    bundle = load_data(DataConfig(image_folder=tmp_path / "f", attributes_csv=attrs,
                                  attributes=["hair"], split_ratios=[1, 0, 1]), seed=0)
    assert bundle.classes == [NFC, "tea"] and set(bundle.table["hair"]) == {NFC}
    assert f"{NFD}/a.png" in set(bundle.table["id"])  # the file's name, kept
    notes = [w for w in bundle.warnings if "NFC" in w]
    assert len(notes) == 2 and all(w.startswith("1 label or attribute") for w in notes)

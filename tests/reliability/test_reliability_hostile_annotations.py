"""Hostile annotation files (issue #16 rows 2, 9, 13): malformed structure is one ``error:``
line; a malformed or oversized annotation skips its sample with the reason, checked before
pycocotools sees it; nothing crashes the process."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.reliability import (
    assert_one_line_error,
    cli_run,
    invoke,
    make_manifest_dataset,
    manifest_config,
    random_idat_png,
    skipped_reasons,
)
from PIL import Image

from auditor.config import DataConfig, RegionsConfig
from auditor.data.dataset import load_data
from auditor.data.region_formats.coco_checks import annotation_problem, rle_string_counts
from auditor.errors import DataError


def _dataset(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    regions = tmp_path / "data" / "regions.json"
    return manifest, regions, json.loads(regions.read_text())


def _load(manifest, regions):
    return load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16,
                                regions=RegionsConfig(format="coco", path=regions)), seed=0)


def _boxes_for_all(tmp_path, header, row):
    """The dataset's manifest and a box CSV with ``row`` (a format of ``k``) per image."""
    manifest, _, _ = _dataset(tmp_path)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text(header + "".join(row.format(k=k) for k in range(12)))
    return manifest, boxes


def _load_boxes(manifest, boxes):
    return load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16,
                                regions=RegionsConfig(format="boxes_csv", path=boxes)), seed=0)


# -- row 2: coordinates that crash pycocotools -----------------------------------------------

HOSTILE_GEOMETRY = {
    "huge polygon": {"segmentation": [[0, 0, 1e9, 0, 0, 1e9]]},
    "nan polygon": {"segmentation": [[0, 0, float("nan"), 0, 0, 5]]},
    "inf bbox": {"segmentation": [], "bbox": [0, 0, float("inf"), 4]},
    "string coordinate": {"segmentation": [[0, 0, "nine", 0, 0, 5]]},
    "nested coordinate": {"segmentation": [[0, 0, [1, 2], 0, 0, 5]]},
    "string nan": {"segmentation": [[0, 0, "nan", 0, 0, 5]]},
    "rle counts overflow": {"segmentation": {"size": [32, 32], "counts": [0, 10**6]}},
    "rle string overflow": {"segmentation": {"size": [4, 4], "counts": "0k`0"}},
    "rle string cut mid-count": {"segmentation": {"size": [4, 4], "counts": "1o"}},
    "rle negative size": {"segmentation": {"size": [-5, 32], "counts": [0, 10]}},
    "rle huge size": {"segmentation": {"size": [60000, 60000], "counts": [3_600_000_000]}},
    "segmentation of another type": {"segmentation": "polygon"},
    "negative bbox as text": {"segmentation": [], "bbox": ["0", "0", "-4", "4"]},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_GEOMETRY))
def test_hostile_geometry_skips_its_sample(tmp_path, name):
    manifest, regions, coco = _dataset(tmp_path)
    ann = coco["annotations"][4]  # img_004.png, a test image
    ann.pop("bbox")
    ann.update(HOSTILE_GEOMETRY[name])
    regions.write_text(json.dumps(coco))  # NaN and Infinity are written as JSON extensions
    bundle = _load(manifest, regions)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert list(reasons) == ["img_004.png"], reasons
    assert "regions.json: annotation 5:" in reasons["img_004.png"]
    assert len(bundle.table) == 11


def test_huge_polygon_through_the_cli_in_a_subprocess(tmp_path):
    """Row 2 as reported: a segmentation fault would show as a negative return code."""
    manifest, regions, coco = _dataset(tmp_path)
    coco["annotations"][0]["segmentation"] = [[0, 0, 1e9, 0, 0, 1e9]]
    coco["annotations"][5]["segmentation"] = {"size": [32, 32], "counts": [5, 10**7]}
    regions.write_text(json.dumps(coco))
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    done = cli_run("run", path, cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert set(skipped_reasons(tmp_path / "run")) == {"img_000.png", "img_005.png"}


def test_checks_accept_what_annotators_write():
    """No false alarms: a polygon slightly past the border, a valid RLE, a box."""
    assert annotation_problem({"segmentation": [[-2, -1, 33, 0, 33, 34]]}, 32, 32) is None
    assert annotation_problem({"segmentation": {"size": [4, 4], "counts": [3, 10, 3]}},
                              4, 4) is None
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(np.eye(6, dtype=np.uint8)))
    text = rle["counts"].decode()
    assert sum(rle_string_counts(text)) == 36
    assert annotation_problem({"segmentation": {"size": [6, 6], "counts": text}}, 6, 6) is None
    assert annotation_problem({"bbox": [1, 2, 3, 4]}, 8, 8) is None


def _masks_of(bundle, sample_id):
    index = bundle.table.index[bundle.table["id"] == sample_id][0]
    row = list(bundle.table.index).index(index)
    return dict(zip(bundle.regions, bundle.masks(row), strict=True))


def test_annotation_that_draws_nothing_is_dropped_not_its_sample(tmp_path):
    """A stray click (a polygon of fewer than 3 points, no bbox) or an empty segmentation is
    dropped with a counted warning; its sample keeps its other annotations."""
    manifest, regions, coco = _dataset(tmp_path)
    coco["categories"].append({"id": 2, "name": "face"})
    coco["annotations"] += [
        {"id": 90, "image_id": 5, "category_id": 2, "segmentation": [[3, 3, 4, 4]]},
        {"id": 91, "image_id": 6, "category_id": 2, "segmentation": None},
        {"id": 92, "image_id": 6, "category_id": 2, "segmentation": [[1, 1, 9, 1, 9, 9]]}]
    regions.write_text(json.dumps(coco))
    bundle = _load(manifest, regions)
    assert bundle.skipped == []
    assert any("2 annotation(s)" in w and "draw nothing" in w for w in bundle.warnings)
    masks = _masks_of(bundle, "img_004.png")  # images[].id 5
    assert masks["object"].any() and not masks["face"].any()
    assert _masks_of(bundle, "img_005.png")["face"].any()


def test_numbers_written_as_text_and_ids_of_either_type_match(tmp_path):
    """``bbox: ["8", ...]`` reads like polygon text coordinates; ``image_id: "1"`` matches
    ``images[].id: 1`` (mixed converters), instead of leaving every sample unannotated."""
    manifest, regions, coco = _dataset(tmp_path)
    for ann in coco["annotations"]:
        ann["image_id"] = str(ann["image_id"])
        ann["category_id"] = str(ann["category_id"])
    coco["annotations"][4]["bbox"] = ["8", "8", "16", "16"]
    regions.write_text(json.dumps(coco))
    bundle = _load(manifest, regions)
    assert bundle.skipped == [] and bundle.warnings == []
    assert _masks_of(bundle, "img_004.png")["object"].sum() == 16 * 16 // 4  # 32 px -> 16 px


@pytest.mark.parametrize("kind", ["categories", "images"])
def test_an_id_given_twice_is_one_line(tmp_path, kind):
    """Two categories (or images) with one id: one silently replaced the other before."""
    manifest, regions, coco = _dataset(tmp_path)
    twin = dict(coco[kind][0], name="hand") if kind == "categories" else dict(
        coco[kind][1], id=str(coco[kind][0]["id"]))
    coco[kind].append(twin)
    regions.write_text(json.dumps(coco))
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    last = len(coco[kind]) - 1
    assert_one_line_error(invoke("run", path), "regions.json",
                          f"{kind}[0] and {kind}[{last}] have the same id")


# -- row 9: malformed COCO structure ---------------------------------------------------------

@pytest.mark.parametrize("mutate, needle", [
    (lambda c: c.update(annotations=None), "'annotations' must be a list"),
    (lambda c: c.update(annotations=5), "'annotations' must be a list"),
    (lambda c: c.update(categories={"a": 1}), "'categories' must be a list"),
    (lambda c: c["annotations"][0].update(image_id=[1, 2]), "image_id and category_id"),
    (lambda c: c["annotations"][0].update(category_id={"x": 1}), "image_id and category_id"),
    (lambda c: c["annotations"].__setitem__(0, "text"), "annotations[0] is not an object"),
    (lambda c: c["images"].__setitem__(0, {"file_name": "a.png"}), "images[0] needs"),
    (lambda c: c["categories"][0].pop("name"), "categories[0] needs a 'name'"),
])
def test_malformed_coco_structure_is_one_line(tmp_path, mutate, needle):
    manifest, regions, coco = _dataset(tmp_path)
    mutate(coco)
    regions.write_text(json.dumps(coco))
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    assert_one_line_error(invoke("run", path), "regions.json", needle)


def test_deeply_nested_json_is_one_line(tmp_path):
    manifest, regions, _ = _dataset(tmp_path)
    regions.write_text('{"images": [], "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    assert_one_line_error(invoke("run", path), "regions.json", "nested too deeply")


# -- row 13: sizes that would allocate terabytes --------------------------------------------

def test_huge_recorded_image_size_skips_the_sample(tmp_path):
    manifest, regions, coco = _dataset(tmp_path)
    coco["images"][2].update(width=60000, height=60000)
    coco["images"][3].update(width=-3, height=32)
    regions.write_text(json.dumps(coco))
    bundle = _load(manifest, regions)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert set(reasons) == {"img_002.png", "img_003.png"}
    assert "pixel limit" in reasons["img_002.png"] and "not positive" in reasons["img_003.png"]


def test_huge_image_header_is_skipped(tmp_path):
    from helpers.reliability import forged_png_header

    manifest, _, _ = _dataset(tmp_path)
    forged_png_header(tmp_path / "data" / "img_001.png", 60000, 60000)
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert "decompression bomb" in skipped_reasons(tmp_path / "run")["img_001.png"]


# -- the other region formats: the same rules ------------------------------------------------

def test_box_csv_with_non_finite_or_far_boxes_skips_samples(tmp_path):
    manifest, _, _ = _dataset(tmp_path)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("path,region,x,y,w,h\nimg_000.png,face,0,0,inf,4\n"
                     "img_001.png,face,1e12,0,4,4\nimg_002.png,face,2,2,4,4\n")
    bundle = _load_boxes(manifest, boxes)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert set(reasons) == {"img_000.png", "img_001.png"}
    assert "not finite" in reasons["img_000.png"] and "far outside" in reasons["img_001.png"]


def test_corrupt_or_huge_mask_png_skips_its_sample(tmp_path):
    from helpers.reliability import forged_png_header

    manifest, _, _ = _dataset(tmp_path)
    masks = tmp_path / "masks" / "face"
    masks.mkdir(parents=True)
    for k in range(4):
        Image.fromarray(np.eye(32, dtype=np.uint8) * 255).save(masks / f"img_{k:03d}.png")
    random_idat_png(masks / "img_000.png", seed=5)
    forged_png_header(masks / "img_001.png", 60000, 60000)
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16,
                                  regions=RegionsConfig(format="masks", path=masks.parent)),
                       seed=0)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert set(reasons) == {"img_000.png", "img_001.png"}
    assert reasons["img_000.png"].startswith("mask unreadable image")
    assert "decompression bomb" in reasons["img_001.png"]
    assert bundle.masks(0).shape[0] == 2  # the remaining samples' masks still work


@pytest.mark.parametrize("fmt", ["coco", "boxes_csv"])
def test_annotation_path_that_is_not_a_file_is_one_line(tmp_path, fmt):
    manifest, _, _ = _dataset(tmp_path)
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    text = path.read_text().replace(str(tmp_path / "data" / "regions.json"), "/dev/zero")
    path.write_text(text.replace("format: coco", f"format: {fmt}"))
    assert_one_line_error(invoke("run", path), "/dev/zero", "not a regular file")


def test_masks_of_another_size_are_counted_and_of_another_shape_skipped(tmp_path):
    """Masks were stretched silently: a 64x64 mask of a 32x32 image is rescaled with a counted
    warning; a 64x32 one (another aspect: another image's, or drawn before an EXIF rotation)
    skips its sample with the reason. A hidden .ipynb_checkpoints folder is no region."""
    manifest, _, _ = _dataset(tmp_path)
    masks = tmp_path / "masks" / "face"
    (tmp_path / "masks" / ".ipynb_checkpoints").mkdir(parents=True)
    masks.mkdir(parents=True)
    for k in range(4):
        Image.fromarray(np.eye(32, dtype=np.uint8) * 255).save(masks / f"img_{k:03d}.png")
    Image.fromarray(np.eye(64, dtype=np.uint8) * 255).save(masks / "img_001.png")
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(masks / "img_002.png")
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16,
                                  regions=RegionsConfig(format="masks", path=masks.parent)),
                       seed=0)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert list(reasons) == ["img_002.png"]
    assert "is 64x32 for a 32x32 image: another aspect ratio" in reasons["img_002.png"]
    assert any(w.startswith("1 sample(s) were annotated at another size") for w in
               bundle.warnings), bundle.warnings
    assert bundle.regions == ["face", "background"]


def test_box_csv_written_with_spaces_reads_like_the_manifest(tmp_path):
    """'path, region, x, y, w, h' was refused as missing columns it visibly had."""
    manifest, boxes = _boxes_for_all(tmp_path, "path, region, x, y, w, h\n",
                                     "img_{k:03d}.png , object , 8, 8, 16, 16\n")
    bundle = _load_boxes(manifest, boxes)
    assert bundle.regions == ["object", "background"] and bundle.skipped == []
    assert bundle.masks(0)[0].sum() == 8 * 8


def test_box_csv_region_called_na_is_a_region_not_a_missing_value(tmp_path):
    """pandas reads 'NA', 'null' or 'None' as missing by default: a region called NA (North
    America on a map, a 'not applicable' box) was refused as 'region required'. The manifest
    reader already kept such strings; the box reader now does too, and an empty field is
    still refused."""
    manifest, boxes = _boxes_for_all(tmp_path, "path,region,x,y,w,h\n",
                                     "img_{k:03d}.png,NA,8,8,16,16\n")
    bundle = _load_boxes(manifest, boxes)
    assert bundle.regions == ["NA", "background"] and bundle.skipped == []
    boxes.write_text("path,region,x,y,w,h\nimg_000.png,,8,8,16,16\n")
    with pytest.raises(DataError, match=r"line 2: path, region and numeric x,y,w,h"):
        _load_boxes(manifest, boxes)


# -- annotations of another frame: never stretched onto the image --------------------------

@pytest.mark.parametrize("change, needle", [
    ({"image": {"width": 64, "height": 16}},
     "recorded as 64x16 for a 32x32 image: another aspect ratio cannot be placed without "
     "distortion (an annotation of another image?)"),
    ({"ann": {"segmentation": {"size": [16, 64], "counts": [0, 1024]}}},
     "an RLE of 64x16 for a 32x32 image: another aspect ratio"),
])
def test_an_annotation_of_another_aspect_ratio_skips_its_sample(tmp_path, change, needle):
    """A COCO size or RLE of another aspect ratio was silently stretched onto the image (masks
    of the mask format were refused; COCO's were rescaled, IoU 0.07 on rotated phone photos)."""
    manifest, regions, coco = _dataset(tmp_path)
    coco["images"][4].update(change.get("image", {}))
    if "ann" in change:
        coco["annotations"][4].pop("bbox")
        coco["annotations"][4].update(change["ann"])
    regions.write_text(json.dumps(coco))
    reasons = {s["id"]: s["reason"] for s in _load(manifest, regions).skipped}
    assert list(reasons) == ["img_004.png"] and needle in reasons["img_004.png"], reasons


def test_a_size_recorded_before_the_exif_rotation_is_named(tmp_path):
    manifest, regions, coco = _dataset(tmp_path)
    image = tmp_path / "data" / "img_004.png"
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(image)  # 32 wide, 16 high
    coco["images"][4].update({"width": 16, "height": 32})
    regions.write_text(json.dumps(coco))
    reasons = {s["id"]: s["reason"] for s in _load(manifest, regions).skipped}
    assert "recorded as 16x32 for a 32x16 image" in reasons["img_004.png"]
    assert "the size before the image's EXIF rotation?" in reasons["img_004.png"]


def test_two_image_entries_of_one_sample_each_keep_their_size(tmp_path):
    """A second ``images[]`` entry matching the same file (by its base name) at 16x16: its
    size was used for the first entry's annotations too, which then drew outside the canvas
    (the object's mask came out empty)."""
    manifest, regions, coco = _dataset(tmp_path)
    coco["images"].append({"id": 99, "file_name": "sub/img_004.png", "width": 16,
                           "height": 16})
    coco["annotations"].append({"id": 99, "image_id": 99, "category_id": 1,
                                "bbox": [0, 0, 2, 2], "iscrowd": 0, "area": 4})
    regions.write_text(json.dumps(coco))
    bundle = _load(manifest, regions)
    assert not bundle.skipped
    k = int(np.flatnonzero(bundle.table["id"].to_numpy() == "img_004.png")[0])
    mask = bundle.masks(k)[0]
    # image 32 px audited at 16 px: the 16x16 box [8, 24) -> [4, 12); the 2x2 box of the 16 px
    # entry -> [0, 2) at 16 px
    assert mask[4:12, 4:12].all() and mask[0:2, 0:2].all()
    assert mask.sum() == 8 * 8 + 2 * 2

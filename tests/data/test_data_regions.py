"""Region formats: COCO (polygons, RLE, bbox, iscrowd), mask PNGs, box CSV, the registry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.data import write_image, write_manifest
from PIL import Image
from pycocotools import mask as mask_utils

from auditor.config import DataConfig, RegionsConfig
from auditor.data.dataset import load_data
from auditor.data.regions import (
    get_region_format,
    list_region_formats,
    load_regions,
    match_names,
    register_region_format,
)
from auditor.errors import DataError

H, W = 20, 30  # image height, width
IDS = ["a/one.png", "b/two.png", "b/three.png"]


def _square(y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _coco(tmp_path, annotations, file_names=("a/one.png", "two.png")):
    images = [{"id": i + 1, "file_name": f, "width": W, "height": H}
              for i, f in enumerate(file_names)]
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "face"}, {"id": 2, "name": "object"}]}
    path = tmp_path / "regions.json"
    path.write_text(json.dumps(data))
    return RegionsConfig(format="coco", path=path)


def test_registry_lists_and_rejects():
    assert {"coco", "masks", "boxes_csv"} <= set(list_region_formats())
    with pytest.raises(DataError, match="valid: .*boxes_csv.*coco.*masks"):
        get_region_format("voc")


def test_custom_format_registers(tmp_path):
    from auditor.data.regions import RegionSource

    @register_region_format("everything_test")
    def _all(cfg, ids):
        class All(RegionSource):
            def masks(self, sample_id, height, width):
                return {"all": np.ones((height, width), dtype=bool)}

        return All(names=["all"], annotated=set(ids))

    assert "everything_test" in list_region_formats()
    cfg = RegionsConfig.model_construct(format="everything_test", path=tmp_path, names=None,
                                        auto=[])
    src = load_regions(cfg, IDS)
    assert src.masks("a/one.png", 2, 3)["all"].all()


def test_match_names_by_path_then_unique_basename():
    found, missing = match_names(["a/one.png", "./b/two.png", "three.png", "x.png"], IDS)
    assert found == {"a/one.png": "a/one.png", "./b/two.png": "b/two.png",
                     "three.png": "b/three.png"}
    assert missing == ["x.png"]
    _, missing = match_names(["one.png"], ["a/one.png", "b/one.png"])
    assert missing == ["one.png"]  # ambiguous base name


def test_coco_polygon_rle_bbox_iscrowd(tmp_path):
    face_rle = mask_utils.encode(np.asfortranarray(_square(0, 5, 0, 5).astype(np.uint8)))
    face_rle["counts"] = face_rle["counts"].decode("ascii")  # compressed RLE, JSON string
    uncompressed = {"size": [H, W], "counts": [15 * H + 2, 3, H - 3, 3, H * W - 325]}
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": face_rle, "iscrowd": 1},
        {"id": 2, "image_id": 1, "category_id": 2, "iscrowd": 0,
         "segmentation": [[20, 10, 25, 10, 25, 15, 20, 15]]},
        {"id": 3, "image_id": 2, "category_id": 2, "bbox": [3, 4, 5, 6], "iscrowd": 0},
        {"id": 4, "image_id": 2, "category_id": 1, "segmentation": uncompressed, "iscrowd": 1},
    ]
    src = load_regions(_coco(tmp_path, anns), IDS)
    assert src.names == ["face", "object"] and src.annotated == {"a/one.png", "b/two.png"}
    one = src.masks("a/one.png", H, W)
    np.testing.assert_array_equal(one["face"], _square(0, 5, 0, 5))
    assert one["object"][12, 22] and one["object"].sum() == 25 and not one["object"][:10].any()
    two = src.masks("b/two.png", H, W)  # matched by unique base name
    np.testing.assert_array_equal(two["object"], _square(4, 10, 3, 8))
    assert two["face"][2:5, 15].all() and two["face"][2:5, 16].all() and two["face"].sum() == 6
    assert src.masks("b/three.png", H, W) == {}


def test_coco_rescales_other_size_and_counts_unmatched(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [0, 0, 15, 10]},
            {"id": 2, "image_id": 3, "category_id": 2, "bbox": [0, 0, 1, 1]}]
    cfg = _coco(tmp_path, anns, file_names=("a/one.png", "two.png", "elsewhere/nine.png"))
    src = load_regions(cfg, IDS)
    assert src.unmatched == 1 and "1 annotated image(s)" in src.warnings[0]
    big = src.masks("a/one.png", 2 * H, 2 * W)["object"]  # image twice the recorded size
    assert big[:20, :30].all() and big.sum() == 600
    assert src.size_mismatches({"a/one.png": (2 * H, 2 * W)}) == 1


def test_coco_bad_category_is_an_error(tmp_path):
    cfg = _coco(tmp_path, [{"id": 7, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}])
    with pytest.raises(DataError, match="annotation 7 has unknown category_id 9"):
        load_regions(cfg, IDS)


def test_masks_folder_per_region(tmp_path):
    root = tmp_path / "m"
    (root / "face" / "a").mkdir(parents=True)
    (root / "object").mkdir(parents=True)
    Image.fromarray(_square(0, 4, 0, 4).astype(np.uint8) * 255).save(root / "face/a/one.png")
    Image.fromarray(_square(5, 9, 5, 9).astype(np.uint8)).save(root / "object/two.png")
    Image.fromarray(np.ones((H, W), np.uint8)).save(root / "object/orphan.png")
    src = load_regions(RegionsConfig(format="masks", path=root), IDS)
    assert src.names == ["face", "object"] and src.unmatched == 1
    np.testing.assert_array_equal(src.masks("a/one.png", H, W)["face"], _square(0, 4, 0, 4))
    np.testing.assert_array_equal(src.masks("b/two.png", H, W)["object"], _square(5, 9, 5, 9))
    assert src.annotated == {"a/one.png", "b/two.png"}


def _rgba(square: np.ndarray, colour, inside_alpha, outside_alpha) -> Image.Image:
    arr = np.zeros((H, W, 4), np.uint8)
    arr[square, :3] = colour
    arr[..., 3] = np.where(square, inside_alpha, outside_alpha)
    return Image.fromarray(arr, "RGBA")


@pytest.mark.parametrize("image", [
    lambda sq: _rgba(sq, (0, 0, 0), 255, 0),  # black everywhere, the region in alpha
    lambda sq: _rgba(sq, (255, 255, 255), 255, 0),  # white on transparent
    lambda sq: Image.fromarray(np.where(sq[..., None], np.array([0, 0, 1], np.uint8),
                                        np.uint8(0)).astype(np.uint8), "RGB"),  # (0, 0, 1)
])
def test_mask_pngs_read_their_non_zero_pixels_whatever_the_mode(tmp_path, image):
    """A transparent export (region in alpha) and a dark (0, 0, 1) mask read as empty: the
    conversion to grey dropped alpha and rounded (0, 0, 1) to 0."""
    root = tmp_path / "m"
    (root / "object").mkdir(parents=True)
    square = _square(5, 9, 5, 9)
    image(square).save(root / "object/two.png")
    src = load_regions(RegionsConfig(format="masks", path=root), IDS)
    np.testing.assert_array_equal(src.masks("b/two.png", H, W)["object"], square)


def test_masks_label_png_with_names(tmp_path):
    root = tmp_path / "labels"
    (root / "a").mkdir(parents=True)
    label = np.zeros((H, W), np.uint8)
    label[0:3, 0:3] = 1
    label[10:12, 10:14] = 2
    img = Image.fromarray(label, mode="L").convert("P")
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    img.save(root / "a/one.png")
    src = load_regions(RegionsConfig(format="masks", path=root, names={1: "face", 2: "object"}),
                       IDS)
    m = src.masks("a/one.png", H, W)
    assert m["face"].sum() == 9 and m["object"].sum() == 8 and not (m["face"] & m["object"]).any()


def test_boxes_csv_union_and_errors(tmp_path):
    path = tmp_path / "boxes.csv"
    path.write_text("path,region,x,y,w,h\na/one.png,face,0,0,4,4\na/one.png,face,2,2,4,4\n"
                    "two.png,object,1.5,1.5,2,2\nnope.png,object,0,0,1,1\n")
    src = load_regions(RegionsConfig(format="boxes_csv", path=path), IDS)
    assert src.masks("a/one.png", H, W)["face"].sum() == 16 + 16 - 4
    assert src.masks("b/two.png", H, W)["object"].sum() == 9  # 1.5..3.5 covers pixels 1..3
    assert src.unmatched == 1
    path.write_text("path,region,x,y\na.png,face,0,0\n")
    with pytest.raises(DataError, match="missing column.*w, h"):
        load_regions(RegionsConfig(format="boxes_csv", path=path), IDS)


def test_missing_region_file_names_path(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.json: region annotations not found"):
        load_regions(RegionsConfig(format="coco", path=tmp_path / "nothere.json"), IDS)


def test_overlap_and_background_in_items(tmp_path):
    """Regions may overlap; background is exactly the pixels in no region; unannotated images
    are kept (all background) with a warning; masks follow the sorted region order."""
    for name in ("x.png", "y.png"):
        write_image(tmp_path / name, size=(W, H))
    manifest = write_manifest(tmp_path / "m.csv", [("x.png", "a", "test"), ("y.png", "b", "test")])
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("path,region,x,y,w,h\nx.png,object,0,0,10,10\nx.png,face,5,5,10,10\n")
    cfg = DataConfig(manifest=manifest, image_size=10, resize="stretch",
                     regions=RegionsConfig(format="boxes_csv", path=boxes))
    bundle = load_data(cfg, seed=0)
    assert bundle.regions == ["face", "object", "background"]
    assert any("1 sample(s) have no region annotations" in w for w in bundle.warnings)
    ds = bundle.dataset("test")
    m = ds[0]["masks"].numpy()
    assert (m[0] & m[1]).any()
    np.testing.assert_array_equal(m[2], ~(m[0] | m[1]))
    assert ds[1]["masks"][2].all() and not ds[1]["masks"][:2].any()

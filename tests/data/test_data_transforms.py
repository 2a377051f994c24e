"""Resize modes move image and masks identically; normalisation statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auditor.config import DataConfig, NormalizeStats, RegionsConfig
from auditor.data.dataset import load_data
from auditor.data.transforms import (
    IMAGENET_MEAN,
    apply_image,
    apply_masks,
    normalize_image,
    normalize_stats,
    plan_geometry,
)

H, W = 60, 120  # a wide image
SQUARE = (slice(20, 40), slice(80, 100))  # rows, cols of a white square


def _image_and_mask():
    img = np.zeros((H, W, 3), np.uint8)
    img[SQUARE] = 255
    mask = np.zeros((1, H, W), bool)
    mask[0][SQUARE] = True
    return torch.from_numpy(img).permute(2, 0, 1), torch.from_numpy(mask)


@pytest.mark.parametrize("mode", ["stretch", "center_crop", "letterbox"])
def test_square_lands_where_mask_says(mode):
    img, mask = _image_and_mask()
    geo = plan_geometry(H, W, 32, mode)
    out_img = apply_image(img, geo)
    out_mask = apply_masks(mask, geo)[0]
    assert out_img.shape == (3, 32, 32) and out_img.dtype == torch.uint8
    assert out_mask.shape == (32, 32) and out_mask.dtype == torch.bool
    bright = out_img[0] > 127
    assert bright.sum() > 0
    agree = (bright == out_mask).float().mean().item()
    assert agree > 0.97, agree
    iou = (bright & out_mask).sum() / (bright | out_mask).sum()
    assert iou > 0.8, iou


def test_geometry_of_each_mode():
    assert plan_geometry(H, W, 32, "stretch").resized == (32, 32)
    crop = plan_geometry(H, W, 32, "center_crop")
    assert crop.resized == (32, 32) and crop.crop == (0, 30, 60, 60)
    box = plan_geometry(H, W, 32, "letterbox")
    assert box.resized == (16, 32) and (box.top, box.left) == (8, 0)


def test_letterbox_padding_is_black_and_background():
    img, mask = _image_and_mask()
    img[:] = 200
    geo = plan_geometry(H, W, 32, "letterbox")
    out = apply_image(img, geo)
    assert (out[:, :8] == 0).all() and (out[:, 8:24] == 200).all()
    assert not apply_masks(mask, geo)[0, :8].any()


def test_center_crop_cuts_off_side_regions():
    img, mask = _image_and_mask()
    geo = plan_geometry(H, W, 32, "center_crop")  # keeps cols 30..90 of the original
    m = apply_masks(mask, geo)[0]
    assert m[:, :26].sum() == 0 and m.sum() > 0  # square starts at col 80 -> (80-30)*32/60=26.7
    assert m.sum() < (20 * 20) * (32 / 60) ** 2  # partly cut off


def test_normalize_stats_and_values():
    assert normalize_stats("imagenet")[0] == IMAGENET_MEAN
    assert normalize_stats("none") == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    mean, std = normalize_stats(NormalizeStats(mean=[0.5] * 3, std=[0.25] * 3))
    img = torch.full((3, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(normalize_image(img, mean, std), torch.full((3, 2, 2), 2.0))
    x = normalize_image(img, *normalize_stats("imagenet"))
    assert x[0, 0, 0].item() == pytest.approx((1 - 0.485) / 0.229)


@pytest.mark.parametrize("mode", ["stretch", "center_crop", "letterbox"])
def test_dataset_items_follow_the_mode(tmp_path, mode):
    """End to end: a box annotation over a drawn square lands on the square in the item."""
    from helpers.data import write_manifest
    from PIL import Image

    img = np.zeros((H, W, 3), np.uint8)
    img[SQUARE] = 255
    Image.fromarray(img).save(tmp_path / "wide.png")
    manifest = write_manifest(tmp_path / "m.csv", [("wide.png", "a", "test")])
    boxes = tmp_path / "b.csv"
    boxes.write_text("path,region,x,y,w,h\nwide.png,object,80,20,20,20\n")
    bundle = load_data(DataConfig(manifest=manifest, image_size=32, resize=mode, normalize="none",
                                  regions=RegionsConfig(format="boxes_csv", path=boxes)), seed=0)
    item = bundle.dataset("test")[0]
    bright = item["image"][0] > 0.5
    obj = item["masks"][bundle.regions.index("object")]
    assert (bright == obj).float().mean().item() > 0.97
    assert np.array_equal(bundle.raw_image(0)[..., 0] > 127, bright.numpy())


@pytest.mark.parametrize("shape", [(1, 200_000), (200_000, 1), (3, 50_000)])
def test_center_crop_of_a_thread_thin_image_stays_small(shape):
    """Scaling the short side of a 1 x 2,000,000 image to the output first allocated 6 GB
    (a traceback, or the OOM killer); the crop now comes first."""
    img = torch.zeros((3, *shape), dtype=torch.uint8)
    img[..., shape[0] // 2, shape[1] // 2] = 255
    geo = plan_geometry(*shape, 64, "center_crop")
    side = min(shape)
    assert geo.crop == ((shape[0] - side) // 2, (shape[1] - side) // 2, side, side)
    assert geo.resized == (64, 64)  # what gets allocated: the output, not 64 x 12.8M
    out = apply_image(img, geo)
    masks = apply_masks(torch.ones((2, *shape), dtype=torch.bool), geo)
    assert out.shape == (3, 64, 64) and masks.shape == (2, 64, 64) and masks.all()


def test_center_crop_matches_resize_then_crop():
    """Cutting first shows the same picture as the old resize-then-cut, up to interpolation:
    a smooth wide image agrees within a couple of levels."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    yy, xx = torch.meshgrid(torch.arange(90.0), torch.arange(240.0), indexing="ij")
    img = ((yy * 1.3 + xx * 0.7) % 256).to(torch.uint8).expand(3, -1, -1).contiguous()
    new = apply_image(img, plan_geometry(90, 240, 30, "center_crop")).float()
    old = TF.resize(img, [30, 80], interpolation=InterpolationMode.BILINEAR,
                    antialias=True)[..., 25:55].float()
    assert (new - old).abs().mean() < 2.0

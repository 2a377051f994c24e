"""Bad files are skipped with a reason (never a crash, never silent); odd image modes load."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers.data import write_image, write_manifest
from PIL import Image

from auditor.config import DataConfig, RegionsConfig
from auditor.data.dataset import load_data
from auditor.data.images import check_image, check_images, load_image
from auditor.errors import DataError


def _bundle(tmp_path, rows, **kw):
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    return load_data(DataConfig(manifest=manifest, image_size=16, **kw), seed=0)


def test_every_bad_file_is_skipped_with_a_reason(tmp_path, monkeypatch):
    write_image(tmp_path / "ok.png")
    write_image(tmp_path / "ok2.jpg", fmt="JPEG")
    full = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        full, format="PNG")
    (tmp_path / "trunc.png").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    jpg = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), np.uint8)).save(
        jpg, format="JPEG")
    (tmp_path / "trunc.jpg").write_bytes(jpg.getvalue()[:-500])  # header intact, tail gone
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    write_image(tmp_path / "huge.png", size=(300, 300))
    write_image(tmp_path.parent / "outside.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200 * 200)
    rows = [("ok.png", "a", "train"), ("ok2.jpg", "b", "test"), ("missing.png", "a", "train"),
            ("trunc.png", "a", "train"), ("trunc.jpg", "a", "train"),
            ("garbage.png", "b", "train"), ("huge.png", "a", "train"),
            (str(tmp_path / "ok.png"), "a", "train"), ("../outside.png", "a", "train"),
            ("sub/../../outside.png", "b", "train")]
    bundle = _bundle(tmp_path, rows)
    assert bundle.table["id"].tolist() == ["ok.png", "ok2.jpg"]
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert len(reasons) == len(rows) - 2
    assert reasons["missing.png"].startswith("file not found")
    assert reasons["trunc.png"].startswith("unreadable image")
    assert reasons["trunc.jpg"].startswith("truncated JPEG")
    assert reasons["garbage.png"].startswith("unreadable image")
    assert "decompression bomb" in reasons["huge.png"]
    assert reasons[str(tmp_path / "ok.png")].startswith("absolute path not allowed")
    assert "escapes the data root" in reasons["../outside.png"]
    assert "escapes the data root" in reasons["sub/../../outside.png"]
    block = bundle.summary()
    assert block["n_samples"] == 2 and block["n_skipped"] == 8 and block["skipped"][0] == {
        "id": "missing.png", "reason": reasons["missing.png"]}


def test_duplicate_id_is_an_error_naming_it(tmp_path):
    write_image(tmp_path / "a.png")
    # ids are normalised ('./a.png' is 'a.png'), so the message names the shared id
    with pytest.raises(DataError, match=r"line 3: duplicate sample id 'a.png' .same file as "
                                        r"'a.png' on line 2"):
        _bundle(tmp_path, [("a.png", "x", "test"), ("./a.png", "y", "test")])


def test_nothing_usable_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no usable samples: all 1 were skipped .first: file not"):
        _bundle(tmp_path, [("gone.png", "x", "test")])


def test_empty_audit_split_is_an_error(tmp_path):
    write_image(tmp_path / "a.png")
    with pytest.raises(DataError, match="data.audit_split: split 'test' has no usable samples"):
        _bundle(tmp_path, [("a.png", "x", "train")])


def test_unseen_label_and_annotation_warnings(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("path,region,x,y,w,h\na.png,face,0,0,2,2\nnot_here.png,face,0,0,2,2\n"
                     "gone.png,face,0,0,2,2\n")
    bundle = _bundle(tmp_path, [("a.png", "x", "train"), ("b.png", "x", "test"),
                                ("c.png", "zebra", "test")],
                     regions=RegionsConfig(format="boxes_csv", path=boxes))
    text = " | ".join(bundle.warnings)
    assert "label(s) zebra appear in the test split but never in train" in text
    assert "2 annotated image(s)" in text and "2 sample(s) have no region annotations" in text


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


@pytest.mark.parametrize("kind", ["L", "P", "RGBA", "CMYK", "I;16", "LA", "1"])
def test_image_modes_become_rgb8(tmp_path, kind):
    base = Image.fromarray(np.linspace(0, 255, 24 * 32, dtype=np.uint8).reshape(24, 32))
    if kind == "I;16":
        arr = (np.linspace(0, 65535, 24 * 32).reshape(24, 32)).astype(np.uint16)
        img, path = Image.fromarray(arr), tmp_path / "x.png"
    elif kind == "CMYK":
        img, path = base.convert("CMYK"), tmp_path / "x.jpg"
    else:
        img, path = base.convert(kind), tmp_path / "x.png"
    _save(img, path)
    assert isinstance(check_image(path), tuple)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (24, 32, 3)
    if kind in ("L", "P", "RGBA", "I;16", "LA"):
        assert out[0, 0].max() < 10 and out[-1, -1].min() > 240  # dynamic range kept


def test_exif_orientation_applied_and_masks_in_rotated_frame(tmp_path):
    """A 40x20 (w x h) JPEG stored sideways with orientation 6 displays as 20x40; a box
    annotated on the displayed image must land on the displayed content."""
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :10] = 255  # left strip of the stored image -> top strip after rotating 90 cw
    img = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    assert check_image(path) == (20, 40)
    shown = load_image(path)
    assert shown.shape == (40, 20, 3)
    assert shown[:8].mean() > 200 and shown[12:].mean() < 40
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("path,region,x,y,w,h\nrot.jpg,top,0,0,20,10\n")
    bundle = _bundle(tmp_path, [("rot.jpg", "a", "test")], normalize="none",
                     regions=RegionsConfig(format="boxes_csv", path=boxes))
    item = bundle.dataset("test")[0]
    bright = item["image"][0] > 0.5
    assert (bright == item["masks"][0]).float().mean() > 0.95


_TO_STORED = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_270}  # what exif_transpose undoes


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_checked_size_is_the_decoded_size_for_every_orientation(tmp_path, fmt, orientation):
    """Pillow turns a TIFF itself (its size is already the displayed one) and keeps the tag:
    swapping by the tag turned TIFFs of orientation 5-8 twice, so masks drawn on the displayed
    image were refused and masks of the stored frame accepted, misaligned."""
    shown = np.zeros((32, 48, 3), np.uint8)
    shown[4:12, 4:16] = 255
    img = Image.fromarray(shown)
    if orientation != 1:
        img = img.transpose(_TO_STORED[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    extra = {"quality": 100, "subsampling": 0} if fmt == "JPEG" else {}
    img.save(path, format=fmt, exif=exif if fmt == "TIFF" else exif.tobytes(), **extra)
    out = load_image(path)
    assert check_image(path) == (48, 32) and out.shape == (32, 48, 3)
    assert np.abs(out.astype(int) - shown).mean() < 10


def test_decode_failure_at_item_time_names_the_sample(tmp_path):
    path = write_image(tmp_path / "a.png")
    bundle = _bundle(tmp_path, [("a.png", "x", "test")])
    path.write_bytes(b"broken after loading")
    with pytest.raises(DataError, match="sample a.png: cannot decode"):
        bundle.dataset("test")[0]


def test_checking_on_a_thread_pool_gives_the_same_answers_in_order(tmp_path, monkeypatch):
    """Load-time checks run on a pool (Pillow decodes outside the GIL); bad files among many
    good ones get their own reason, in input order, whatever the pool size. 96 files, so the
    pool is used (it starts at 64)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200 * 200)
    paths = []
    for i in range(96):
        path = tmp_path / f"{i:03d}.{'png' if i % 2 else 'jpg'}"
        if i % 17 == 5:
            path.write_bytes(b"not an image")
        elif i % 17 == 9:
            write_image(path, size=(300, 300), fmt="PNG" if i % 2 else "JPEG")
        elif i % 17 == 13:
            pass  # missing
        else:
            write_image(path, size=(10 + i, 20), fmt="PNG" if i % 2 else "JPEG")
        paths.append(path)
    serial = check_images(paths, threads=1)
    assert check_images(paths, threads=4) == serial == [check_image(p) for p in paths]
    for i, result in enumerate(serial):
        if i % 17 == 5:
            assert result.startswith("unreadable image"), result
        elif i % 17 == 9:
            assert "decompression bomb" in result, result
        elif i % 17 == 13:
            assert result.startswith("file not found"), result
        else:
            assert result == (10 + i, 20)


def test_float_image_with_no_data_pixels_keeps_its_picture():
    """A float TIFF with one NaN ("no data") pixel decoded to an all-black image."""
    import numpy as np
    from PIL import Image

    from auditor.data.images import _to_rgb8

    a = np.linspace(0, 2, 64, dtype=np.float32).reshape(8, 8)
    a[0, 0], a[0, 1] = np.nan, np.inf
    out = np.asarray(_to_rgb8(Image.fromarray(a, mode="F")))[..., 0]
    assert out[0, 0] == out[0, 1] == 0 and out[7, 7] == 255  # lowest value, highest value
    assert len(np.unique(out)) == 63  # 62 finite levels kept apart, and 0 for the two


def test_a_32_bit_integer_tiff_keeps_its_contrast(tmp_path):
    """Values up to 255,000 were divided by 65,535 and clipped: mean 248 of 255, no contrast."""
    arr = np.linspace(0, 255_000, 24 * 32).reshape(24, 32).astype(np.int32)
    Image.fromarray(arr, mode="I").save(tmp_path / "deep.tif")
    out = load_image(tmp_path / "deep.tif")
    assert out[0, 0].max() == 0 and out[-1, -1].min() == 255
    assert 120 < out.mean() < 135

"""Hostile image files (issue #16 rows 1, 6, 7, 14): whatever a file holds, the run neither
crashes nor aborts; the file is skipped, in any split, and listed with its reason."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from helpers.reliability import (
    cli_run,
    invoke,
    make_manifest_dataset,
    manifest_config,
    random_idat_png,
    read_summary,
    skipped_reasons,
)
from PIL import Image

from auditor.config import DataConfig
from auditor.data import images
from auditor.data.dataset import load_data
from auditor.data.images import check_image, load_image


def _jpeg_bytes(seed: int, size: int = 64) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _corrupt_jpeg(path, seed: int = 2) -> None:
    """A JPEG whose middle 200 bytes are overwritten (header and end marker intact); with
    seed 2 libjpeg cannot decode it, with seed 0 PIL decodes it and torchvision refuses it."""
    data = bytearray(_jpeg_bytes(seed))
    mid = len(data) // 2
    data[mid:mid + 200] = np.random.default_rng(seed + 1).integers(
        0, 256, 200, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


# -- row 1: random IDAT bytes (a segmentation fault in torchvision) -------------------------

def test_random_idat_png_is_refused_by_the_check(tmp_path):
    path = random_idat_png(tmp_path / "bad.png", seed=0)
    with Image.open(path) as img:
        img.verify()  # the header check alone accepts it: the full decode is what catches it
    reason = check_image(path)
    assert isinstance(reason, str) and reason.startswith("unreadable image"), reason


def test_png_never_reaches_torchvision(tmp_path, monkeypatch):
    """The class of row 1: no PNG is handed to torchvision's libpng binding, whose errors end
    the process; PIL decodes PNGs (and fails with an exception)."""
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(tmp_path / "ok.png")

    def boom(path):
        raise AssertionError(f"torchvision asked to decode {path}")

    monkeypatch.setattr(images, "_decode_torchvision", boom)
    assert load_image(tmp_path / "ok.png").shape == (8, 8, 3)


def test_random_idat_png_in_every_split_is_skipped_by_the_cli(tmp_path):
    """In a subprocess: a segmentation fault would show as a negative return code."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    for name, seed in (("img_000.png", 1), ("img_004.png", 2)):  # a train and a test image
        random_idat_png(tmp_path / "data" / name, seed=seed)
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    done = cli_run("run", path, cwd=tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    reasons = skipped_reasons(tmp_path / "run")
    assert set(reasons) == {"img_000.png", "img_004.png"}
    assert all(r.startswith("unreadable image") for r in reasons.values()), reasons


# -- row 6: a corrupt JPEG skips that file, never aborts the run ---------------------------

@pytest.mark.parametrize("split_row", [0, 4])  # a train image, a test image
def test_corrupt_jpeg_is_skipped_not_fatal(tmp_path, split_row):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    name = f"img_{split_row:03d}.png"
    _corrupt_jpeg(tmp_path / "data" / name)  # a JPEG under a .png name: content decides
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    reasons = skipped_reasons(tmp_path / "run")
    assert list(reasons) == [name] and reasons[name].startswith("unreadable image")


def test_jpeg_the_fast_decoder_refuses_falls_back_to_pil(tmp_path, monkeypatch):
    (tmp_path / "a.jpg").write_bytes(_jpeg_bytes(3, size=16))
    monkeypatch.setattr(images, "_decode_torchvision", lambda path: None)
    assert load_image(tmp_path / "a.jpg").shape == (16, 16, 3)


def test_corrupt_jpeg_pil_can_decode_is_used_not_fatal(tmp_path):
    """Overwritten scan data that libjpeg decodes with a warning (no checksum can tell): the
    image is used as PIL decodes it, whatever torchvision thinks of it."""
    _corrupt_jpeg(tmp_path / "c.jpg", seed=0)
    assert check_image(tmp_path / "c.jpg") == (64, 64)
    assert load_image(tmp_path / "c.jpg").shape == (64, 64, 3)


# -- row 7: a path the file system refuses --------------------------------------------------

def test_overlong_manifest_path_is_skipped_with_its_reason(tmp_path):
    long_name = "x" * 300 + ".png"
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2,
                                     extra_rows=[(long_name, "doctor", "train", "dark"),
                                                 ("a\x00b.png", "nurse", "test", "dark")])
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16),
                       seed=0)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert set(reasons) == {long_name, "a\x00b.png"}
    assert "too long" in reasons[long_name].lower() or "cannot" in reasons[long_name]
    assert len(bundle.table) == 12


def test_overlong_path_through_the_cli(tmp_path):
    long_name = "d" * 120 + "/" + "y" * 260 + ".png"
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2,
                                     extra_rows=[(long_name, "doctor", "test", "dark")])
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert list(skipped_reasons(tmp_path / "run")) == [long_name]


# -- row 14: symlinks that leave the data root ----------------------------------------------

def _with_symlinks(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    outside = tmp_path / "secret"
    outside.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(outside / "private.png")
    os.symlink(outside / "private.png", tmp_path / "data" / "link.png")
    os.symlink(outside, tmp_path / "data" / "linkdir")
    os.symlink(tmp_path / "data" / "img_000.png", tmp_path / "data" / "inside.png")
    rows = [("link.png", "doctor", "train", "dark"),
            ("linkdir/private.png", "nurse", "test", "blond"),
            ("inside.png", "nurse", "train", "dark")]
    with open(manifest, "a", encoding="utf-8") as fh:
        fh.writelines(",".join(r) + "\n" for r in rows)
    return manifest


def test_symlink_leaving_the_root_is_refused(tmp_path):
    manifest = _with_symlinks(tmp_path)
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16),
                       seed=0)
    reasons = {s["id"]: s["reason"] for s in bundle.skipped}
    assert set(reasons) == {"link.png", "linkdir/private.png"}
    assert all("outside the data root" in r and "follow_symlinks" in r
               for r in reasons.values())
    assert "inside.png" in set(bundle.table["id"])  # a link that stays inside is fine


def test_follow_symlinks_allows_them(tmp_path):
    manifest = _with_symlinks(tmp_path)
    bundle = load_data(DataConfig(manifest=manifest, attributes=["hair"], image_size=16,
                                  follow_symlinks=True), seed=0)
    assert not bundle.skipped
    assert {"link.png", "linkdir/private.png"} <= set(bundle.table["id"])


def test_symlink_in_an_image_folder_is_refused(tmp_path):
    for cls in ("a", "b"):
        for k in range(3):
            (tmp_path / "imgs" / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16, 3), k, np.uint8)).save(
                tmp_path / "imgs" / cls / f"{k}.png")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", tmp_path / "imgs" / "a" / "escape.png")
    bundle = load_data(DataConfig(image_folder=tmp_path / "imgs", image_size=16,
                                  split_ratios=[0.5, 0, 0.5]), seed=0)
    assert [s["id"] for s in bundle.skipped] == ["a/escape.png"]


def test_skipped_files_reach_the_summary_of_a_cli_run(tmp_path):
    """Every reason above lands in summary.json's ``dataset.skipped``."""
    manifest = _with_symlinks(tmp_path)
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    summary = read_summary(tmp_path / "run")
    assert summary["dataset"]["n_skipped"] == 2


def test_the_check_stays_strict_after_weasyprint_is_imported(tmp_path, monkeypatch):
    """weasyprint sets PIL's LOAD_TRUNCATED_IMAGES globally; the check must not inherit it."""
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = random_idat_png(tmp_path / "bad.png", seed=0)
    assert isinstance(check_image(path), str)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for whoever set it

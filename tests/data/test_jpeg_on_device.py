"""Decoding JPEGs on the device: same pixels and masks as worker decoding, fallbacks, choice."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from helpers.data import write_manifest
from PIL import Image
from torch.utils.data import DataLoader

from auditor.config import DataConfig, RegionsConfig
from auditor.data.dataset import load_data
from auditor.data.jpeg_on_device import EncodedJpegDataset, plain_jpeg_size, use_device_decode
from auditor.errors import DataError
from auditor.pipeline.audit_pass import collate_samples

CUDA = torch.cuda.is_available()


def _textured(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    arr[h // 4:h // 2, w // 3:w // 2] = (250, 30, 30)
    return Image.fromarray(arr)


def _mixed_dataset(tmp_path, resize: str):
    """Plain JPEGs of three sizes, a grayscale JPEG, a PNG, a CMYK JPEG and a rotated JPEG,
    each with a box region."""
    folder = tmp_path / "img"
    folder.mkdir()
    files = []
    for i, (w, h) in enumerate([(48, 40), (48, 40), (70, 30), (33, 61), (48, 40)]):
        _textured(w, h, i).save(folder / f"plain{i}.jpg", quality=90)
        files.append((f"img/plain{i}.jpg", w, h))
    _textured(40, 40, 9).convert("L").save(folder / "gray.jpg", quality=90)
    _textured(36, 52, 10).save(folder / "pic.png")
    _textured(44, 30, 11).convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    _textured(40, 20, 12).save(folder / "rot.jpg", quality=90, exif=exif.tobytes())
    files += [("img/gray.jpg", 40, 40), ("img/pic.png", 36, 52), ("img/cmyk.jpg", 44, 30),
              ("img/rot.jpg", 20, 40)]  # the rotated one displays as 20 x 40
    rows = [(p, ("a", "b")[i % 2], "test") for i, (p, _, _) in enumerate(files)]
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    boxes = ["path,region,x,y,w,h"] + [f"{p},object,{w // 4},{h // 3},{w // 2},{h // 3}"
                                     for p, w, h in files]
    (tmp_path / "boxes.csv").write_text("\n".join(boxes) + "\n")
    cfg = DataConfig(manifest=manifest, image_size=24, resize=resize,
                     regions=RegionsConfig(format="boxes_csv", path=tmp_path / "boxes.csv"))
    return load_data(cfg, seed=0)


def _batches(ds, collate, batch_size=4):
    return list(DataLoader(ds, batch_size=batch_size, collate_fn=collate))


@pytest.mark.parametrize("resize", ["stretch", "center_crop", "letterbox"])
def test_device_path_is_bit_identical_to_worker_decoding_on_cpu(tmp_path, resize):
    bundle = _mixed_dataset(tmp_path, resize)
    base = bundle.dataset("test")
    enc = EncodedJpegDataset(base)
    kinds = [enc[k]["jpeg"] is not None for k in range(len(enc))]
    assert kinds == [True] * 6 + [False] * 3  # plain + gray on the device; png/cmyk/rot not
    ref = _batches(base, collate_samples)
    got = _batches(enc, enc.collate)
    assert len(ref) == len(got) == 3
    cpu = torch.device("cpu")
    for r, g in zip(ref, got, strict=True):
        images = enc.images_on(g, cpu)
        assert images.dtype == torch.float32 and images.shape == r["image"].shape
        assert torch.equal(images, r["image"])
        assert torch.equal(g["masks"], r["masks"])
        assert torch.equal(g["label"], r["label"]) and torch.equal(g["index"], r["index"])


def test_device_path_through_dataloader_workers(tmp_path):
    """With ``num_workers`` > 0 each batch crosses a process boundary: the encoded bytes must
    survive it (file buffers as separate tensors did not: the loader hung), and the images
    equal the in-process ones."""
    bundle = _mixed_dataset(tmp_path, "letterbox")
    enc = EncodedJpegDataset(bundle.dataset("test"))
    cpu = torch.device("cpu")
    here = [enc.images_on(b, cpu) for b in _batches(enc, enc.collate)]
    loader = DataLoader(enc, batch_size=4, collate_fn=enc.collate, num_workers=2, timeout=60)
    there = [enc.images_on(b, cpu) for b in loader]
    assert len(there) == len(here) == 3
    assert all(torch.equal(a, b) for a, b in zip(here, there, strict=True))


def test_plain_jpeg_size_reads_the_header_only_for_plain_files(tmp_path):
    bundle = _mixed_dataset(tmp_path, "stretch")
    sizes = {p.name: plain_jpeg_size(p) for p in bundle.table["path"]}
    assert sizes["plain2.jpg"] == (30, 70) and sizes["gray.jpg"] == (40, 40)
    assert sizes["pic.png"] is None and sizes["cmyk.jpg"] is None and sizes["rot.jpg"] is None
    assert plain_jpeg_size(tmp_path / "missing.jpg") is None


def test_an_undecodable_jpeg_is_a_one_line_error_naming_the_sample(tmp_path):
    bundle = _mixed_dataset(tmp_path, "stretch")
    enc = EncodedJpegDataset(bundle.dataset("test"))
    items = [enc[0], enc[1]]
    raw = items[1]["jpeg"].clone()
    raw[200:] = 0  # scan data zeroed, markers gone: libjpeg refuses it
    items[1]["jpeg"] = raw[:220]
    batch = enc.collate(items)
    with pytest.raises(DataError, match=r"^sample img/plain1\.jpg: cannot decode"):
        enc.images_on(batch, torch.device("cpu"))


def test_a_batch_the_batched_decoder_refuses_is_decoded_image_by_image(tmp_path, monkeypatch):
    import torchvision.io

    bundle = _mixed_dataset(tmp_path, "letterbox")
    base = bundle.dataset("test")
    enc = EncodedJpegDataset(base)
    real = torchvision.io.decode_jpeg
    calls = []

    def batched_fails(data, **kwargs):
        calls.append(type(data).__name__)
        if isinstance(data, list):
            raise RuntimeError("nvjpegDecodeBatched failed: NVJPEG_STATUS_BAD_JPEG")
        return real(data, **kwargs)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", batched_fails)
    ref = collate_samples([base[k] for k in range(4)])
    images = enc.images_on(enc.collate([enc[k] for k in range(4)]), torch.device("cpu"))
    assert calls == ["list", "Tensor", "Tensor", "Tensor", "Tensor"]
    assert torch.equal(images, ref["image"])


def test_decode_choice():
    cfg = DataConfig(manifest="m.csv")
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert use_device_decode(cfg, cuda) and not use_device_decode(cfg, cpu)
    assert not use_device_decode(cfg.model_copy(update={"decode": "workers"}), cuda)
    assert use_device_decode(cfg.model_copy(update={"decode": "device"}), cpu)
    faces = DataConfig(manifest="m.csv", regions=RegionsConfig(auto=["face"]))
    assert not use_device_decode(faces, cuda)  # the face detector needs pixels in the workers


def test_device_decode_with_automatic_faces_is_refused_by_the_config():
    with pytest.raises(ValueError, match="decode: 'device' cannot be combined with regions.auto"):
        DataConfig(manifest="m.csv", decode="device", regions=RegionsConfig(auto=["face"]))


def _levels(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float, float]:
    """(mean and max absolute difference, Pearson correlation) of two uint8-range images."""
    a, b = a.double().flatten(), b.double().flatten()
    diff = (a - b).abs()
    return float(diff.mean()), float(diff.max()), float(torch.corrcoef(torch.stack([a, b]))[0, 1])


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (nvJPEG)")
def test_nvjpeg_and_libjpeg_differ_only_in_rounding_and_chroma_upsampling(capsys):
    """The two decoders agree exactly where there is no chroma subsampling (4:4:4); with
    4:2:0 (most JPEGs) they upsample the chroma differently: a fraction of a level on smooth
    content, many levels on pixel noise (its chroma changes every pixel). Measured on an H200
    (torchvision 0.26, bench/results/2026-11-30-h200.md): 4:4:4 0.00 mean / 0 max levels for
    both contents; 4:2:0 smooth 0.35 / 3, noise 12.9 / 80 (r 0.956)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:96, 0:128]
    smooth = np.stack([xx * 2, yy * 2, (xx + yy)], -1).astype(np.uint8)
    rows = {}
    for content, arr in (("noise", noise), ("smooth", smooth)):
        for sub, name in ((0, "4:4:4"), (2, "4:2:0")):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "JPEG", quality=90, subsampling=sub)
            data = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
            cpu = decode_jpeg(data, mode=ImageReadMode.RGB)
            gpu = decode_jpeg([data], mode=ImageReadMode.RGB, device="cuda")[0].cpu()
            assert gpu.shape == cpu.shape == (3, 96, 128)
            rows[content, name] = _levels(gpu, cpu)
    with capsys.disabled():
        for (content, name), (mean, top, corr) in rows.items():
            print(f"nvJPEG vs libjpeg, {content} {name}: mean {mean:.2f} max {top:.0f} "
                  f"levels, r {corr:.4f}")
    for (content, name), (mean, top, corr) in rows.items():
        if name == "4:4:4":  # no upsampling: the same IDCT and colour conversion
            assert mean < 0.5 and top <= 2, (content, name, mean, top)
        elif content == "smooth":
            assert mean < 1.0 and top <= 8, (content, name, mean, top)
        else:  # the worst case of the upsampling difference, still the same picture
            assert mean < 20 and corr > 0.9, (content, name, mean, corr)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device (nvJPEG)")
def test_device_path_on_cuda_matches_worker_decoding(tmp_path):
    """The whole device path (nvJPEG, resize and normalise on the GPU) against worker decoding,
    on noise-textured 4:2:0 files (the decoders' worst case, above): a few levels apart, never
    a shifted, swapped or misplaced image (on noise those are uncorrelated, r near 0, and
    tens of levels off). Measured on an H200: worst image mean 5.0, max 30 levels, r 0.980."""
    bundle = _mixed_dataset(tmp_path, "stretch")
    base = bundle.dataset("test")
    enc = EncodedJpegDataset(base)
    std = torch.tensor(bundle.std).view(3, 1, 1)
    mean = torch.tensor(bundle.mean).view(3, 1, 1)
    for r, g in zip(_batches(base, collate_samples), _batches(enc, enc.collate), strict=True):
        images = enc.images_on(g, torch.device("cuda"))
        assert images.device.type == "cuda" and images.dtype == torch.float32
        for got, ref in zip(images.cpu(), r["image"], strict=True):
            levels = _levels((got * std + mean) * 255, (ref * std + mean) * 255)
            assert levels[0] < 10.0 and levels[1] < 96 and levels[2] > 0.95, levels


def test_a_jpeg_libjpeg_refuses_but_pil_reads_is_decoded_by_pil(tmp_path, monkeypatch):
    """What PIL validated at load time never aborts the device path: torchvision's refusal of
    one file falls back to PIL for that file."""
    import torchvision.io

    bundle = _mixed_dataset(tmp_path, "stretch")
    enc = EncodedJpegDataset(bundle.dataset("test"))
    batch = enc.collate([enc[0], enc[1]])
    expected = enc.images_on(batch, torch.device("cpu"))

    def refuse(data, **kw):
        raise RuntimeError("Unsupported marker type 0x40")

    monkeypatch.setattr(torchvision.io, "decode_jpeg", refuse)
    got = enc.images_on(batch, torch.device("cpu"))
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=0.05)  # PIL and libjpeg-turbo may differ by 1

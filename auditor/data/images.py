"""Reading image files safely: cheap checks at load time, robust decoding per item.

Every image becomes RGB, 8 bits per channel, in its *displayed* orientation: the EXIF
orientation tag is applied (``PIL.ImageOps.exif_transpose``) because annotation tools (COCO
annotators, CVAT, labelme) show and annotate the displayed image, so region masks are taken to
be in the rotated frame. Grayscale, palette, CMYK, RGBA (alpha dropped after compositing on
black) and 16-bit images are converted: 16-bit ones by their nominal range (0-65535), 32-bit
integer and float ones by their own range (their nominal range leaves no contrast).

:func:`check_image` runs for every sample of every split before anything is trained, so the
list of skipped samples is complete early: it tests existence (any ``OSError``, e.g. a file
name too long, is a reason to skip), the PIL header (``Image.verify``, which for PNG also
checks chunk CRCs), the decompression-bomb guard (``PIL.Image.MAX_IMAGE_PIXELS``: images above
it are skipped, not decoded), for JPEG that the end-of-image marker is present, and finally a
full PIL decode: Pillow's decoders fail with an exception on corrupt data (random IDAT bytes,
overwritten JPEG scans), so a file that passes is one :func:`load_image` can decode.

PNG files are never handed to ``torchvision.io.decode_image``: its libpng binding ends the
process (segmentation fault) on any libpng error, which no ``try`` can catch. Only JPEGs take
torchvision's fast path (libjpeg errors there are clean ``RuntimeError`` exceptions, and PIL is the
fallback).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps

from auditor.errors import DataError

if TYPE_CHECKING:  # torch is imported where a decoder needs it: checking files needs none
    import torch

__all__ = ["check_image", "check_images", "exif_orientation", "load_image", "read_image_bytes"]

log = logging.getLogger(__name__)

_EXIF_ORIENTATION = 0x0112


def check_image(path: Path) -> tuple[int, int] | str:
    """Cheaply check that ``path`` is a readable image.

    Args:
        path: image file.

    Returns:
        ``(width, height)`` of the displayed (EXIF-rotated) image, or a one-line reason why
        the file cannot be used.
    """
    return check_images([path])[0]


def check_images(paths: Sequence[Path], *, threads: int | None = None
                 ) -> list[tuple[int, int] | str]:
    """:func:`check_image` for many files, on a thread pool (Pillow's decoders release the
    GIL), in the order given.

    About a third of a check holds the GIL (header parsing in Python), so threads can at best
    triple the speed, and many threads fight over it: on 2 cores, 224-px JPEGs took 0.44 ms
    each with 1 thread, 0.32 with 4 and 0.43-0.49 with 16. Hence at most 4 threads.

    Args:
        paths: image files.
        threads: pool size; ``None``: ``min(4, 2 × CPUs)``. The result does not depend on it.

    Returns:
        One entry per path, as :func:`check_image` returns.
    """
    threads = min(4, 2 * (os.cpu_count() or 1)) if threads is None else max(1, threads)
    # Both settings are process-global: set once here, never inside a worker thread.
    with warnings.catch_warnings(), _strict_decoding():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if threads == 1 or len(paths) < 64:
            return [_check(p) for p in paths]
        with ThreadPoolExecutor(threads, thread_name_prefix="check-image") as pool:
            return list(pool.map(_check, paths))


def _check(path: Path) -> tuple[int, int] | str:
    try:
        if not path.is_file():
            return f"file not found: {path}"
    except (OSError, ValueError) as err:  # name too long, NUL byte, permission ...
        return f"cannot open ({type(err).__name__}: {_first_line(err)}): {path}"
    try:
        with Image.open(path) as img:
            img.verify()  # must come directly after open
        with Image.open(path) as img:
            width, height = img.size
            # explicit, so the check holds even where a thread does not see the warning filter
            if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
                return _too_large(path)
            orientation = exif_orientation(img)
            if img.format == "JPEG" and not _jpeg_complete(path):
                return f"truncated JPEG (no end-of-image marker): {path}"
            img.load()  # full decode: corrupt pixel data raises here, cleanly
            if orientation != 1:
                # the size load_image gives: Pillow turns some formats itself (TIFF reports
                # the displayed size and keeps the tag), so no swap by the tag alone
                width, height = ImageOps.exif_transpose(img).size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return _too_large(path)
    except Exception as err:  # noqa: BLE001 - PIL raises many types for bad files
        return f"unreadable image ({type(err).__name__}: {_first_line(err)}): {path}"
    return width, height


def _too_large(path: Path) -> str:
    return (f"image too large (over PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS} "
            f"pixels; possible decompression bomb): {path}")


@contextlib.contextmanager
def _strict_decoding() -> Iterator[None]:
    """Broken or truncated pixel data raises, whatever a library set globally: weasyprint sets
    ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` when imported (after the first PDF of a
    process), which would let a corrupt file pass the check."""
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def exif_orientation(img: Image.Image) -> int:
    """EXIF orientation (1 = as stored) without decoding pixels (PNG ``getexif`` would load the
    whole image)."""
    if img.format == "PNG":
        raw = img.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        return int(exif.get(_EXIF_ORIENTATION, 1))
    return int(img.getexif().get(_EXIF_ORIENTATION, 1))


def _jpeg_complete(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    return b"\xff\xd9" in tail


def _int_bits(img: Image.Image) -> int | None:
    """Bits per sample of a mode ``I`` image when the file says (TIFF), else None."""
    tags = getattr(img, "tag_v2", None)
    bits = tags.get(258) if tags is not None else None
    bits = bits[0] if isinstance(bits, tuple) and bits else bits
    return int(bits) if isinstance(bits, int) else None


def _to_rgb8(img: Image.Image) -> Image.Image:
    sixteen = img.mode != "I" or _int_bits(img) in (None, 16)
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I") and sixteen:
        arr = np.asarray(img, dtype=np.int64)
        if img.mode != "I" or (arr.min(initial=0) >= 0 and arr.max(initial=0) <= 65535):
            # one scale for every image: 255 for images whose pixels stay under 256 made two
            # images of one dataset differ 257 times in brightness
            arr = np.clip(arr * 255 // 65535, 0, 255).astype(np.uint8)
            return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode in ("F", "I"):
        arr = np.asarray(img, dtype=np.float64)
        finite = np.isfinite(arr)  # NaN "no data" pixels made the whole image black
        lo = float(arr.min(initial=0.0, where=finite))
        hi = float(arr.max(initial=1.0, where=finite))
        arr = (np.where(finite, arr, lo) - lo) / (hi - lo or 1.0) * 255
        return Image.fromarray(np.rint(arr).astype(np.uint8), mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return img.convert("RGB")


def read_image_bytes(path: Path) -> torch.Tensor:
    """The file's bytes as ``uint8 [L]`` (``torchvision.io.read_file``), for its decoders."""
    from torchvision.io import read_file

    with warnings.catch_warnings():  # torchvision >= 0.29 deprecates its io functions
        warnings.simplefilter("ignore", DeprecationWarning)
        return read_file(str(path))


def _decode_torchvision(path: Path) -> np.ndarray | None:
    """Fast path for plain 8-bit JPEG (never PNG: see the module docstring); None when
    torchvision cannot decode the file."""
    import torch
    from torchvision.io import ImageReadMode, decode_image

    try:
        data = read_image_bytes(path)
        with warnings.catch_warnings():  # torchvision >= 0.29 deprecates its decoders
            warnings.simplefilter("ignore", DeprecationWarning)
            out = decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except (RuntimeError, ValueError):
        return None
    if out.dtype != torch.uint8 or out.ndim != 3 or out.shape[0] != 3:
        return None
    return out.permute(1, 2, 0).contiguous().numpy()


def load_image(path: Path | bytes, *, sample_id: str = "", torch_decoder: bool = True
               ) -> np.ndarray:
    """Decode an image to ``uint8 [H, W, 3]`` in its displayed orientation.

    Plain 8-bit RGB/grayscale JPEG files go through ``torchvision.io.decode_image`` (with EXIF
    orientation); everything else (PNG, palette, alpha, CMYK, 16-bit, other formats) and the
    JPEGs torchvision refuses through PIL and the conversions described in the module
    docstring. ``path`` may also be the file's bytes (then PIL decodes them).
    ``torch_decoder=False`` decodes everything with PIL (the report's thumbnails, without
    importing torch).

    Raises:
        DataError: the file cannot be decoded (names the sample); :func:`check_image` is meant
            to have filtered such files out already.
    """
    where = "its bytes" if isinstance(path, bytes) else path
    try:
        with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as img:
            if torch_decoder and img.format == "JPEG" and img.mode in ("RGB", "L") and (
                    not isinstance(path, bytes)):
                fast = _decode_torchvision(path)
                if fast is not None:
                    return fast
            img = ImageOps.exif_transpose(img)
            return np.asarray(_to_rgb8(img), dtype=np.uint8).copy()
    except Exception as err:  # noqa: BLE001 - any decoder failure is a bad file
        raise DataError(f"sample {sample_id or where}: cannot decode {where} "
                        f"({type(err).__name__}: {_first_line(err)})") from None

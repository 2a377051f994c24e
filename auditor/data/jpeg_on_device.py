"""Decoding JPEGs where the model runs (``torchvision.io.decode_jpeg(..., device="cuda")``).

On a GPU the audit is fast enough that the DataLoader workers become the bottleneck: most of
their time goes to libjpeg and resizing, and each image then crosses PCIe as float32. With
``data.decode: device`` (what ``auto`` picks on a CUDA run) a worker only reads the file's bytes
and builds the region masks, which need the image *size*, not its pixels. The main process
decodes the whole batch in one nvJPEG call, resizes on the device with the same
:class:`~auditor.data.transforms.Geometry` as the CPU path and normalises there.

Only *plain* JPEGs take this path: PIL mode RGB or L and EXIF orientation 1 (torchvision's CUDA
decoder ignores the orientation tag, and the masks are in the displayed frame). Everything else
(PNG, CMYK or rotated JPEG, ...) is decoded in the worker exactly as before and travels as
``uint8``. A batch that nvJPEG refuses is decoded image by image on the CPU (a warning is
logged once); a file libjpeg refuses too is decoded by PIL (which validated every file at load
time); only a file PIL cannot decode either is a :class:`~auditor.errors.DataError` naming the
sample.

On a CPU run ``decode: device`` decodes in the main process through the same code; the images
are bit-identical to worker decoding (``tests/data/test_jpeg_on_device.py`` checks it).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from PIL import Image

from auditor.config import DataConfig
from auditor.data.dataset import AuditDataset
from auditor.data.images import exif_orientation, load_image, read_image_bytes
from auditor.data.transforms import apply_image, normalize_image, plan_geometry
from auditor.errors import DataError

__all__ = ["EncodedJpegDataset", "plain_jpeg_size", "use_device_decode"]

log = logging.getLogger(__name__)


def use_device_decode(cfg: DataConfig, device: torch.device) -> bool:
    """Whether the audit decodes JPEGs on ``device`` (``data.decode`` resolved).

    ``auto`` means: on a CUDA device, unless faces are detected automatically (the detector
    runs on the decoded pixels in the workers). ``device`` and ``auto: [face]`` together are
    refused by the config.
    """
    if cfg.decode == "workers":
        return False
    if cfg.decode == "device":
        return True
    faces = cfg.regions is not None and "face" in cfg.regions.auto
    return device.type == "cuda" and not faces


def plain_jpeg_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` of a JPEG the device decoder handles as-is, else None.

    Reads the header only. Plain means RGB or grayscale (not CMYK) and EXIF orientation 1.
    """
    try:
        with Image.open(path) as img:
            if img.format != "JPEG" or img.mode not in ("RGB", "L"):
                return None
            if exif_orientation(img) != 1:
                return None
            width, height = img.size
    except Exception:  # noqa: BLE001 - the worker path reports unreadable files
        return None
    return height, width


class EncodedJpegDataset(torch.utils.data.Dataset):
    """An :class:`AuditDataset` whose plain JPEGs leave the worker still encoded.

    Items: ``{"jpeg": uint8 [L] file bytes or None, "image": uint8 [3,S,S] or None (set when
    ``jpeg`` is None), "hw": (H, W) of the file, "label", "masks": bool [R,S,S], "index",
    "id"}``. Use :meth:`collate` as the DataLoader's ``collate_fn`` and :meth:`images_on` to
    get the normalised ``float32 [B,3,S,S]`` batch on the device.
    """

    def __init__(self, base: AuditDataset) -> None:
        if base.regions.auto_faces:
            raise ValueError("automatic face regions need the pixels in the workers")
        self.base = base
        self._fallback_logged = False

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, k: int) -> dict:
        row = self.base.rows[k]
        hw = plain_jpeg_size(Path(row.path))
        if hw is None:
            image, masks = self.base.resized(k)
            jpeg = None
        else:
            jpeg, image = read_image_bytes(Path(row.path)), None
            masks = self.base.masks_at(k, *hw)
        return {"jpeg": jpeg, "image": image, "hw": hw, "label": row.label, "masks": masks,
                "index": row.index, "id": row.id}

    @staticmethod
    def collate(batch: list[dict]) -> dict:
        """Items -> ``{"jpeg": uint8 [L1+...+LK] the K files' bytes end to end, "jpeg_len":
        long [K], "jpeg_pos": long [K], "jpeg_hw": long [K, 2], "jpeg_id": list[str], "image":
        uint8 [B-K,3,S,S], "image_pos": long [B-K], "label": long [B], "masks": bool
        [B,R,S,S], "index": long [B]}``.

        The bytes travel as ONE tensor: a worker hands each tensor of a batch to the main
        process as a shared-memory file descriptor, and the buffers ``torchvision.io.read_file``
        returns cannot be shared that way (``OSError: Bad file descriptor`` in the worker's
        feeder thread, and the loader waits forever)."""
        enc = [i for i, b in enumerate(batch) if b["jpeg"] is not None]
        dec = [i for i, b in enumerate(batch) if b["jpeg"] is None]
        side = batch[0]["masks"].shape[-1]
        blobs = [batch[i]["jpeg"] for i in enc]
        return {
            "jpeg": torch.cat(blobs) if blobs else torch.zeros(0, dtype=torch.uint8),
            "jpeg_len": torch.as_tensor([len(b) for b in blobs], dtype=torch.long),
            "jpeg_pos": torch.as_tensor(enc, dtype=torch.long),
            "jpeg_hw": torch.as_tensor([batch[i]["hw"] for i in enc],
                                       dtype=torch.long).reshape(-1, 2),
            "jpeg_id": [batch[i]["id"] for i in enc],
            "image": (torch.stack([batch[i]["image"] for i in dec]) if dec
                      else torch.zeros((0, 3, side, side), dtype=torch.uint8)),
            "image_pos": torch.as_tensor(dec, dtype=torch.long),
            "label": torch.as_tensor([b["label"] for b in batch], dtype=torch.long),
            "masks": torch.stack([b["masks"] for b in batch]),
            "index": torch.as_tensor([b["index"] for b in batch], dtype=torch.long),
        }

    def images_on(self, batch: dict, device: torch.device) -> torch.Tensor:
        """Decode, resize and normalise a collated batch on ``device``.

        Returns:
            ``float32 [B, 3, S, S]`` on ``device``, in batch order.
        """
        size = self.base.size
        out = torch.empty((len(batch["index"]), 3, size, size), dtype=torch.uint8, device=device)
        if len(batch["image_pos"]):
            out[batch["image_pos"].to(device)] = batch["image"].to(device, non_blocking=True)
        if len(batch["jpeg_len"]):
            files = list(torch.split(batch["jpeg"], batch["jpeg_len"].tolist()))
            decoded = self._decode(files, batch["jpeg_id"], device)
            groups: dict[tuple[int, int], list[int]] = {}
            for j, (img, hw, sample_id) in enumerate(zip(decoded, batch["jpeg_hw"].tolist(),
                                                         batch["jpeg_id"], strict=True)):
                if tuple(img.shape[-2:]) != tuple(hw):
                    raise DataError(f"sample {sample_id}: decoded JPEG is "
                                    f"{img.shape[-2]}x{img.shape[-1]}, its header says "
                                    f"{hw[0]}x{hw[1]}")
                groups.setdefault((hw[0], hw[1]), []).append(j)
            pos = batch["jpeg_pos"].tolist()
            for (h, w), members in groups.items():  # one resize per distinct file size
                geo = plan_geometry(h, w, size, self.base.resize)  # type: ignore[arg-type]
                resized = apply_image(torch.stack([decoded[j] for j in members]), geo)
                out[torch.as_tensor([pos[j] for j in members], device=device)] = resized
        return normalize_image(out, self.base.mean, self.base.std)

    def _decode(self, data: list[torch.Tensor], ids: list[str],
                device: torch.device) -> list[torch.Tensor]:
        from torchvision.io import ImageReadMode, decode_jpeg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
            except RuntimeError as err:
                if device.type != "cpu" and not self._fallback_logged:
                    log.warning("JPEG decoding on %s failed (%s); decoding such batches on "
                                "the CPU", device, str(err).splitlines()[0])
                    self._fallback_logged = True
            out = []
            for one, sample_id in zip(data, ids, strict=True):  # find the culprit, if any
                try:
                    img = decode_jpeg(one, mode=ImageReadMode.RGB, device="cpu")
                except RuntimeError:  # libjpeg refuses what PIL accepted at load time
                    pixels = load_image(one.numpy().tobytes(), sample_id=sample_id)
                    img = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
                out.append(img.to(device, non_blocking=True))
            return out

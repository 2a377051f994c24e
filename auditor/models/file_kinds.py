"""What a weights file is when ``torch.load`` cannot read it, and ``.safetensors`` files.

A download that returned a web page, a Git LFS pointer checked out without ``git lfs pull``, a
JSON config given as checkpoint: torch's own message for those ("Unsupported operand 118",
``KeyError: 101``) reads like a pickle needing code. The first bytes say what they are.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import torch

from auditor.errors import ModelError

__all__ = ["describe_unreadable", "is_safetensors", "pickle_protocol", "read_safetensors"]

_SNIFF = 4096


def _head(path: Path, n: int = _SNIFF) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _text_kind(head: bytes) -> str | None:
    """``" (an HTML page)"``, ``" (JSON)"``, ``""`` for bytes that read as text, else None."""
    if b"\0" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 4:  # not a multi-byte character cut at the end
            return None
        text = head[:err.start].decode("utf-8")
    if any(not (c.isprintable() or c in "\t\r\n\f") for c in text):
        return None
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith(("<!doctype html", "<html", "<head", "<body", "<?xml")):
        return " (an HTML page)"
    if start.startswith(("{", "[")):
        return " (JSON)"
    return ""


def describe_unreadable(path: Path) -> str | None:
    """What ``path`` is when it can be told from its first bytes (empty, a Git LFS pointer,
    text, a zip archive torch did not write), else None."""
    path = Path(path)
    head = _head(path)
    if not head:
        return "an empty file (0 bytes), not a PyTorch checkpoint"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the weights: run git lfs pull"
    kind = _text_kind(head)
    if kind is not None:
        return f"a text file{kind}, not a PyTorch checkpoint"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (OSError, zipfile.BadZipFile):
            names = []
        if not any(n.endswith("data.pkl") for n in names):
            return "a zip archive without a PyTorch checkpoint in it"
    return None


def pickle_protocol(path: Path) -> int | None:
    """The protocol of a pickle of protocol 2 or more (it opens with PROTO), else None."""
    head = _head(Path(path), 2)
    return head[1] if len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5 else None


def is_safetensors(path: Path) -> bool:
    """A ``.safetensors`` file (by name, or by its header: a little-endian 64-bit length
    followed by that many bytes of JSON)."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return True
    head = _head(path, 9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (size,) = struct.unpack("<Q", head[:8])
    try:
        return 2 <= size <= path.stat().st_size - 8
    except OSError:
        return False


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file (with the optional ``safetensors`` package).

    Raises:
        ModelError: the package missing (how to install it), or a file it cannot read.
    """
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ModelError(f"{path}: a .safetensors file, which needs the safetensors package: "
                         "pip install safetensors (or save the weights with torch.save("
                         "model.state_dict(), path))") from None
    try:
        return dict(load_file(str(path), device="cpu"))
    except Exception as err:  # noqa: BLE001  (the library raises its own error types)
        text = " ".join(str(err).split())[:200] or type(err).__name__
        raise ModelError(f"{path}: not a readable .safetensors file ({text})") from None

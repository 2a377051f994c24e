"""Helpers of the reliability tests: tiny on-disk datasets, configs and CLI assertions."""

from __future__ import annotations

import csv
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from typer.testing import CliRunner

from auditor.cli import app

# the two classes of the tiny manifest dataset and its attribute values
CLASSES = ("doctor", "nurse")
ATTR_VALUES = ("dark", "blond")


REPO = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """Environment for ``python -m auditor`` in a subprocess: this checkout's package first
    (whatever the working directory), one thread."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _default_sigint() -> None:
    # A test run started in the background of a non-interactive shell (CI wrappers, `make &`)
    # inherits SIGINT as ignored, and so would the child: Ctrl-C tests need the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_until(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    """Poll ``ready()`` every 50 ms until it holds, ``proc`` ends or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)


def cli_popen(*args, cwd: Path, **kw) -> subprocess.Popen:
    """Start ``python -m auditor ARGS`` (stdout and stderr captured as text, Ctrl-C live)."""
    return subprocess.Popen([sys.executable, "-m", "auditor", *[str(a) for a in args]],
                            cwd=cwd, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint, **kw)


def cli_run(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m auditor ARGS`` to the end in a subprocess (a crash there, e.g. a
    segmentation fault, shows as a negative return code instead of killing pytest)."""
    return subprocess.run([sys.executable, "-m", "auditor", *[str(a) for a in args]],
                          cwd=cwd, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def invoke(*args: str):
    """Run the ``audit`` CLI in-process and return typer's result."""
    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(result) -> list[str]:
    """The output lines that start with ``error:``."""
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def assert_one_line_error(result, *needles: str) -> str:
    """Exit code 1, exactly one ``error:`` line containing every needle, no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(result.exception))
    assert "Traceback" not in result.output, result.output
    lines = error_lines(result)
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write_png(path: Path, seed: int, size: int = 32) -> Path:
    """A small random RGB PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def random_idat_png(path: Path, seed: int, size: int = 32) -> Path:
    """A PNG with a valid header and valid chunk CRCs whose IDAT bytes are random: PIL's
    ``verify`` accepts it, torchvision's libpng binding dies on it (segmentation fault)."""
    rng = np.random.default_rng(seed)
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    idat = b"\x78\x9c" + rng.integers(0, 256, 600, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat)
                     + _chunk(b"IEND", b""))
    return path


def forged_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR claims ``width x height`` pixels (a decompression bomb's header);
    the single IDAT chunk holds one compressed row, so the file is tiny."""
    chunk = _chunk
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def read_summary(run: Path) -> dict:
    """``run/summary.json``."""
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def skipped_reasons(run: Path) -> dict[str, str]:
    """``{id: reason}`` of the samples the run in ``run`` skipped."""
    return {s["id"]: s["reason"] for s in read_summary(run)["dataset"]["skipped"]}


def make_manifest_dataset(folder: Path, *, classes=CLASSES, attr_values=ATTR_VALUES,
                          n_train: int = 8, n_test: int = 4, test_split: str = "test",
                          names: dict[int, str] | None = None,
                          extra_rows: list[tuple[str, str, str, str]] = ()) -> Path:
    """Write 32 px PNGs, ``manifest.csv`` (path,label,split,hair) and a COCO ``regions.json``
    (one ``object`` box per image). Returns the manifest path.

    Args:
        folder: the data root.
        classes: class names (any text: they only appear in the CSV).
        attr_values: the two values of the ``hair`` attribute.
        n_train: train images per class.
        n_test: test images per class (their split is ``test_split``).
        names: optional file names by image number (default ``img_NNN.png``).
        extra_rows: rows ``(path, label, split, hair)`` appended as they are (no file written).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows, images, anns = [], [], []
    k = 0
    for label in classes:
        for split, n in (("train", n_train), (test_split, n_test)):
            for _ in range(n):
                name = (names or {}).get(k, f"img_{k:03d}.png")
                write_png(folder / name, seed=k)
                rows.append((name, label, split, attr_values[k % len(attr_values)]))
                images.append({"id": k + 1, "file_name": name, "width": 32, "height": 32})
                anns.append({"id": k + 1, "image_id": k + 1, "category_id": 1,
                             "bbox": [8, 8, 16, 16], "iscrowd": 0, "area": 256})
                k += 1
    rows += list(extra_rows)
    manifest = folder / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "split", "hair"])
        writer.writerows(rows)
    (folder / "regions.json").write_text(json.dumps({
        "images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "object"}]}), encoding="utf-8")
    return manifest


def manifest_config(folder: Path, manifest: Path, **overrides) -> Path:
    """A one-model config over ``manifest`` (1 epoch, 32 px, html only); writes
    ``folder/config.yaml`` and returns it."""
    cfg = {
        "name": "reliability",
        "output_dir": "run",
        "seed": 0,
        "device": "cpu",
        "data": {"manifest": str(manifest), "attributes": ["hair"], "image_size": 32,
                 "normalize": "none",
                 "regions": {"format": "coco", "path": str(manifest.parent / "regions.json")}},
        "models": [{"name": "m", "train": {"epochs": 1, "batch_size": 16}}],
        "saliency": {"methods": ["gradcam"], "batch_size": 16},
        "analysis": {"n_bootstrap": 100, "reliance": False, "sanity_check": False},
        "report": {"formats": ["html"], "examples_per_group": 1},
    }
    cfg.update(overrides)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def comparable(summary: dict) -> dict:
    """summary.json without what legitimately differs between runs (time, machine paths)."""
    out = json.loads(json.dumps(summary))
    out.pop("created", None)
    env = out.get("environment", {})
    for key in ("platform",):
        env.pop(key, None)
    for meta in out.get("training", {}).values():
        for key in ("checkpoint", "pretrained"):
            meta.pop(key, None)
        hist = meta.get("history")
        if isinstance(hist, dict):
            hist.pop("seconds", None)
    return out

"""End-to-end throughput and peak memory of ``audit run`` as the dataset grows.

    python bench/e2e.py --n 1000,10000 --arch resnet50 --size 224 --device cuda --workers 8

For each N it writes N synthetic JPEGs (``--size`` px, two classes, a ``hair`` attribute) with
COCO regions (an ``object`` box and a ``face`` polygon per image), a random-init checkpoint of
``--arch`` (so nothing is trained: the bench measures the audit) and a config (Grad-CAM, region
metrics, reliance and sanity check at their defaults (``--no-sanity`` skips the latter, a cost
independent of N; ``--no-reliance`` the former), report ``--report``), then times
``audit run`` in a subprocess. Peak RSS is that subprocess's own ``ru_maxrss`` (``os.wait4``).
Datasets are cached under ``--work`` between runs; the timed run always starts ``--fresh``.

Targets: peak RSS at 10k within 15% of 1k (memory flat in dataset size); 50k images at 224 px
in under 60 s on one H100 (resnet50, Grad-CAM).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

STAGES = {  # run.log message -> stage that ends there
    "loaded": "data", "trained": "model", "reusing": "model", "audited": "audit",
    "accuracy": "analysis", "report written": "report", "run complete": "finish",
}


def _draw(job: tuple[Path, int, int, int]) -> tuple[str, dict, list[dict]]:
    """One image (its own seed, so the set is the same on any number of processes)."""
    folder, i, s, seed = job
    rng = np.random.default_rng([seed, i])
    label = ("doctor", "nurse")[i % 2]
    hair = ("dark", "blond")[int(rng.random() < 0.5)]
    noise = rng.integers(0, 60, (s, s, 3), dtype=np.uint8)
    img = Image.fromarray(noise + np.uint8(rng.integers(80, 160)))
    draw = ImageDraw.Draw(img)
    ox, oy = int(rng.integers(0, s // 2)), int(rng.integers(s // 3, s // 2))
    obj = [ox, oy, ox + s // 3, oy + s // 3]
    draw.rectangle(obj, fill=(200, 40, 40) if label == "doctor" else (40, 40, 200))
    fx, fy, r = int(rng.integers(s // 4, 3 * s // 4)), s // 6, s // 8
    draw.ellipse([fx - r, fy - r, fx + r, fy + r], fill=(230, 190, 160))
    draw.rectangle([fx - r, fy - r - r // 2, fx + r, fy - r // 2],
                   fill=(40, 30, 20) if hair == "dark" else (240, 220, 120))
    name = f"images/{i:06d}.jpg"
    img.save(folder / name, quality=90)
    face = [c for k in range(8) for c in (fx + r * np.cos(k * np.pi / 4),
                                           fy + r * np.sin(k * np.pi / 4))]
    anns = [{"id": 2 * i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
             "bbox": [obj[0], obj[1], s // 3, s // 3], "area": (s // 3) ** 2},
            {"id": 2 * i + 2, "image_id": i + 1, "category_id": 2, "iscrowd": 0,
             "segmentation": [[float(c) for c in face]], "area": 3.0 * r * r,
             "bbox": [fx - r, fy - r, 2 * r, 2 * r]}]
    image = {"id": i + 1, "file_name": name, "width": s, "height": s}
    return f"{name},{label},test,{hair}", image, anns


def write_dataset(folder: Path, n: int, size: int, seed: int = 0) -> Path:
    """N JPEGs + ``manifest.csv`` (all ``test``) + COCO ``regions.json``; cached by a stamp.
    Drawn on every CPU (each image has its own seed)."""
    stamp = folder / "params.json"
    params = {"n": n, "size": size, "seed": seed, "layout": 2}
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        return folder / "manifest.csv"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    jobs = [(folder, i, size, seed) for i in range(n)]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        drawn = list(pool.map(_draw, jobs, chunksize=256))
    rows = ["path,label,split,hair"] + [row for row, _, _ in drawn]
    images = [image for _, image, _ in drawn]
    anns = [a for _, _, pair in drawn for a in pair]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    (folder / "regions.json").write_text(json.dumps({
        "images": images, "annotations": anns,
        "categories": [{"id": 1, "name": "object"}, {"id": 2, "name": "face"}]}))
    stamp.write_text(json.dumps(params))
    return folder / "manifest.csv"


def write_checkpoint(path: Path, arch: str) -> Path:
    """A random-init state_dict of ``arch`` with two classes (the audit needs no training)."""
    import torch

    from auditor.models import build_model

    if not path.is_file():
        torch.manual_seed(0)
        torch.save(build_model(arch, 2).state_dict(), path)
    return path


def write_config(folder: Path, manifest: Path, checkpoint: Path, args) -> Path:
    cfg = {
        "name": f"bench-{manifest.parent.name}", "output_dir": str(folder / "run"),
        "seed": 0, "device": args.device,
        "data": {"manifest": str(manifest), "attributes": ["hair"], "image_size": args.size,
                 "regions": {"format": "coco", "path": str(manifest.parent / "regions.json")},
                 "num_workers": args.workers, "decode": args.decode},
        "models": [{"name": "m", "arch": args.arch, "checkpoint": str(checkpoint),
                    "train": None}],
        "saliency": {"methods": args.methods.split(","), "batch_size": args.batch_size},
        "analysis": {"expected_regions": ["object"], "sanity_check": not args.no_sanity,
                     "reliance": not args.no_reliance},
        "report": {"formats": [f for f in args.report.split(",") if f]},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def stage_seconds(log: Path) -> dict[str, float]:
    """Seconds per stage from ``run.log`` timestamps (each stage ends at its log line)."""
    out: dict[str, float] = {}
    prev = None
    for line in log.read_text().splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+: (.*)", line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if prev is None:
            prev = t
            continue
        for needle, stage in STAGES.items():
            if needle in m.group(2):
                out[stage] = out.get(stage, 0.0) + t - prev
                prev = t
                break
    return out


def run_once(config: Path, profile: Path | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MiB, exit status) of ``audit run --fresh config``; with
    ``profile``, under cProfile (its stats written there)."""
    prof = ["-m", "cProfile", "-o", str(profile)] if profile else []
    cmd = [sys.executable, *prof, "-m", "auditor", "run", str(config), "--fresh", "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        sys.stderr.write(err[-2000:])
    return wall, usage.ru_maxrss // 1024, proc.returncode  # ru_maxrss is KiB on Linux


def print_profile(path: Path, top: int = 30) -> None:
    """The ``top`` functions by own time, then auditor's by cumulative time, of a cProfile
    stats file."""
    import pstats

    for key, only in (("tottime", ""), ("cumulative", "auditor/")):
        print(f"    -- cProfile, top {top} by {key} {'(auditor only)' if only else ''}--")
        buf = io.StringIO()
        pstats.Stats(str(path), stream=buf).sort_stats(key).print_stats(only, top)
        lines = buf.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print("\n".join("    " + line[:160] for line in lines[start:] if line.strip()),
              flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", default="1000,10000", help="comma-separated dataset sizes")
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--size", type=int, default=224, help="image side in pixels")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="data.num_workers")
    p.add_argument("--decode", default="auto", choices=["auto", "workers", "device"],
                   help="data.decode (auto: JPEGs decoded on the GPU on a CUDA run)")
    p.add_argument("--methods", default="gradcam")
    p.add_argument("--no-sanity", action="store_true",
                   help="skip the saliency sanity check (a cost independent of N)")
    p.add_argument("--no-reliance", action="store_true",
                   help="skip the reliance test (one extra forward per image on a hidden copy)")
    p.add_argument("--report", default="", help="report formats, e.g. html (default: none)")
    p.add_argument("--work", type=Path, default=Path("/tmp/auditor-bench"))
    p.add_argument("--profile", type=Path, default=None,
                   help="run under cProfile, write the stats to this folder and print the top "
                        "functions by own time (where the time goes)")
    args = p.parse_args(argv)
    sizes = [int(v) for v in args.n.split(",") if v.strip()]
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = write_checkpoint(args.work / f"{args.arch}-random.pt", args.arch)
    print(f"arch {args.arch}, {args.size} px, device {args.device}, batch {args.batch_size}, "
          f"workers {args.workers}, decode {args.decode}, methods {args.methods}, "
          f"report {args.report or 'none'}, "
          f"sanity check {'off' if args.no_sanity else 'on'}, "
          f"reliance {'off' if args.no_reliance else 'on'}")
    print("| N | wall s | images/s | audit s | audit images/s | peak RSS MiB | RSS vs first |")
    print("|---|---|---|---|---|---|---|")
    first_rss = None
    for n in sizes:
        manifest = write_dataset(args.work / f"data-{n}-{args.size}", n, args.size)
        config = write_config(args.work / f"run-{n}-{args.size}-{args.arch}", manifest,
                              checkpoint, args)
        profile = args.profile / f"e2e-{n}-{args.decode}.prof" if args.profile else None
        wall, rss, code = run_once(config, profile)
        if code != 0:
            print(f"| {n} | failed (exit {code}) | | | | | |")
            continue
        stages = stage_seconds(config.parent / "run" / "run.log")
        audit = stages.get("audit", float("nan"))
        first_rss = first_rss or rss
        print(f"| {n} | {wall:.1f} | {n / wall:.1f} | {audit:.1f} | {n / audit:.1f} | {rss} | "
              f"{rss / first_rss:.2f}x |", flush=True)
        print("    stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()),
              flush=True)
        if profile:
            print_profile(profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

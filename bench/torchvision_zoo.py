"""Does every torchvision classification model audit end to end with ``target_layer: auto``?

    python bench/torchvision_zoo.py [--only resnet18,vit_b_16] [--out zoo.json] [--timeout 900]

For each name in ``torchvision.models.list_models(module=torchvision.models)`` it writes a
random-init checkpoint (the head sized for two classes) and a config auditing ONE test image of
the synthetic clinic data (Grad-CAM, reliance test, one-step sanity check; ``--report`` adds the
HTML report, which does not depend on the architecture), then runs ``audit run`` in a
fresh subprocess (``--in-process``: one process for all, which saves the start-up per model;
``--resume`` skips models already in ``--out``). The input is 64 px, or the smallest size the
model accepts when 64 is too small or not a multiple of its patches (inception_v3 96,
maxvit_t 224, vit_h_14 56). One line per model: ok / FAIL, the resolved target layer and map
size, seconds; a JSON table with ``--out``; the count at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"inception_v3": 96, "maxvit_t": 224, "vit_h_14": 56}  # (64 otherwise)

_CHILD = r"""
import json, torch
from pathlib import Path
from auditor.config import load_config
from auditor.models import build_model, state_dict_bytes
from auditor.pipeline.run import run_audit
folder, arch, size = Path(ARGS[0]), ARGS[1], int(ARGS[2])
torch.manual_seed(0)
(folder / "w.pt").write_bytes(state_dict_bytes(build_model(arch, 2, image_size=size)))
result = run_audit(load_config(folder / "config.yaml"), overwrite=True, fresh=True)
m = result.summary["models"][arch]
print("RESULT " + json.dumps({"target_layer": m["target_layer"], "map_size": m["map_size"],
                              "n": m["n"], "findings": [f["kind"] for f in m["findings"]]}))
"""


def _params(arch: str) -> int:
    """Parameter count from torchvision's weights metadata (no download)."""
    from torchvision import models

    return int(models.get_model_weights(arch).DEFAULT.meta.get("num_params", 0))


def _data(work: Path) -> Path:
    """Synthetic PNGs once, then a manifest with two train rows and ONE test row."""
    import pandas as pd

    from auditor.config import SyntheticConfig
    from auditor.data.synthetic import generate_clinic

    folder = work / "data"
    manifest = folder / "one.csv"
    if not manifest.exists():
        full = generate_clinic(folder, SyntheticConfig(n_train=8, n_val=0, n_test=4,
                                                       image_size=64), seed=0)
        table = pd.read_csv(full)
        one = pd.concat([table[table["split"] == "train"].head(2),
                         table[table["split"] == "test"].head(1)])
        one.to_csv(manifest, index=False)
    return manifest


def _config(folder: Path, arch: str, size: int, manifest: Path, report: bool) -> None:
    cfg = {"name": arch, "output_dir": str(folder / "run"), "device": "cpu", "seed": 0,
           "data": {"manifest": str(manifest), "attributes": ["hair"],
                    "regions": {"format": "coco", "path": str(manifest.parent / "regions.json")},
                    "image_size": size},
           "models": [{"name": arch, "arch": arch, "checkpoint": "w.pt"}],
           "saliency": {"methods": ["gradcam"], "target_layer": "auto", "batch_size": 1},
           "analysis": {"n_bootstrap": 50, "sanity_layers": "full"},
           "report": {"formats": ["html"] if report else []}}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))


def _in_process(folder: Path, arch: str, size: int) -> tuple[str, int]:
    """The child's work in this process: (output, return code)."""
    import contextlib
    import gc
    import io

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(_CHILD, "<zoo child>", "exec"),  # noqa: S102  (our own snippet)
                 {"__name__": "zoo_child", "ARGS": [str(folder), arch, str(size)]})
        rc = 0
    except Exception as err:  # noqa: BLE001  (a model that fails is a result, not a crash)
        buf.write(f"\n{type(err).__name__}: {' '.join(str(err).split())}")
        rc = 1
    gc.collect()
    return buf.getvalue(), rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--work", default="/tmp/auditor_zoo")
    ap.add_argument("--out", default="")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--report", action="store_true", help="also write the HTML report")
    ap.add_argument("--in-process", action="store_true", help="no subprocess per model")
    ap.add_argument("--resume", action="store_true", help="skip models already in --out")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from auditor.models.torchvision_zoo import torchvision_names

    names = [n for n in args.only.split(",") if n] or list(torchvision_names())
    names.sort(key=_params)  # smallest first: most models are counted early
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    manifest = _data(work)
    rows = []
    if args.resume and args.out and Path(args.out).exists():
        rows = json.loads(Path(args.out).read_text())
        names = [n for n in names if n not in {r["arch"] for r in rows}]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for arch in names:
        size = SIZES.get(arch, 64)
        folder = work / arch
        folder.mkdir(exist_ok=True)
        _config(folder, arch, size, manifest, args.report)
        t0 = time.perf_counter()
        if args.in_process:
            out, rc = _in_process(folder, arch, size)
        else:
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", "import sys\nARGS = sys.argv[1:]\n" + _CHILD,
                     str(folder), arch, str(size)],
                    capture_output=True, text=True, timeout=args.timeout, env=env, cwd=ROOT)
                out, rc = proc.stdout + proc.stderr, proc.returncode
            except subprocess.TimeoutExpired:
                out, rc = f"timed out after {args.timeout} s", -1
        seconds = round(time.perf_counter() - t0, 1)
        line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
        row = {"arch": arch, "size": size, "seconds": seconds, "ok": rc == 0 and bool(line)}
        if row["ok"]:
            row.update(json.loads(line[7:]))
        else:
            row["error"] = (out.strip().splitlines() or ["?"])[-1][:300]
        rows.append(row)
        detail = (f"{row['target_layer']} {row['map_size']}" if row["ok"] else row["error"])
        print(f"{'ok  ' if row['ok'] else 'FAIL'} {arch:<20} {size:>4}px {seconds:>6.1f}s  "
              f"{detail}", flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1))
    n_ok = sum(r["ok"] for r in rows)
    print(f"{n_ok} of {len(rows)} torchvision classification models audit end to end "
          "with target_layer: auto")
    return 0 if n_ok == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

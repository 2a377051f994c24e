"""Wall time and peak memory of the commands a user runs on the demo, against their targets.

    python bench/commands.py              # the demo run, then report and compare (~3 min)
    python bench/commands.py --light      # only report and compare, on existing runs

Targets (2 quiet CPU cores): ``audit run sample_configs/clinic_demo.yaml`` (what ``make demo``
runs; fresh: data generated, two models trained) under 60 s; ``audit report runs/clinic-demo
--no-pdf`` and ``audit compare runs/clinic-demo runs/clinic-after --model-a baseline`` each
under 3 s and 300 MB peak RSS (they only read files: no torch, and compare no matplotlib).
Each light command runs ``--repeat`` times; the median is compared with the target.
The README's before/after walkthrough makes ``runs/clinic-after`` when it is missing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIT = [sys.executable, "-m", "auditor"]
DEMO, AFTER = ROOT / "runs/clinic-demo", ROOT / "runs/clinic-after"


def timed(args: list[str]) -> tuple[float, float]:
    """Run ``audit ARGS`` in a subprocess: (wall seconds, peak RSS in MB); raise on failure."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*AUDIT, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"audit {' '.join(args)} failed: {proc.stderr.read().decode()[-800:]}")
    return wall, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--light", action="store_true", help="skip the demo run")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    rows: list[tuple[str, float, float, float, float | None]] = []
    if not args.light:
        wall, rss = timed(["run", "sample_configs/clinic_demo.yaml", "--overwrite", "--fresh"])
        rows.append(("audit run clinic_demo.yaml (fresh)", wall, rss, 60.0, None))
    if not (AFTER / "summary.json").is_file():
        timed(["rebalance", "sample_configs/clinic_demo.yaml", "--by", "hair", "--strategy",
               "oversample", "--out", "runs/clinic-train-balanced.csv"])
        timed(["run", "sample_configs/clinic_after.yaml"])
    for name, cmd in (("audit report --no-pdf", ["report", str(DEMO), "--no-pdf"]),
                      ("audit compare", ["compare", str(DEMO), str(AFTER), "--model-a",
                                         "baseline"])):
        runs = [timed(cmd) for _ in range(args.repeat)]
        rows.append((name, statistics.median(w for w, _ in runs), max(r for _, r in runs),
                     3.0, 300.0))
    failed = 0
    print(f"{'command':<38} {'wall s':>7} {'target':>7} {'RSS MB':>7} {'target':>7}")
    for name, wall, rss, t_wall, t_rss in rows:
        ok = wall <= t_wall and (t_rss is None or rss <= t_rss)
        failed += not ok
        print(f"{name:<38} {wall:7.2f} {t_wall:7.0f} {rss:7.0f} "
              f"{'' if t_rss is None else f'{t_rss:.0f}':>7}  {'ok' if ok else 'OVER'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""How often the ``slice`` rule finds a planted subgroup, and how often it names one that is
not there, on simulated per-sample tables (no model, seconds).

    python bench/slice_power.py            # 100 tables per setting
    python bench/slice_power.py --reps 500

Each table has 4 classes and two attributes drawn independently of the class (``tint``: 2
values, ``patch``: 3), a base error rate of 8%, and ``n`` samples per class. Settings:

* **planted**: class 1 with ``patch=red`` errs ``effect`` more often (a real subgroup). Counted:
  the finding naming exactly that cell, by severity.
* **harder class**: class 0 errs ``effect`` more often for every attribute value (no subgroup).
  Counted: any finding that names a subgroup (an attribute condition), by severity; a finding
  about class 0 alone is right.

docs/findings.md ("Calibration") holds the last results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.metrics.findings import slice_findings  # noqa: E402
from auditor.metrics.slices import find_slices  # noqa: E402

ATTRS = ("tint", "patch")


def table(rng: np.random.Generator, n_per_class: int, *, planted: float = 0.0,
          harder: float = 0.0) -> pd.DataFrame:
    """One simulated per-sample table (``label``, ``tint``, ``patch``, ``correct``)."""
    label = np.repeat(np.arange(4), n_per_class)
    tint = rng.choice(["warm", "cool"], label.size)
    patch = rng.choice(["red", "green", "blue"], label.size)
    p = 0.08 + harder * (label == 0) + planted * ((label == 1) & (patch == "red"))
    return pd.DataFrame({"label": label.astype(str), "tint": tint, "patch": patch,
                         "correct": rng.random(label.size) >= p})


def grade(df: pd.DataFrame, target: dict[str, str] | None) -> str | None:
    """The severity of the finding naming ``target``, or (None) of the strongest finding that
    names any subgroup."""
    found = slice_findings(find_slices(df, list(ATTRS)), gap_threshold=0.1)
    if target is not None:
        return next((f.severity for f in found if f.evidence["features"] == target), None)
    subgroup = [f.severity for f in found if set(f.evidence["features"]) != {"label"}]
    return next((s for s in ("high", "medium") if s in subgroup), None)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print("| setting | samples per class (cell) | high | medium | not found / none |")
    print("|---|---|---|---|---|")
    for kind, n in (("planted", 120), ("planted", 240), ("planted", 450),
                    ("harder class", 120), ("harder class", 240)):
        counts = {"high": 0, "medium": 0, None: 0, "low": 0}
        for _ in range(args.reps):
            if kind == "planted":
                sev = grade(table(rng, n, planted=0.3), {"label": "1", "patch": "red"})
            else:
                sev = grade(table(rng, n, harder=0.3), None)
            counts[sev] += 1
        print(f"| {kind} (+30 points) | {n} ({n // 3}) | {counts['high']} | {counts['medium']} | "
              f"{counts[None] + counts['low']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

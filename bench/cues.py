"""Validity of the unannotated-cue findings: a planted corner mark nobody annotated.

    python bench/cues.py --seeds 0,1,2 --work /tmp/cues-bench [--only planted|null]

Case ``corner_mark`` (reusable: :func:`corner_mark_config`, :func:`corner_mark_row`): the clinic
generator with ``synthetic.corner_mark`` set paints a small red square in the top-left corner
(``auditor.data.synthetic.MARK_BOX``), in no region annotation. Hair is independent of the
class (``bias: 0.5``), so the mark is the only shortcut.

* planted (``--agree 0.95``): in the train split the mark agrees with the class in 95% of the
  images; a hotspot or concept finding must flag it (medium or high) on every seed, located at
  the mark (a hotspot whose box overlaps the mark, or a concept whose strongest patches lie on
  the mark in most of its top images);
* independent (``--null 0.5``): the mark is independent of the class; no ``high`` hotspot or
  concept finding may be raised.

Prints one row per (seed, setting) and a verdict; ``--json`` writes the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from auditor.config import parse_config  # noqa: E402
from auditor.data.synthetic import MARK_BOX  # noqa: E402
from auditor.pipeline import run_audit  # noqa: E402

SEVERITY_RANK = {"high": 2, "medium": 1, "low": 0}


def corner_mark_config(out_dir: Path, seed: int, agree: float, *, n_train: int = 1000,
                       n_test: int = 400, epochs: int = 5) -> dict[str, Any]:
    """The config of one corner-mark audit (one simple CNN, no PDF)."""
    return {
        "name": f"corner-mark-{agree}-s{seed}", "output_dir": str(out_dir), "seed": seed,
        "device": "auto",
        "data": {"synthetic": {"kind": "clinic", "n_train": n_train, "n_val": 100,
                               "n_test": n_test, "bias": 0.5, "image_size": 64,
                               "corner_mark": agree},
                 "image_size": 64, "normalize": "none"},
        "models": [{"name": "model", "arch": "simple_cnn",
                    "train": {"epochs": epochs, "lr": 0.003, "batch_size": 64}}],
        "saliency": {"methods": ["gradcam"], "batch_size": 128},
        "analysis": {"expected_regions": ["object"], "sanity_check": False},
        "report": {"formats": ["html"], "examples_per_group": 2},
    }


def _overlaps(box: list[float], mark: tuple[float, ...]) -> bool:
    return box[0] < mark[2] and mark[0] < box[2] and box[1] < mark[3] and mark[1] < box[3]


def _concept_on_mark(item: dict[str, Any], grid: list[int]) -> bool:
    """Most of the concept's strongest positions lie within 2.5 grid cells of the mark's
    centre (a target-layer position sees well beyond its own cell)."""
    top = item.get("top") or []
    if not top or not grid[0]:
        return False
    h, w = grid
    my, mx = (MARK_BOX[1] + MARK_BOX[3]) / 2 * h, (MARK_BOX[0] + MARK_BOX[2]) / 2 * w
    hits = sum(max(abs(t["row"] + 0.5 - my), abs(t["col"] + 0.5 - mx)) <= 2.5 for t in top)
    return hits * 2 > len(top)


def corner_mark_row(summary: dict[str, Any]) -> dict[str, Any]:
    """Hits of one audited run: severities of hotspot / concept findings on and off the mark."""
    m = next(iter(summary["models"].values()))
    grid = m.get("concepts", {}).get("grid", [0, 0])
    items = {c["concept"]: c for c in m.get("concepts", {}).get("items", [])}
    on_mark, off_mark = [], []
    for f in m["findings"]:
        ev = f["evidence"]
        if f["kind"] == "hotspot":
            hit = _overlaps(ev["box"], MARK_BOX)
        elif f["kind"] == "concept":
            hit = _concept_on_mark(items.get(ev["concept"], {}), grid)
        else:
            continue
        (on_mark if hit else off_mark).append(f"{f['kind']}:{f['severity']}")
    best = max((SEVERITY_RANK[s.split(":")[1]] for s in on_mark), default=-1)
    worst_any = max((SEVERITY_RANK[s.split(":")[1]] for s in on_mark + off_mark), default=-1)
    return {"accuracy": m["metrics"]["accuracy"], "on_mark": on_mark, "off_mark": off_mark,
            "flagged": best >= 1, "any_high": worst_any >= 2,
            "n_hotspots": len(m.get("hotspots", []))}


def run_case(work: Path, seed: int, agree: float, **kw: Any) -> dict[str, Any]:
    out = work / f"agree{agree}-s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    raw = corner_mark_config(out / "run", seed, agree, **kw)
    (out / "config.yaml").write_text(yaml.safe_dump(raw))
    cfg = parse_config(raw, base_dir=out)
    t0 = time.perf_counter()
    result = run_audit(cfg, overwrite=True)
    row = corner_mark_row(result.summary)
    return {"seed": seed, "agree": agree, "seconds": round(time.perf_counter() - t0, 1), **row}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--agree", type=float, default=0.95)
    ap.add_argument("--null", type=float, default=0.5)
    ap.add_argument("--work", type=Path, default=Path("/tmp/auditor-bench-cues"))
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=400)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", choices=["planted", "null"], default=None,
                    help="run one setting only")
    ap.add_argument("--epochs", type=int, default=5)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows = []
    settings = {"planted": [args.agree], "null": [args.null], None: [args.agree, args.null]}
    for agree in settings[args.only]:
        for seed in seeds:
            row = run_case(args.work, seed, agree, n_train=args.n_train, n_test=args.n_test,
                           epochs=args.epochs)
            rows.append(row)
            print(f"agree={agree:<5} seed={seed} acc={row['accuracy']:.3f} "
                  f"hotspots={row['n_hotspots']} on-mark={','.join(row['on_mark']) or '-'} "
                  f"off-mark={','.join(row['off_mark']) or '-'} ({row['seconds']} s)",
                  flush=True)
    planted = [r for r in rows if r["agree"] == args.agree]
    null = [r for r in rows if r["agree"] == args.null]
    hits = sum(r["flagged"] for r in planted)
    false_high = sum(r["any_high"] for r in null)
    print(f"planted: flagged on the mark in {hits}/{len(planted)} seeds; "
          f"independent: high hotspot/concept findings in {false_high}/{len(null)} seeds")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if hits == len(planted) and false_high == 0 else 1


def rescore(work: Path) -> list[dict[str, Any]]:
    """Score the runs already under ``work`` again, concept findings recomputed with the
    current rules from the summary's ``concepts`` block (hotspot findings need the samples)."""
    from auditor.metrics.cue_findings import concept_findings

    rows = []
    for path in sorted(work.glob("agree*-s*/run/summary.json")):
        agree, seed = path.parts[-3][5:].rsplit("-s", 1)
        summary = json.loads(path.read_text())
        for m in summary["models"].values():
            kept = [f for f in m["findings"] if f["kind"] != "concept"]
            m["findings"] = kept + [f.to_dict() for f in
                                    concept_findings(m["concepts"]["items"])]
        rows.append({"agree": float(agree), "seed": int(seed), **corner_mark_row(summary)})
    return rows


if __name__ == "__main__":
    sys.exit(main())

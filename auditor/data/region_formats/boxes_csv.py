"""Boxes in a CSV file (``regions: {format: boxes_csv, path: boxes.csv}``).

Columns ``path,region,x,y,w,h``: one row per box, in pixels of the displayed image, ``x, y``
the top-left corner. Several rows may share a path and region (their union is the mask).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from auditor.config import RegionsConfig
from auditor.data.csv_files import read_csv
from auditor.data.regions import RegionSource, match_names, register_region_format
from auditor.errors import DataError

LAYOUT = ("boxes_csv, path FILE.csv with columns path,region,x,y,w,h: one row per box in "
          "pixels of the original image, (x, y) its top-left corner, path as in the manifest "
          "(relative to data.root, or a unique base name); rows sharing path and region are "
          "united")

__all__ = ["BoxRegions"]

COLUMNS = ("path", "region", "x", "y", "w", "h")


@dataclass
class BoxRegions(RegionSource):
    """Boxes grouped by sample id: ``{id: [(region, x, y, w, h), ...]}``."""

    boxes: dict[str, list[tuple[str, float, float, float, float]]] = field(default_factory=dict)

    def masks(self, sample_id: str, height: int, width: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for region, x, y, w, h in self.boxes.get(sample_id, []):
            m = out.setdefault(region, np.zeros((height, width), dtype=bool))
            x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
            x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
            m[y0:y1, x0:x1] = True
        return out

    def problems(self, sizes: dict[str, tuple[int, int]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for sample_id, boxes in self.boxes.items():
            if sample_id not in sizes:
                continue
            h, w = sizes[sample_id]
            for region, x, y, bw, bh in boxes:
                if not all(math.isfinite(v) for v in (x, y, bw, bh)):
                    problem = "a coordinate is not finite"
                elif bw < 0 or bh < 0:
                    problem = "width and height must not be negative"
                elif not (-w <= x <= 2 * w and -h <= y <= 2 * h and bw <= 2 * w and bh <= 2 * h):
                    problem = f"the box lies far outside the {w}x{h} image"
                else:
                    continue
                out[sample_id] = f"{self.files[0]}: box of region {region!r}: {problem}"
                break
        return out


@register_region_format("boxes_csv")
def load_boxes(cfg: RegionsConfig, ids: list[str]) -> BoxRegions:
    """Read the box CSV and match its paths to the samples."""
    path = cfg.path
    if not path.is_file():
        raise DataError(f"{path}: not a regular file (a CSV of boxes is expected)")
    df = read_csv(path, "CSV of boxes", "set regions.path to a CSV with columns "
                  f"{','.join(COLUMNS)}")  # strings: a region called NA stays NA
    df.columns = [str(c).strip() for c in df.columns]  # "path, region, x" as written by hand
    for col in ("path", "region"):
        if col in df.columns:
            df[col] = df[col].str.strip()
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (boxes_csv needs "
                        f"{','.join(COLUMNS)}; found {','.join(map(str, df.columns))})")
    coords = df[["x", "y", "w", "h"]].apply(pd.to_numeric, errors="coerce")
    bad = coords.isna().any(axis=1) | (df["region"] == "") | (df["path"] == "")
    if bad.any():  # the index is the line of the file
        row = df.index[int(np.flatnonzero(bad.to_numpy())[0])]
        raise DataError(f"{path}: line {row}: path, region and numeric x,y,w,h are required")
    found, missing_names = match_names(df["path"].unique(), ids)
    src = BoxRegions(names=sorted(df["region"].unique()), files=[path])
    for row, (x, y, w, h) in zip(df.itertuples(index=False), coords.to_numpy(), strict=True):
        sample = found.get(row.path)
        if sample is not None:
            src.boxes.setdefault(sample, []).append((str(row.region), x, y, w, h))
    src.annotated = set(src.boxes)
    src.unmatched = len(missing_names)
    return src

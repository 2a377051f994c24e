"""Compare two run directories and render the comparison (HTML, PDF, JSON).

:func:`compare_runs` reads ``summary.json`` and ``samples.parquet`` of two runs (no model is
needed), refuses runs on different data, and calls
:func:`auditor.metrics.comparison.compare_models` on the shared audit-split samples.
:func:`render_compare_html` turns the result into a self-contained page
(``templates/compare.html.j2``), :func:`render_compare_pdf` prints it with weasyprint and
:func:`write_compare_outputs` writes ``compare.html``, ``compare.pdf`` and ``compare.json``
atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

from auditor.errors import CompareError
from auditor.metrics.comparison import Comparison, compare_models
from auditor.report.compare_page import (
    build_compare_context,
    render_compare_html,
    render_compare_pdf,
)

__all__ = [
    "CompareResult",
    "RunInfo",
    "build_compare_context",
    "compare_runs",
    "render_compare_html",
    "render_compare_pdf",
    "write_compare_outputs",
]

COMPARE_SCHEMA = "auditor.compare/1"


@dataclass
class RunInfo:
    """One side of a comparison.

    Attributes:
        path: the run directory.
        name: the run's ``name`` (report title) from summary.json.
        model: the model's name inside that run.
        label: the name the model has in the comparison (``"A:<model>"`` on a name clash).
        created: the run's ``created`` timestamp, if recorded.
    """

    path: Path
    name: str
    model: str
    label: str
    created: str | None = None

    def to_dict(self) -> dict:
        """Plain-dict form for JSON."""
        return {
            "path": str(self.path),
            "name": self.name,
            "model": self.model,
            "label": self.label,
            "created": self.created,
        }


@dataclass
class CompareResult:
    """Two runs compared on their shared samples.

    Attributes:
        run_a: the baseline side.
        run_b: the candidate side.
        comparison: the paired statistics (baseline = run A's model).
        audit_split: the split both runs audited (``None`` if not recorded).
        classes: class names, shared by both runs.
        regions: region names, shared by both runs.
        attributes: attribute columns present in both runs.
        methods: saliency methods present in both runs (run A's order).
    """

    run_a: RunInfo
    run_b: RunInfo
    comparison: Comparison
    audit_split: str | None
    classes: list[str]
    regions: list[str]
    attributes: list[str]
    methods: list[str]

    def to_dict(self) -> dict:
        """The ``compare.json`` document (schema ``auditor.compare/1``)."""
        return {
            "schema": COMPARE_SCHEMA,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "runs": {"a": self.run_a.to_dict(), "b": self.run_b.to_dict()},
            "dataset": {
                "audit_split": self.audit_split,
                "n_samples": self.comparison.n,
                "classes": self.classes,
                "regions": self.regions,
                "attributes": self.attributes,
                "methods": self.methods,
            },
            "comparisons": [self.comparison.to_dict()],
        }


def compare_runs(
    run_a: Path,
    run_b: Path,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
    level: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
) -> CompareResult:
    """Compare a model of run A (baseline) with a model of run B (candidate).

    Each run's model defaults to the one named ``baseline`` if there is one, else its first
    model (summary.json order). Samples are matched by id on the audit split.

    Args:
        run_a: run directory of the baseline (holds summary.json and samples.parquet).
        run_b: run directory of the candidate.
        model_a: model of run A to use.
        model_b: model of run B to use.
        level: confidence level of the intervals.
        seed: bootstrap seed.
        n_boot: bootstrap resamples.

    Returns:
        The :class:`CompareResult`.

    Raises:
        CompareError: a file is missing or unreadable, a model is unknown, or the runs differ
            in classes, regions, audit split, sample ids or labels.
    """
    sum_a, tab_a = _read_run(Path(run_a))
    sum_b, tab_b = _read_run(Path(run_b))
    ds_a, ds_b = sum_a.get("dataset", {}), sum_b.get("dataset", {})
    for key in ("classes", "regions"):
        va, vb = ds_a.get(key), ds_b.get(key)
        if va is not None and vb is not None and list(va) != list(vb):
            raise CompareError(f"the runs have different {key}: A has {va}, B has {vb}")
    split_a, split_b = _audit_split(Path(run_a), sum_a), _audit_split(Path(run_b), sum_b)
    if split_a and split_b and split_a != split_b:
        raise CompareError(f"the runs audit different splits: A '{split_a}', B '{split_b}'")
    split = split_a or split_b

    name_a = _pick_model(sum_a, tab_a, model_a, "A", Path(run_a))
    name_b = _pick_model(sum_b, tab_b, model_b, "B", Path(run_b))
    rows_a = _model_rows(tab_a, name_a, split)
    rows_b = _model_rows(tab_b, name_b, split)
    _check_same_samples(rows_a, rows_b)

    regions = list(ds_a.get("regions") or _regions_from_columns(tab_a))
    methods_a = _methods(sum_a, name_a, rows_a, regions)
    methods_b = set(_methods(sum_b, name_b, rows_b, regions))
    methods = [m for m in methods_a if m in methods_b]
    if not methods:
        raise CompareError(
            f"the runs share no saliency method: A has {methods_a}, B has {sorted(methods_b)}"
        )
    attrs_a = ds_a.get("attributes") or []
    attributes = [a for a in attrs_a if a in rows_a.columns and a in rows_b.columns]

    label_a, label_b = (name_a, name_b) if name_a != name_b else (f"A:{name_a}", f"B:{name_b}")
    keep = ["id", "label", "correct", *attributes]
    keep += [f"mass_{m}_{r}" for m in methods for r in regions]
    table = pd.concat(
        [rows_a[keep].assign(model=label_a), rows_b[keep].assign(model=label_b)],
        ignore_index=True,
    )
    comparison = compare_models(
        table,
        label_a,
        label_b,
        methods=methods,
        regions=regions,
        attributes=attributes,
        level=level,
        seed=seed,
        n_boot=n_boot,
    )
    return CompareResult(
        run_a=RunInfo(Path(run_a), str(sum_a.get("name", Path(run_a).name)), name_a, label_a,
                      sum_a.get("created")),
        run_b=RunInfo(Path(run_b), str(sum_b.get("name", Path(run_b).name)), name_b, label_b,
                      sum_b.get("created")),
        comparison=comparison,
        audit_split=split,
        classes=list(ds_a.get("classes") or sorted(rows_a["label"].astype(str).unique())),
        regions=regions,
        attributes=attributes,
        methods=methods,
    )


def write_compare_outputs(
    result: CompareResult,
    out_dir: Path,
    *,
    formats: tuple[str, ...] = ("html", "pdf", "json"),
    title: str | None = None,
) -> dict[str, Path]:
    """Write ``compare.html``, ``compare.pdf`` and ``compare.json`` into ``out_dir``.

    Each file is written to a temporary file in ``out_dir`` and moved into place with
    ``os.replace``, so a reader never sees a half-written file.

    Args:
        result: the comparison.
        out_dir: output folder (created if missing).
        formats: which of ``"html"``, ``"pdf"``, ``"json"`` to write.
        title: page title (default: "<run A> vs <run B>").

    Returns:
        ``{format: path}`` of the files written.

    Raises:
        CompareError: ``out_dir`` cannot be created or written, or a format is unknown.
    """
    unknown = [f for f in formats if f not in ("html", "pdf", "json")]
    if unknown:
        raise CompareError(f"unknown compare output format '{unknown[0]}' (html, pdf, json)")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CompareError(f"cannot create output folder {out_dir}: {err.strerror}") from err
    written: dict[str, Path] = {}
    if "json" in formats:
        text = json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
        written["json"] = _atomic_write(out_dir / "compare.json", text.encode("utf-8"))
    if "html" in formats or "pdf" in formats:
        html = render_compare_html(result, title=title)
        if "html" in formats:
            written["html"] = _atomic_write(out_dir / "compare.html", html.encode("utf-8"))
        if "pdf" in formats:
            written["pdf"] = _atomic_write(out_dir / "compare.pdf", render_compare_pdf(html))
    return written


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary sibling and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise CompareError(f"cannot write {path}: {err.strerror}") from err
    return path


def _read_run(run: Path) -> tuple[dict, pd.DataFrame]:
    """summary.json (dict) and samples.parquet (DataFrame) of a run directory."""
    if not run.is_dir():
        raise CompareError(f"run directory not found: {run}")
    summary_path, samples_path = run / "summary.json", run / "samples.parquet"
    for path in (summary_path, samples_path):
        if not path.is_file():
            raise CompareError(f"{path} not found (is {run} an auditor run directory?)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CompareError(f"cannot read {summary_path}: {err}") from err
    if not isinstance(summary, dict):
        raise CompareError(f"{summary_path} is not a JSON object")
    try:
        table = pd.read_parquet(samples_path)
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise CompareError(f"cannot read {samples_path}: {err}") from err
    for col in ("model", "id", "label", "correct"):
        if col not in table.columns:
            raise CompareError(f"{samples_path} has no column '{col}'")
    table["id"] = table["id"].astype(str)
    return summary, table


def _audit_split(run: Path, summary: dict) -> str | None:
    """The audited split: summary ``dataset.audit_split``, else config.resolved.yaml's."""
    split = summary.get("dataset", {}).get("audit_split")
    if split:
        return str(split)
    cfg_path = run / "config.resolved.yaml"
    if cfg_path.is_file():
        try:
            cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            return None
        data = cfg.get("data") if isinstance(cfg, dict) else None
        if isinstance(data, dict) and data.get("audit_split"):
            return str(data["audit_split"])
    return None


def _pick_model(summary: dict, table: pd.DataFrame, wanted: str | None, side: str,
                run: Path) -> str:
    """The requested model, else ``baseline`` if present, else the run's first model."""
    in_table = list(dict.fromkeys(table["model"].astype(str)))
    ordered = [m for m in summary.get("models", {}) if m in in_table] or in_table
    if wanted is not None:
        if wanted not in in_table:
            raise CompareError(f"run {side} ({run}) has no model '{wanted}' (models: {ordered})")
        return wanted
    if not ordered:
        raise CompareError(f"run {side} ({run}) has no samples")
    return "baseline" if "baseline" in ordered else ordered[0]


def _model_rows(table: pd.DataFrame, model: str, split: str | None) -> pd.DataFrame:
    """Rows of one model, restricted to the audit split when the table has a split column."""
    rows = table[table["model"].astype(str) == model]
    if split is not None and "split" in rows.columns:
        rows = rows[rows["split"].astype(str) == split]
    return rows.reset_index(drop=True)


def _check_same_samples(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> None:
    """Refuse runs whose sample ids or labels differ."""
    ids_a, ids_b = set(rows_a["id"]), set(rows_b["id"])
    if ids_a != ids_b:
        only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
        example = (only_a or only_b)[0]
        raise CompareError(
            f"different sample id sets: {len(only_a)} ids only in run A, {len(only_b)} only "
            f"in run B (of {len(ids_a)} and {len(ids_b)}), e.g. '{example}'"
        )
    merged = rows_a[["id", "label"]].merge(rows_b[["id", "label"]], on="id", suffixes=("_a", "_b"))
    bad = merged[merged["label_a"].astype(str) != merged["label_b"].astype(str)]
    if len(bad):
        row = bad.iloc[0]
        raise CompareError(
            f"different labels for the same id: {len(bad)} ids, e.g. '{row['id']}' is "
            f"'{row['label_a']}' in run A and '{row['label_b']}' in run B"
        )


def _regions_from_columns(table: pd.DataFrame) -> list[str]:
    """Region names from ``area_<region>`` columns (when summary.json lists none)."""
    return [c[len("area_"):] for c in table.columns if c.startswith("area_")]


def _methods(summary: dict, model: str, rows: pd.DataFrame, regions: list[str]) -> list[str]:
    """Methods with a full set of ``mass_<method>_<region>`` columns, summary order first."""
    found: list[str] = list(summary.get("models", {}).get(model, {}).get("attention", {}) or [])
    for col in rows.columns:
        if not col.startswith("mass_"):
            continue
        for region in sorted(regions, key=len, reverse=True):
            if col.endswith(f"_{region}") and len(col) > len(f"mass__{region}"):
                found.append(col[len("mass_"):-len(region) - 1])
                break
    unique = list(dict.fromkeys(found))
    return [m for m in unique if all(f"mass_{m}_{r}" in rows.columns for r in regions)]

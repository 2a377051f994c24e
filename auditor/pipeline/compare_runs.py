"""Compare two run directories and write the comparison (HTML, PDF, JSON).

:func:`compare_runs` reads ``summary.json``, ``samples.parquet`` and ``config.resolved.yaml``
of two runs (no model, no torch), matches the audit-split samples by id (the path relative to
the data root, :mod:`auditor.data.table`), and calls
:func:`auditor.metrics.comparison.compare_models`. It makes no silent choice: a run with
several models needs the model named, and when the two models' maps are not comparable
(architecture, target layer, input size or saliency settings differ, or no method is shared)
it says so and compares accuracy only. :func:`write_compare_outputs` writes ``compare.html``,
``compare.pdf`` and ``compare.json`` with the run directory's atomic writer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from auditor.common.files import atomic_write_bytes
from auditor.errors import CompareError
from auditor.metrics.columns import IMAGE_HASH, area_column, mass_column, mass_methods
from auditor.metrics.compare_result import CompareResult, RunInfo
from auditor.metrics.comparison import compare_models
from auditor.metrics.verdict import comparison_headline
from auditor.pipeline.compare_ids import (
    check_same_attributes,
    check_same_samples,
    strip_id_prefix,
)
from auditor.pipeline.rundir import enclosing_run, require_finished, to_json
from auditor.pipeline.summary_schema import summary_problem
from auditor.report.compare_page import render_compare_html
from auditor.report.pdf import render_pdf

__all__ = ["CompareResult", "RunInfo", "check_out", "compare_runs", "render_compare_html",
           "setup_differences", "write_compare_outputs"]

#: Settings that change what a saliency map means: (setup key, words for the user).
SETUP_KEYS = (("arch", "architecture"), ("target_layer", "target layer"),
              ("input_size", "input size"), ("resize", "resize mode"),
              ("target", "explained class"), ("map_size", "map size"))


def compare_runs(
    run_a: Path,
    run_b: Path,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
    strip_a: str | None = None,
    strip_b: str | None = None,
    level: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
) -> CompareResult:
    """Compare a model of run A (baseline) with a model of run B (candidate).

    Args:
        run_a: run directory of the baseline (summary.json, samples.parquet).
        run_b: run directory of the candidate.
        model_a: model of run A; required when run A has several models.
        model_b: model of run B; required when run B has several models.
        strip_a: a prefix to remove from every sample id of run A before matching (for runs
            that read the same files from different data roots).
        strip_b: the same for run B.
        level: confidence level of the intervals.
        seed: bootstrap seed.
        n_boot: bootstrap resamples.

    Returns:
        The :class:`CompareResult`.

    Raises:
        CompareError: a file is missing or unreadable, a model is unknown or not named, or the
            runs differ in classes, regions, audit split, sample ids or labels.
    """
    run_a, run_b = Path(run_a), Path(run_b)
    sum_a, tab_a, cfg_a = _read_run(run_a)
    sum_b, tab_b, cfg_b = _read_run(run_b)
    ds_a, ds_b = sum_a.get("dataset", {}), sum_b.get("dataset", {})
    for key in ("classes", "regions"):
        va, vb = ds_a.get(key), ds_b.get(key)
        if va is not None and vb is not None and list(va) != list(vb):
            raise CompareError(f"the runs have different {key}: A has {va}, B has {vb}")
    split_a, split_b = _audit_split(sum_a, cfg_a), _audit_split(sum_b, cfg_b)
    if split_a and split_b and split_a != split_b:
        raise CompareError(f"the runs audit different splits: A '{split_a}', B '{split_b}'")
    split = split_a or split_b

    try:
        name_a = _pick_model(sum_a, tab_a, model_a, "A", run_a)
    except CompareError as err:  # both sides need a name: say so once, not one try each
        if model_a is None and model_b is None and len(_models(sum_b, tab_b)) > 1:
            raise CompareError(f"{err}, and run B with --model-b NAME "
                               f"({', '.join(_models(sum_b, tab_b))})") from None
        raise
    name_b = _pick_model(sum_b, tab_b, model_b, "B", run_b)
    rows_a = strip_id_prefix(_model_rows(tab_a, name_a, split), strip_a, "A")
    rows_b = strip_id_prefix(_model_rows(tab_b, name_b, split), strip_b, "B")
    check_same_samples(rows_a, rows_b)

    regions = list(ds_a.get("regions") or [])
    setup_a, setup_b = _setup(sum_a, cfg_a, name_a), _setup(sum_b, cfg_b, name_b)
    methods_a = _methods(sum_a, rows_a, regions)
    methods_b = _methods(sum_b, rows_b, regions)
    methods = [m for m in methods_a if m in methods_b]
    not_comparable = setup_differences(setup_a, setup_b, methods)
    if not methods:
        not_comparable.append(f"no saliency method in common (A: {', '.join(methods_a) or 'none'}"
                              f"; B: {', '.join(methods_b) or 'none'})")
    if not_comparable:
        methods = []
    attrs_a = ds_a.get("attributes") or []
    attributes = [a for a in attrs_a if a in rows_a.columns and a in rows_b.columns]
    check_same_attributes(rows_a, rows_b, attributes)

    label_a, label_b = (name_a, name_b) if name_a != name_b else (f"A:{name_a}", f"B:{name_b}")
    keep = ["id", "label", "correct", *attributes]
    keep += [mass_column(m, r) for m in methods for r in regions]
    keep += [c for c in map(area_column, regions) if c in rows_a.columns and c in rows_b.columns]
    table = pd.concat(
        [rows_a[keep].assign(model=label_a), rows_b[keep].assign(model=label_b)],
        ignore_index=True,
    )
    comparison = compare_models(table, label_a, label_b, methods=methods, regions=regions,
                                attributes=attributes, level=level, seed=seed, n_boot=n_boot)
    if not_comparable:
        comparison.notes.insert(0, "The attention numbers of these two models are not "
                                   "comparable (" + "; ".join(not_comparable) + "), so only "
                                   "the accuracy metrics are compared.")
    ci_a, ci_b = (_section(c, "analysis").get("ci_level") for c in (cfg_a, cfg_b))
    if isinstance(ci_a, (int, float)) and isinstance(ci_b, (int, float)) and ci_a != ci_b:
        def lvl(v: float) -> str:
            return f"{round(100 * v, 4):g}%"

        comparison.notes.insert(1 if not_comparable else 0, (
            f"The two runs' analysis settings differ (analysis.ci_level: A {lvl(ci_a)}, B "
            f"{lvl(ci_b)}): the accuracy and worst-group intervals here are recomputed from "
            f"the counts at {lvl(level)}, but the swap and causal rates quoted from each run "
            "keep that run's own level."))
    result = CompareResult(
        run_a=RunInfo(run_a, str(sum_a.get("name", run_a.name)), name_a, label_a,
                      sum_a.get("created"), setup_a),
        run_b=RunInfo(run_b, str(sum_b.get("name", run_b.name)), name_b, label_b,
                      sum_b.get("created"), setup_b),
        comparison=comparison,
        audit_split=split,
        classes=list(ds_a.get("classes") or sorted(rows_a["label"].astype(str).unique())),
        regions=regions,
        attributes=attributes,
        methods=methods,
        not_comparable=not_comparable,
    )
    if not result.same_model:  # a model against itself changes nothing: no headline
        result.headline = _headline(sum_a, name_a, label_a, sum_b, name_b, label_b, level)
    return result


def _headline(sum_a: dict, name_a: str, label_a: str, sum_b: dict, name_b: str, label_b: str,
              level: float) -> str | None:
    """The sentence ``audit run`` writes for several models, on the two runs' model blocks
    (None when either block has no findings recorded, as in runs without analysis)."""
    blocks = {label_a: (sum_a.get("models") or {}).get(name_a),
              label_b: (sum_b.get("models") or {}).get(name_b)}
    if not all(isinstance(b, dict) and isinstance(b.get("findings"), list)
               for b in blocks.values()):
        return None
    return comparison_headline(blocks, label_a, level=level)


def setup_differences(a: dict, b: dict, methods: list[str]) -> list[str]:
    """What differs between two models' saliency setups, in words (empty: comparable).

    Args:
        a: run A's setup (see :class:`~auditor.metrics.compare_result.RunInfo`).
        b: run B's setup.
        methods: the shared methods whose options must agree.
    """
    out = []
    for key, words in SETUP_KEYS:
        va, vb = a.get(key), b.get(key)
        if va is not None and vb is not None and va != vb:
            out.append(f"{words}: A {va}, B {vb}")
    opts_a, opts_b = a.get("options") or {}, b.get("options") or {}
    for method in methods:
        if (opts_a.get(method) or {}) != (opts_b.get(method) or {}):
            out.append(f"{method} options: A {opts_a.get(method) or {}}, "
                       f"B {opts_b.get(method) or {}}")
    return out


def write_compare_outputs(
    result: CompareResult,
    out_dir: Path,
    *,
    formats: tuple[str, ...] = ("html", "pdf", "json"),
    title: str | None = None,
) -> dict[str, Path]:
    """Write ``compare.html``, ``compare.pdf`` and ``compare.json`` into ``out_dir``.

    Each file lands atomically (:func:`auditor.common.files.atomic_write_bytes`), so a
    reader never sees a half-written file.

    Args:
        result: the comparison.
        out_dir: output folder (created if missing).
        formats: which of ``"html"``, ``"pdf"``, ``"json"`` to write.
        title: page title (default: "<run A> vs <run B>").

    Returns:
        ``{format: path}`` of the files written.

    Raises:
        CompareError: ``out_dir`` cannot be created or written, lies inside a run folder
            elsewhere than its ``compare`` folder, or a format is unknown.
    """
    unknown = [f for f in formats if f not in ("html", "pdf", "json")]
    if unknown:
        raise CompareError(f"unknown compare output format '{unknown[0]}' (html, pdf, json)")
    out_dir = Path(out_dir)
    check_out(out_dir)
    pages: dict[str, bytes] = {}
    if "json" in formats:
        pages["json"] = (to_json(result.to_dict()) + "\n").encode("utf-8")
    if "html" in formats or "pdf" in formats:
        html = render_compare_html(result, title=title)
        if "html" in formats:
            pages["html"] = html.encode("utf-8")
        if "pdf" in formats:
            pages["pdf"] = render_pdf(html)
    written: dict[str, Path] = {}
    for fmt, data in pages.items():
        path = out_dir / f"compare.{fmt}"
        try:
            written[fmt] = atomic_write_bytes(path, data)
        except OSError as err:
            raise CompareError(f"cannot write {path}: {err.strerror}") from err
    return written


def check_out(out_dir: Path) -> None:
    """Refuse an output folder inside a run folder other than that run's ``compare/`` (where
    the run's ``--overwrite`` would take the files for a user's).

    Raises:
        CompareError: naming the run and the one folder allowed there.
    """
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise CompareError(f"--out {out_dir}: exists and is not a folder; compare writes "
                           "compare.html, .pdf and .json into a folder: name a new or "
                           "existing folder")
    real = Path(out_dir).resolve()  # a symlink to a run's models/ is that folder
    run = enclosing_run(real)
    if run is not None and real != (run / "compare").resolve():
        raise CompareError(f"--out {out_dir}: in the run folder {run}, where auditor "
                           f"writes comparisons only to {run / 'compare'}; choose that or "
                           "a folder outside the run")


def _read_run(run: Path) -> tuple[dict, pd.DataFrame, dict]:
    """summary.json, samples.parquet and config.resolved.yaml (``{}`` if absent) of a run."""
    if not run.is_dir():
        raise CompareError(f"run directory not found: {run}")
    require_finished(run, CompareError)
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
    problem = summary_problem(summary)
    if problem:
        raise CompareError(f"{summary_path}: damaged ({problem}); run the audit again")
    try:
        import pyarrow.parquet as pq

        names = pq.read_schema(samples_path).names
        attrs = set((summary.get("dataset") or {}).get("attributes") or [])
        keep = [c for c in names if c in ("model", "id", "label", "correct", "split", IMAGE_HASH)
                or c in attrs or c.startswith(("mass_", "area_"))]
        table = pd.read_parquet(samples_path, columns=keep)  # only what a comparison reads
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise CompareError(f"cannot read {samples_path}: {err}") from err
    for col in ("model", "id", "label", "correct"):
        if col not in table.columns:
            raise CompareError(f"{samples_path} has no column '{col}'")
    table["id"] = table["id"].astype(str)
    config: dict = {}
    cfg_path = run / "config.resolved.yaml"
    if cfg_path.is_file():
        try:
            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise CompareError(f"cannot read {cfg_path}: {err}") from err
        config = loaded if isinstance(loaded, dict) else {}
    return summary, table, config


def _section(config: dict, key: str) -> dict:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _audit_split(summary: dict, config: dict) -> str | None:
    """The audited split: summary ``dataset.audit_split``, else the config's."""
    split = summary.get("dataset", {}).get("audit_split") or _section(config, "data").get(
        "audit_split")
    return str(split) if split else None


def _setup(summary: dict, config: dict, model: str) -> dict:
    """What shapes the model's maps, from summary.json and config.resolved.yaml."""
    models = {m.get("name"): m for m in config.get("models") or [] if isinstance(m, dict)}
    trained = (summary.get("training") or {}).get(model) or {}
    sal, data = _section(config, "saliency"), _section(config, "data")
    # the resolved layer (recorded since summary.json has it); "auto" alone names none: the
    # architecture's default, compared through "arch"
    layer = (summary.get("models", {}).get(model) or {}).get("target_layer") or (
        sal.get("target_layer") if sal.get("target_layer") != "auto" else None)
    return {
        "arch": (models.get(model) or {}).get("arch") or trained.get("arch"),
        "target_layer": layer,
        "input_size": data.get("image_size"),
        "resize": data.get("resize"),
        "target": sal.get("target"),
        "map_size": sal.get("map_size"),
        "options": sal.get("options") or {},
    }


def _pick_model(summary: dict, table: pd.DataFrame, wanted: str | None, side: str,
                run: Path) -> str:
    """The requested model, or the run's only model; several models need a name."""
    in_table, ordered = list(dict.fromkeys(table["model"].astype(str))), _models(summary, table)
    flag = f"--model-{side.lower()}"
    if wanted is not None:
        if wanted not in in_table:
            raise CompareError(f"run {side} ({run}) has no model '{wanted}' (models: {ordered})")
        return wanted
    if not ordered:
        raise CompareError(f"run {side} ({run}) has no samples")
    if len(ordered) > 1:
        raise CompareError(f"run {side} ({run}) has {len(ordered)} models "
                           f"({', '.join(ordered)}); choose one with {flag} NAME")
    return ordered[0]


def _models(summary: dict, table: pd.DataFrame) -> list[str]:
    """The run's models with samples, in summary.json's order."""
    in_table = list(dict.fromkeys(table["model"].astype(str)))
    return [m for m in summary.get("models", {}) if m in in_table] or in_table


def _model_rows(table: pd.DataFrame, model: str, split: str | None) -> pd.DataFrame:
    """Rows of one model, restricted to the audit split when the table has a split column."""
    rows = table[table["model"].astype(str) == model]
    if split is not None and "split" in rows.columns:
        rows = rows[rows["split"].astype(str) == split]
    return rows.reset_index(drop=True)


def _methods(summary: dict, rows: pd.DataFrame, regions: list[str]) -> list[str]:
    """Methods with a full set of mass columns, in the run's method order."""
    known = summary.get("methods") or None
    return mass_methods(rows.columns, regions, known)

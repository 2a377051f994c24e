"""The ``audit`` command line. The only module that prints or exits.

User mistakes (``AuditorError``) print one red line and exit 1; no traceback. Faults of the
machine (a full disk, a file system error, no memory) end the same way. Ctrl-C prints how to
resume and exits 130 (SIGTERM: the same, 143). Text that comes from data (labels, file names,
finding titles) is printed with rich markup escaped and terminal control codes removed.
"""

from __future__ import annotations

import errno
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from auditor.errors import AuditorError, strip_controls

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Audit where an image classifier looks, per region, class and subgroup.")
data_app = typer.Typer(no_args_is_help=True, help="Synthetic datasets.")
synth_app = typer.Typer(no_args_is_help=True, help="Generate a synthetic dataset.")
data_app.add_typer(synth_app, name="synth")
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)
INTERRUPTED = "interrupted; run the same command again to resume"


def _safe(text: object) -> str:
    """Data's ``text`` on one line: no markup, no control codes, line breaks shown as ``\\n``."""
    return escape(strip_controls(str(text)).replace("\r", "\\r").replace("\n", "\\n"))


def _fail(err: AuditorError | str) -> None:
    line = " ".join(strip_controls(str(err)).split())
    err_console.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


class _Bars:
    """A rich progress sink: one bar per task label."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        if task not in self.tasks:
            self.tasks[task] = self.progress.add_task(task, total=total)
        self.progress.update(self.tasks[task], completed=done, total=total)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err_console, transient=False)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="YAML config file")],
    overwrite: Annotated[bool, typer.Option(help="replace an existing output_dir")] = False,
    fresh: Annotated[bool, typer.Option(help="start over instead of resuming")] = False,
) -> None:
    """Run the audit described by CONFIG and write the report."""
    from auditor.config import load_config
    from auditor.pipeline.runlock import refuse_if_running

    t0 = time.perf_counter()
    try:
        cfg = load_config(config)
        refuse_if_running(cfg.output_dir)  # before torch's import: a busy folder is refused at once
        from auditor.pipeline.run import run_audit
        with _progress() as bars:
            result = run_audit(cfg, progress=_Bars(bars), overwrite=overwrite, fresh=fresh)
    except AuditorError as err:
        _fail(err)
        return
    if not result.summary:  # a worker rank under torchrun: rank 0 reports
        return
    _print_run_summary(result.summary)
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {_safe(note)}", highlight=False, soft_wrap=True)
    seconds = time.perf_counter() - t0
    console.print(f"\nfinished in {seconds:.0f} s{' (resumed)' if result.resumed else ''}")
    for key in ("html", "pdf", "summary", "samples"):
        if key in result.files:
            console.print(f"  {key:<8} {_safe(result.files[key])}", soft_wrap=True)
    if "html" in result.files:
        console.print(f"\nReport: [bold]{_safe(result.files['html'])}[/]", soft_wrap=True)


def _print_run_summary(summary: dict) -> None:
    table = Table("model", "accuracy", "worst group", "gap", "findings (high)", title="models")
    for name, m in summary.get("models", {}).items():
        met = m.get("metrics", {})
        highs = sum(1 for f in m.get("findings", []) if f.get("severity") == "high")
        wg = met.get("worst_group_accuracy")
        table.add_row(_safe(name), f"{met.get('accuracy', float('nan')):.3f}",
                      f"{wg:.3f} ({_safe(met.get('worst_group'))})" if wg is not None else "n/a",
                      f"{met.get('accuracy_gap', float('nan')):.3f}",
                      f"{len(m.get('findings', []))} ({highs})")
    console.print(table)
    for name, m in summary.get("models", {}).items():
        for f in m.get("findings", []):
            colour = {"high": "red", "medium": "yellow"}.get(f.get("severity"), "cyan")
            console.print(f"  [{colour}]{_safe(f.get('severity', '')):<6}[/] {_safe(name)}: "
                          f"{_safe(f.get('title'))}", highlight=False)
    console.print("\nverdict:")
    for name, m in summary.get("models", {}).items():
        v = m.get("verdict") or {}
        colour = {"not_ready": "red", "review": "yellow"}.get(v.get("status"), "green")
        console.print(f"  [{colour}]{_safe(name)}[/]: {_safe(v.get('text', 'no verdict'))}",
                      highlight=False)
        for step in v.get("next") or []:
            console.print(f"    next: {_safe(step)}", highlight=False)
    if summary.get("headline"):
        console.print(f"  [bold]{_safe(summary['headline'])}[/]", highlight=False)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory")],
    pdf: Annotated[bool, typer.Option(help="also write report.pdf")] = True,
) -> None:
    """Render report.html (and report.pdf) again from RUN_DIR, without the models."""
    from auditor.report.stage import rerender_report

    try:
        with _progress() as bars:
            files = rerender_report(run_dir, formats=("html", "pdf") if pdf else ("html",),
                                    progress=_Bars(bars))
    except AuditorError as err:
        _fail(err)
        return
    for key, path in files.items():
        console.print(f"  {key:<5} {_safe(path)}", soft_wrap=True)


@app.command()
def validate(config: Annotated[Path, typer.Argument(help="YAML config file")]) -> None:
    """Check CONFIG and its data without running a model."""
    from auditor.pipeline.validate import validate_config

    try:
        report = validate_config(config)
    except AuditorError as err:
        _fail(err)
        return
    console.print(f"[green]config OK[/]: {_safe(config)}", soft_wrap=True)
    for line in report.lines:
        console.print(_safe(line), highlight=False, soft_wrap=True)
    for warn in report.warnings:
        console.print(f"[yellow]warning:[/] {_safe(warn)}", highlight=False, soft_wrap=True)


@app.command()
def methods() -> None:
    """List saliency methods, architectures and region formats."""
    from auditor.data.regions import list_region_formats, region_format_layout
    from auditor.models import list_archs
    from auditor.models.torchvision_zoo import torchvision_names
    from auditor.saliency import list_methods

    table = Table(title="saliency methods")
    table.add_column("name")
    table.add_column("passes / image")
    table.add_column("description")
    for m in list_methods():
        table.add_row(m.name, str(m.passes), m.description)
    console.print(table)
    arch = Table(title="architectures")
    arch.add_column("name")
    arch.add_column("target layer")
    arch.add_column("description")
    for a in list_archs():
        arch.add_row(a.name, a.target_layer, a.description)
    console.print(arch)
    console.print("architectures beyond the table: any torchvision classification model by "
                  f"name ({len(torchvision_names())}: {', '.join(torchvision_names())}); "
                  "timm:<name>; hf:<folder>; torchscript (checkpoint: model.pt); "
                  "\"path/to/file.py:Class\" or \"package.module:factory\" with arch_kwargs",
                  highlight=False, soft_wrap=True)
    console.print("\nregion formats (data.regions):")
    for name in list_region_formats():
        console.print(f"  {escape(region_format_layout(name))}", highlight=False, soft_wrap=True)


_Out = Annotated[Path, typer.Option(help="output folder")]
_NTrain = Annotated[int, typer.Option(help="train images")]
_NVal = Annotated[int, typer.Option(help="validation images (balanced over class x attribute)")]
_NTest = Annotated[int, typer.Option(help="test images (balanced over class x attribute)")]
_Bias = Annotated[float, typer.Option(help="share of train images whose attribute agrees with "
                                           "the class (0.5: independent of it)")]
_Size = Annotated[int, typer.Option(help="image side in pixels")]


@synth_app.command("clinic")
def synth_clinic(out: _Out, n_train: _NTrain = 3000, n_val: _NVal = 200, n_test: _NTest = 1000,
                 bias: _Bias = 0.95, image_size: _Size = 64, seed: int = 0) -> None:
    """Write the synthetic doctor/nurse dataset (PNGs, manifest.csv, COCO regions.json)."""
    _synth(out, seed, kind="clinic", n_train=n_train, n_val=n_val, n_test=n_test, bias=bias,
           image_size=image_size)


@synth_app.command("scenes")
def synth_scenes(out: _Out, n_train: _NTrain = 3000, n_val: _NVal = 200, n_test: _NTest = 1000,
                 bias: _Bias = 0.95, image_size: _Size = 64, seed: int = 0) -> None:
    """Write the Waterbirds-style cat/cup-on-nature/urban dataset from real photos (needs
    scikit-image: pip install 'auditor\\[scenes]')."""
    _synth(out, seed, kind="scenes", n_train=n_train, n_val=n_val, n_test=n_test, bias=bias,
           image_size=image_size)


def _synth(out: Path, seed: int, **options: Any) -> None:
    """Run a synthetic generator with progress bars; print the manifest path or one error."""
    from pydantic import ValidationError, create_model

    from auditor.common.config_errors import option_error_line
    from auditor.config import AuditConfig, SyntheticConfig
    from auditor.data.scenes import generate_scenes
    from auditor.data.synthetic import generate_clinic

    # the options with the bounds of the config keys (data.synthetic.*, seed)
    synth_options = create_model("SynthOptions", __base__=SyntheticConfig,
                                 seed=(int, AuditConfig.model_fields["seed"]))
    try:
        checked = synth_options(seed=seed, **options)
    except ValidationError as err:
        return _fail(option_error_line(err))
    cfg = SyntheticConfig(**checked.model_dump(exclude={"seed"}))
    try:
        with _progress() as bars:
            sink = _Bars(bars)
            generate = generate_clinic if cfg.kind == "clinic" else generate_scenes
            manifest = generate(out, cfg, seed=seed, progress=lambda d, t: sink("generate", d, t))
    except AuditorError as err:
        return _fail(err)
    console.print(f"manifest: {_safe(manifest)}")


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="first run directory (before)")],
    run_b: Annotated[Path, typer.Argument(help="second run directory (after)")],
    out: Annotated[Path | None, typer.Option(help="output folder (default: RUN_B/compare)")] = None,
    model_a: Annotated[str | None, typer.Option(
        help="model of RUN_A (required when it has several)")] = None,
    model_b: Annotated[str | None, typer.Option(
        help="model of RUN_B (required when it has several)")] = None,
    strip_a: Annotated[str | None, typer.Option(
        help="prefix to remove from RUN_A's sample ids before matching")] = None,
    strip_b: Annotated[str | None, typer.Option(
        help="prefix to remove from RUN_B's sample ids before matching")] = None,
) -> None:
    """Compare two existing runs (matched by sample id) and write compare.html/pdf/json."""
    from auditor.pipeline.compare_runs import check_out, compare_runs, write_compare_outputs

    try:
        check_out(out or (run_b / "compare"))  # a wrong --out is refused before the work
        result = compare_runs(run_a, run_b, model_a=model_a, model_b=model_b,
                              strip_a=strip_a, strip_b=strip_b)
        paths = write_compare_outputs(result, out or (run_b / "compare"))
    except AuditorError as err:
        _fail(err)
        return
    console.print(_safe(result.summary_line()), highlight=False, soft_wrap=True)
    if result.headline:
        console.print(f"  [bold]{_safe(result.headline)}[/]", highlight=False)
    notes = list(result.comparison.notes)
    if result.not_comparable and notes:
        console.print(f"[yellow]attention not compared:[/] {_safe(notes.pop(0))}",
                      highlight=False, soft_wrap=True)
    for note in notes:  # differing analysis settings, too few samples per cell
        console.print(f"[yellow]note:[/] {_safe(note)}", highlight=False, soft_wrap=True)
    if result.same_model:
        console.print("[yellow]note:[/] A and B are the same model, so nothing can change; "
                      "compare two runs, or two models of one run with --model-a and --model-b")
    for key, path in paths.items():
        console.print(f"  {key:<5} {_safe(path)}", soft_wrap=True)


@app.command()
def rebalance(
    config: Annotated[Path, typer.Argument(help="YAML config whose training data to rebalance")],
    by: Annotated[str, typer.Option(
        help="attribute column(s), comma-separated; groups are label x these")],
    out: Annotated[Path, typer.Option(help="where to write the rebalanced manifest CSV")],
    strategy: Annotated[
        str, typer.Option(help="oversample | undersample | reweight")
    ] = "oversample",
) -> None:
    """Write a group-rebalanced manifest of CONFIG's data (manifest, image folder or synthetic).

    Train the "after" model from it by adding `train_manifest: OUT` under `data:` in the
    config; other training code reads the CSV directly (oversample repeats rows, reweight
    adds a weight column).
    """
    from auditor.config import load_config
    from auditor.data.rebalance import run_rebalance

    try:
        cfg = load_config(config)
        result = run_rebalance(cfg, by=[b.strip() for b in by.split(",") if b.strip()],
                               strategy=strategy, out=out)
    except AuditorError as err:
        _fail(err)
        return
    for title, frame in (("before", result.before), ("after", result.after)):
        table = Table(*map(_safe, frame.columns), title=f"train groups {title}")
        for row in frame.itertuples(index=False):
            table.add_row(*[f"{v:.3f}" if isinstance(v, float) else _safe(v) for v in row])
        console.print(table)
    if result.missing:
        console.print(f"[yellow]warning:[/] {len(result.missing)} group(s) have no train sample "
                      f"and cannot be rebalanced, e.g. {_safe(result.missing[0])}", highlight=False)
    console.print(f"wrote {_safe(out)}", soft_wrap=True)
    console.print(f"to train on it, set under data: in {config}:\n  train_manifest: "
                  f"{_safe(_relative_to(out, config.resolve().parent))}\n(and give the run another "
                  "output_dir)", highlight=False, soft_wrap=True)


def _relative_to(path: Path, base: Path) -> str:
    """``path`` as written in a config file in ``base`` (relative when possible)."""
    import os

    try:
        return os.path.relpath(path.resolve(), base)
    except ValueError:  # another drive on Windows
        return str(path.resolve())


@app.command()
def version() -> None:
    """Print the auditor version."""
    from auditor import __version__

    console.print(__version__)


_interrupt = {"code": 130}  # the exit code of an interrupted command: 130 Ctrl-C, 143 SIGTERM


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (docker stop, Slurm preemption, ``timeout``, systemd) ends the run like Ctrl-C:
    the lock released, worker pools shut down, the resume line printed; exit code 143."""
    _interrupt["code"] = 128 + signal.SIGTERM
    raise KeyboardInterrupt


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # run.log gets INFO; the terminal warnings
        handler.setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()  # typer turns Ctrl-C into exit code 130 without a word
    except SystemExit as done:
        if done.code == 130:
            err_console.print(INTERRUPTED, highlight=False)
            sys.exit(_interrupt["code"])
        raise
    except KeyboardInterrupt:
        err_console.print(INTERRUPTED, highlight=False)
        sys.exit(_interrupt["code"])
    except OSError as err:  # the machine, not auditor: full disk, I/O error, file name limits
        where = f"{err.filename}: " if err.filename else ""
        _exit_with(f"{where}{err.strerror or err}" + (
            " (no space left; free some and run the same command again to resume)"
            if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""))
    except MemoryError:
        _exit_with("out of memory; lower saliency.batch_size or data.image_size, or use a "
                   "machine with more memory")
    finally:  # the command is over: a SIGTERM now would raise in the interpreter's shutdown
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _exit_with(message: str) -> None:
    try:
        _fail(message)
    except typer.Exit as done:
        sys.exit(done.exit_code)


if __name__ == "__main__":
    main()

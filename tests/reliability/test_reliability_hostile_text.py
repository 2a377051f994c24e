"""Hostile text and Ctrl-C (issue #16 rows 15, 17, 19): bidi controls cannot reorder the
report or the CSV, spreadsheet formulas in written CSVs are inert, Ctrl-C says how to resume."""

from __future__ import annotations

import csv
import json
import signal
import time

import pytest
from helpers.reliability import (
    cli_popen,
    invoke,
    make_manifest_dataset,
    manifest_config,
    wait_until,
)

from auditor.data.rebalance import spreadsheet_safe
from auditor.errors import BIDI_CONTROLS

RLO_CLASS = "doc\u202etor"  # shows as "docrot" reversed after it
ISOLATE_ATTR = "dark\u2067x\u2069"

# -- row 17: bidirectional controls ------------------------------------------------------------


@pytest.fixture(scope="module")
def bidi_run(tmp_path_factory):
    """A run whose class and attribute values carry bidi controls; the HTML handed to the PDF
    printer is captured."""
    from auditor.report import stage

    tmp = tmp_path_factory.mktemp("bidi")
    manifest = make_manifest_dataset(tmp / "data", classes=(RLO_CLASS, "nurse"),
                                     attr_values=(ISOLATE_ATTR, "blond"), n_train=4, n_test=3)
    path = manifest_config(tmp, manifest, report={"formats": ["html", "pdf"],
                                                  "examples_per_group": 1})
    printed: list[str] = []
    real = stage.render_pdf
    stage.render_pdf = lambda html, **kw: printed.append(html) or b"%PDF-1.7\n"
    try:
        result = invoke("run", path)
    finally:
        stage.render_pdf = real
    assert result.exit_code == 0, result.output
    return tmp / "run", printed


def test_bidi_controls_are_neutralised_in_html(bidi_run):
    run, _ = bidi_run
    html = (run / "report.html").read_text(encoding="utf-8")
    assert not any(c in html for c in BIDI_CONTROLS)
    assert "doc\u2039U+202E\u203ator" in html  # shown, not obeyed


def test_bidi_controls_are_neutralised_in_the_pdf_input(bidi_run):
    _, printed = bidi_run
    assert len(printed) == 1
    assert not any(c in printed[0] for c in BIDI_CONTROLS)
    assert "\u2039U+2067\u203a" in printed[0]


def test_summary_keeps_the_labels_as_they_are(bidi_run):
    """Data stays data: only what is shown is neutralised."""
    run, _ = bidi_run
    assert RLO_CLASS in json.loads((run / "summary.json").read_text())["dataset"]["classes"]


# -- row 19 (+ bidi in CSV): formula-like cells in written CSVs -------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+HYPERLINK(\"http://x\")", "@SUM(A1:A9)", "-2+3",
            "\tTAB", "\r=1"]


def test_spreadsheet_safe_escapes_formulas_and_keeps_numbers():
    import pandas as pd

    table = pd.DataFrame({"label": FORMULAS + ["plain", "-1", "+0.5", "2e3"],
                          "n": list(range(10))})
    out = spreadsheet_safe(table)
    assert out["label"].tolist()[:6] == ["'" + f for f in FORMULAS]
    assert out["label"].tolist()[6:] == ["plain", "-1", "+0.5", "2e3"]
    assert out["n"].tolist() == list(range(10))


def test_rebalance_csv_is_inert_in_a_spreadsheet(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", classes=(FORMULAS[0], RLO_CLASS),
                                     attr_values=("@evil", "-1"), n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest)
    out = tmp_path / "balanced.csv"
    result = invoke("rebalance", path, "--by", "hair", "--out", out)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    assert not any(ch in c for c in cells for ch in BIDI_CONTROLS)
    assert "'" + FORMULAS[0] in cells and "'@evil" in cells and "-1" in cells
    assert "doc\u2039U+202E\u203ator" in cells



ODD_NAME = "a\u200fb.png"  # U+200F: shown as ‹U+200F› in the CSV


def _signed_folder(tmp_path):
    """Class folders ``+ve`` / ``-ve`` (common for binary tasks), a file name holding U+200F,
    attribute values that look like formulas, and the config of a run over them."""
    from helpers.data import write_image

    rows = ["path,hair,split"]
    for c, cls in enumerate(("+ve", "-ve")):
        for i in range(8):
            name = ODD_NAME if (c, i) == (0, 0) else f"{i}.png"
            write_image(tmp_path / "imgs" / cls / name, colour=(30 * i, 60 * c, 90))
            hair = "@dark" if i < 2 + 4 * c else "=blond"
            rows.append(f"{cls}/{name},{hair},{'train' if i < 6 else 'test'}")
    (tmp_path / "attrs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = {"image_folder": str(tmp_path / "imgs"), "attributes_csv": str(tmp_path / "attrs.csv"),
            "attributes": ["hair"], "image_size": 32}
    return manifest_config(tmp_path, tmp_path / "attrs.csv", data=data,
                           analysis={"expected_regions": [], "spurious_regions": []}), data


def test_rebalance_csv_reads_back_as_it_was_written(tmp_path):
    """The rebalanced CSV escapes ``+ve`` as ``'+ve`` and U+200F as ``‹U+200F›`` for
    spreadsheets; given back as ``data.train_manifest`` (README) or ``data.manifest`` it failed
    ("'+ve/0.png" is not a sample of the data source). It now reads back exactly what was
    written, and stays inert."""
    from auditor.config import DataConfig
    from auditor.data import load_data

    config, data = _signed_folder(tmp_path)
    out = tmp_path / "rb.csv"
    result = invoke("rebalance", config, "--by", "hair", "--strategy", "oversample", "--out", out)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert "'+ve" in cells and "'-ve" in cells and "'=blond" in cells
    assert "'+ve/a\u2039U+200F\u203ab.png" in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert not any(ch in c for c in cells for ch in BIDI_CONTROLS)

    source = load_data(DataConfig(**data), seed=0).table
    balanced = load_data(DataConfig(**data, train_manifest=out), seed=0).table
    as_manifest = load_data(DataConfig(manifest=out, root=tmp_path / "imgs",
                                       attributes=["hair"], image_size=32), seed=0).table
    for table in (balanced, as_manifest):
        mine = table.set_index("id")[["label", "split", "hair"]].sort_index()
        assert mine.equals(source.set_index("id")[["label", "split", "hair"]].sort_index())
        assert f"+ve/{ODD_NAME}" in mine.index and set(mine["hair"]) == {"@dark", "=blond"}
        assert table.loc[table["split"] == "train", "weight"].max() > 1  # oversampled copies
    again = manifest_config(tmp_path, tmp_path / "attrs.csv", analysis={
        "expected_regions": [], "spurious_regions": []}, data={**data, "train_manifest": str(out)})
    result = invoke("validate", again)
    assert result.exit_code == 0, result.output
    assert "training draws the 12 train images with the sampling weights" in result.output


def test_spreadsheet_escapes_are_undone_exactly():
    """Every value reads back as written, even one that looks like an escape itself."""
    import pandas as pd

    from auditor.data.csv_files import undo_spreadsheet_safe

    values = [*FORMULAS, "'=already quoted", "''+two", "'plain", "-1", "+0.5", "\u2039U+200F\u203a",
              "x\u202ey", "\u2039", "plain"]
    table = pd.DataFrame({"=col": values, "n": range(len(values))})
    back = undo_spreadsheet_safe(spreadsheet_safe(table))
    assert back.columns.tolist() == ["=col", "n"] and back["=col"].tolist() == values


# -- row 15: Ctrl-C -----------------------------------------------------------------------------

@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_prints_the_resume_line_and_releases_the_lock(tmp_path, sig, code):
    """Ctrl-C, and SIGTERM (what docker stop, Slurm preemption and ``timeout`` send): the
    resume line, the lock released, exit 130 / 143."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=16, n_test=8)
    path = manifest_config(tmp_path, manifest, report={"formats": []},
                           models=[{"name": "m", "train": {"epochs": 400, "batch_size": 4}}])
    proc = cli_popen("run", path, cwd=tmp_path)
    lock = tmp_path / "run" / "run.lock"
    wait_until(proc, lambda: (tmp_path / "run" / "run.log").exists() and lock.exists())
    time.sleep(1.0)  # well inside training
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "interrupted; run the same command again to resume" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not lock.exists()  # the lock was released on the way out
    marker = json.loads((tmp_path / "run" / "run.json").read_text())
    assert marker["complete"] is False  # what "run the same command again" resumes


def test_a_sigterm_after_the_command_finished_is_ignored(monkeypatch):
    """A SIGTERM that came as a run finished raised KeyboardInterrupt inside the interpreter's
    shutdown ("Exception ignored in atexit callback ... _on_sigterm"): once the command is
    over, the handler is gone."""
    from auditor import cli

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr("sys.argv", ["audit", "version"])
    try:
        with pytest.raises(SystemExit) as done:
            cli.main()
        assert done.value.code == 0
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_line_break_in_a_file_name_cannot_forge_an_output_line(tmp_path):
    """A skipped file named ``a.png\\nerror: fake.png`` printed a line of its own."""
    from auditor.cli import _safe

    shown = _safe("3 sample(s) skipped: a.png\nerror: fake.png\r[red]x[/]")
    assert "\n" not in shown and "\r" not in shown
    assert shown.startswith("3 sample(s) skipped: a.png\\nerror: fake.png")

"""Images changed after a run: ``audit report`` drew the new file under the old heatmap, and
``audit compare`` paired two runs' different images that share an id, both without a word.
The run records each audited file's fingerprint (``samples.parquet`` column ``image_hash``)."""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers.reliability import (
    assert_one_line_error,
    invoke,
    make_manifest_dataset,
    manifest_config,
    write_png,
)

# make_manifest_dataset(n_train=4, n_test=2): the test split is img_004, img_005 (doctor) and
# img_010, img_011 (nurse)
AUDITED = ("img_004.png", "img_005.png", "img_010.png", "img_011.png")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(data folder, run folder) of a finished one-model run over 4 test images."""
    tmp = tmp_path_factory.mktemp("fingerprints")
    manifest = make_manifest_dataset(tmp / "data", n_train=4, n_test=2)
    result = invoke("run", manifest_config(tmp, manifest))
    assert result.exit_code == 0, result.output
    return tmp / "data", tmp / "run"


@pytest.fixture
def edited(finished):
    """The finished run's data folder, restored after the test (image files only)."""
    data, _ = finished
    kept = {name: (data / name).read_bytes() for name in AUDITED}
    yield data
    for name, content in kept.items():
        (data / name).write_bytes(content)


def test_the_run_records_each_audited_images_fingerprint(finished):
    _, run = finished
    df = pd.read_parquet(run / "samples.parquet")
    assert sorted(df["id"]) == list(AUDITED)
    assert df["image_hash"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert df["image_hash"].nunique() == len(AUDITED)


def test_report_after_an_image_was_overwritten_is_refused_naming_it(finished, edited):
    _, run = finished
    before = (run / "report.html").read_bytes()
    write_png(edited / "img_010.png", seed=99)  # same name, size and format; other pixels
    line = assert_one_line_error(invoke("report", run, "--no-pdf"),
                                 "img_010.png: changed since the run",
                                 "1 of the 4 audited images", "audit run again")
    assert str(edited / "img_010.png") in line
    write_png(edited / "img_005.png", seed=98)
    assert_one_line_error(invoke("report", run, "--no-pdf"), "img_005.png: changed",
                          "it and 1 more of the 4 audited images")
    assert (run / "report.html").read_bytes() == before  # nothing rewritten


def test_report_of_unchanged_images_renders_whatever_their_dates(finished, edited):
    _, run = finished
    for name in AUDITED:  # copied, restored from a backup: new dates, the same bytes
        (edited / name).write_bytes((edited / name).read_bytes())
        os.utime(edited / name, (1_000_000_000, 1_000_000_000))
    result = invoke("report", run, "--no-pdf")
    assert result.exit_code == 0, result.output


def test_report_of_a_run_with_a_missing_image_renders_as_before(finished, edited):
    """A missing file is left out of the galleries (with a warning), as before the check."""
    _, run = finished
    (edited / "img_004.png").unlink()
    result = invoke("report", run, "--no-pdf")
    assert result.exit_code == 0, result.output


def test_report_of_an_older_run_without_fingerprints_renders_unchecked(finished, edited,
                                                                       tmp_path, caplog):
    from auditor.report.stage import rerender_report

    _, run = finished
    old = tmp_path / "old"
    shutil.copytree(run, old)
    df = pd.read_parquet(old / "samples.parquet")
    df.drop(columns="image_hash", errors="ignore").to_parquet(old / "samples.parquet", index=False)
    write_png(edited / "img_010.png", seed=99)  # cannot be told from the audited one
    with caplog.at_level(logging.WARNING, logger="auditor"):
        files = rerender_report(old, formats=("html",))
    assert files["html"].is_file()
    assert any("records no image fingerprints" in r.getMessage() for r in caplog.records)


def test_report_of_an_id_naming_a_symlink_loop_leaves_it_out(finished, tmp_path):
    """An edited id naming a symlink loop inside the data root was a RuntimeError traceback
    (pathlib's "Symlink loop"); it is now outside the root like any unresolvable path."""
    data, run = finished
    edited = tmp_path / "run"
    shutil.copytree(run, edited)
    os.symlink(data / "loop.png", data / "loop.png")
    try:
        df = pd.read_parquet(edited / "samples.parquet")
        df.assign(id="loop.png").to_parquet(edited / "samples.parquet", index=False)
        maps = edited / "maps" / "m.npz"  # the maps edited to match, or they are refused first
        with np.load(maps) as z:
            arrays = {k: z[k] for k in z.files}
        np.savez(maps, **{**arrays, "ids": np.array(["loop.png"] * len(arrays["ids"]))})
        result = invoke("report", edited, "--no-pdf")
    finally:
        (data / "loop.png").unlink()
    assert result.exit_code == 0, (result.output, result.exception)


def test_running_the_audit_again_as_advised_makes_the_report_render(tmp_path):
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest, report={"formats": []})
    assert invoke("run", path).exit_code == 0
    write_png(tmp_path / "data" / "img_011.png", seed=99)
    assert invoke("report", tmp_path / "run", "--no-pdf").exit_code == 1
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    result = invoke("report", tmp_path / "run", "--no-pdf")
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def two_more_runs(finished, tmp_path_factory):
    """Runs of the same config over a copy of the data (same bytes, another folder) and over
    the data with two test images regenerated (same ids, other bytes)."""
    data, _ = finished
    tmp = tmp_path_factory.mktemp("fingerprints-b")
    runs = {}
    for name, redrawn in (("copy", ()), ("regenerated", ("img_011.png", "img_004.png"))):
        shutil.copytree(data, tmp / name / "data")
        for k, image in enumerate(redrawn):
            write_png(tmp / name / "data" / image, seed=90 + k)
        path = manifest_config(tmp / name, tmp / name / "data" / "manifest.csv",
                               report={"formats": []})
        result = invoke("run", path)
        assert result.exit_code == 0, result.output
        runs[name] = tmp / name / "run"
    return runs


def test_compare_of_runs_over_the_same_images_in_other_folders_works(finished, two_more_runs,
                                                                     tmp_path):
    _, run = finished
    result = invoke("compare", run, two_more_runs["copy"], "--out", tmp_path / "cmp")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cmp" / "compare.json").is_file()


def test_compare_of_runs_whose_same_id_images_differ_is_refused(finished, two_more_runs,
                                                                tmp_path):
    _, run = finished
    for a, b in ((run, two_more_runs["regenerated"]), (two_more_runs["regenerated"], run)):
        result = invoke("compare", a, b, "--out", tmp_path / "cmp")
        assert_one_line_error(result, "2 of the 4 sample ids name different images",
                              "'img_004.png'", "regenerated or edited between the runs")
    assert not (tmp_path / "cmp").exists()

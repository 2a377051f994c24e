"""Faults around the run directory (issue #16 rows 3, 4, 5, 12, 16): --overwrite never empties
what auditor did not write, resume keys on data and weights, one run per folder, a full disk
and a damaged summary.json are one line each."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import yaml
from helpers.reliability import (
    assert_one_line_error,
    cli_env,
    cli_popen,
    invoke,
    make_manifest_dataset,
    manifest_config,
    read_summary,
    wait_until,
)

from auditor.common import files as files_module


def _files(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- row 3: --overwrite deletes only what auditor wrote ------------------------------------------

def test_overwrite_refuses_the_data_folder(dataset, tmp_path):
    _, path = dataset
    (tmp_path / "data" / "notes.txt").write_text("my notes")
    before = _files(tmp_path / "data")
    raw = yaml.safe_load(path.read_text())
    raw["output_dir"] = "data"
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(invoke("run", path, "--overwrite"), "not an auditor run",
                          "only empties folders auditor wrote")
    assert _files(tmp_path / "data") == before


def test_overwrite_refuses_a_run_folder_holding_foreign_files(dataset, tmp_path):
    _, path = dataset
    assert invoke("run", path).exit_code == 0
    (tmp_path / "run" / "thesis.tex").write_text("years of work")
    raw = yaml.safe_load(path.read_text())
    raw["seed"] = 1  # another config: only --overwrite would replace the folder
    path.write_text(yaml.safe_dump(raw))
    assert_one_line_error(invoke("run", path, "--overwrite"), "'thesis.tex'",
                          "did not write")
    assert (tmp_path / "run" / "thesis.tex").read_text() == "years of work"
    assert assert_one_line_error(invoke("run", path, "--fresh"), "different config")


def test_overwrite_refuses_a_folder_holding_this_runs_inputs(tmp_path):
    """A run folder whose data/ a new config reads: emptying it would delete the inputs."""
    manifest = make_manifest_dataset(tmp_path / "old" / "data", n_train=4, n_test=2)
    (tmp_path / "old" / "run.json").write_text(json.dumps({"key": "x", "complete": True}))
    path = manifest_config(tmp_path, manifest, output_dir="old", report={"formats": []})
    assert_one_line_error(invoke("run", path, "--overwrite"), "an input of this run")
    assert manifest.is_file()


def test_overwrite_replaces_an_old_run_of_another_config(dataset, tmp_path):
    _, path = dataset
    assert invoke("run", path).exit_code == 0
    raw = yaml.safe_load(path.read_text())
    raw["seed"] = 1
    path.write_text(yaml.safe_dump(raw))
    result = invoke("run", path, "--overwrite")
    assert result.exit_code == 0, result.output
    assert read_summary(tmp_path / "run")["environment"]["seed"] == 1


# -- row 4: resume keys on data, annotations and weights -----------------------------------------

def _interrupted(path, monkeypatch) -> None:
    """Run until every shard is written, then fail as a kill would (shards kept)."""
    from auditor.pipeline import run as run_module

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(run_module, "merge_shards", killed)
        invoke("run", path)


@pytest.mark.parametrize("edit", ["regions", "image", "checkpoint"])
def test_resume_after_a_data_or_weights_change_starts_the_audit_over(tmp_path, monkeypatch,
                                                                     edit):
    import torch
    from PIL import Image

    from auditor.models import build_model

    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    torch.manual_seed(0)
    torch.save(build_model("simple_cnn", 2).state_dict(), tmp_path / "w.pt")
    models = [{"name": "m", "checkpoint": str(tmp_path / "w.pt")}] if edit == "checkpoint" \
        else [{"name": "m", "train": {"epochs": 1, "batch_size": 16}}]
    path = manifest_config(tmp_path, manifest, report={"formats": []}, models=models)
    _interrupted(path, monkeypatch)
    assert any((tmp_path / "run" / "shards" / "m").glob("batch_*.npz"))
    if edit == "regions":
        coco = json.loads((tmp_path / "data" / "regions.json").read_text())
        for ann in coco["annotations"]:
            ann["bbox"] = [0, 0, 12, 30]
        (tmp_path / "data" / "regions.json").write_text(json.dumps(coco))
    elif edit == "image":
        Image.new("RGB", (32, 32), (250, 0, 0)).save(tmp_path / "data" / "img_009.png")
    else:
        torch.manual_seed(1)
        torch.save(build_model("simple_cnn", 2).state_dict(), tmp_path / "w.pt")
    resumed = invoke("run", path)
    assert resumed.exit_code == 0, resumed.output
    assert "its audit starts over" in resumed.output
    fresh_cfg = manifest_config(tmp_path / "fresh", manifest, report={"formats": []},
                                models=models)
    assert invoke("run", fresh_cfg).exit_code == 0
    a = read_summary(tmp_path / "run")["models"]["m"]
    b = read_summary(tmp_path / "fresh" / "run")["models"]["m"]
    assert a["attention"] == b["attention"] and a["metrics"] == b["metrics"]


def test_resume_by_an_auditor_with_another_shard_layout_starts_the_audit_over(
        dataset, tmp_path, monkeypatch):
    """Shards written by an auditor that stored other swap columns under the same version
    (here: the layout before each context swap got its placebo) are not mixed in."""
    from auditor.pipeline import audit_pass

    _, path = dataset
    with monkeypatch.context() as m:
        m.setattr(audit_pass, "SHARD_LAYOUT", 1)
        _interrupted(path, monkeypatch)
    resumed = invoke("run", path)
    assert resumed.exit_code == 0, resumed.output
    assert "its audit starts over" in resumed.output


def test_resume_with_unchanged_data_keeps_the_shards(dataset, tmp_path, monkeypatch):
    _, path = dataset
    _interrupted(path, monkeypatch)
    resumed = invoke("run", path)
    assert resumed.exit_code == 0 and "(resumed)" in resumed.output
    assert "starts over" not in resumed.output


@pytest.mark.parametrize("replaced", ["pretrained", "arch file"])
def test_a_start_file_replaced_in_place_trains_the_model_again(tmp_path, replaced):
    """``pretrained`` weights or the ``file.py`` of ``arch: file.py:Class`` replaced at the
    same path: the checkpoint fine-tuned from the old one is not reused."""
    import torch
    from helpers.own_models import write_user_model

    from auditor.models import build_model

    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    arch = f"{write_user_model(tmp_path)}:MyNet"
    torch.manual_seed(0)
    torch.save(build_model(arch, 2).state_dict(), tmp_path / "p.pt")
    path = manifest_config(tmp_path, manifest, report={"formats": []}, models=[
        {"name": "m", "arch": arch, "pretrained": "p.pt", "train": {"epochs": 1}}])
    log = tmp_path / "run" / "run.log"
    for _ in range(2):  # the second run reuses the checkpoint
        assert invoke("run", path).exit_code == 0
    assert log.read_text().count("reusing trained checkpoint models/m.pt") == 1
    if replaced == "pretrained":
        torch.manual_seed(1)
        torch.save(build_model(arch, 2).state_dict(), tmp_path / "p.pt")
    else:
        with open(tmp_path / "my_models.py", "a") as fh:
            fh.write("\n# edited: same parameters, other code\n")
    assert invoke("run", path).exit_code == 0
    assert log.read_text().count("reusing trained checkpoint models/m.pt") == 1
    assert log.read_text().count("trained m: final train accuracy") == 2


# -- row 5: one run per output folder ---------------------------------------------------------

def _hold_lock(folder) -> subprocess.Popen:
    """Another process holding ``folder/run.lock`` until its stdin closes."""
    code = ("import sys; from pathlib import Path; from auditor.pipeline.runlock import RunLock;"
            f"lock = RunLock(Path({str(folder / 'run.lock')!r})); lock.acquire();"
            "print('held', flush=True); sys.stdin.read()")
    from helpers.reliability import cli_env

    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=cli_env())
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_concurrent_run_is_refused(dataset, tmp_path):
    _, path = dataset
    (tmp_path / "run").mkdir()
    holder = _hold_lock(tmp_path / "run")
    try:
        assert_one_line_error(invoke("run", path), "another audit is running",
                              f"pid {holder.pid}", socket.gethostname())
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert invoke("run", path).exit_code == 0  # free again once the holder ended


def test_a_second_cli_run_is_refused_while_the_first_runs(tmp_path):
    """Two real processes on one folder: the second is refused in one line naming the first,
    before it imports torch (here it cannot: a `torch` that raises stands first on its path);
    the first, interrupted, releases its lock."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    path = manifest_config(tmp_path, manifest, report={"formats": []},
                           models=[{"name": "m", "train": {"epochs": 10_000, "batch_size": 16}}])
    first = cli_popen("run", path, cwd=tmp_path)
    lock = tmp_path / "run" / "run.lock"
    wait_until(first, lambda: lock.exists() and f'"pid": {first.pid}' in lock.read_text())
    (tmp_path / "no_torch").mkdir()
    (tmp_path / "no_torch" / "torch.py").write_text("raise ImportError('torch was imported')\n")
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "no_torch"), env["PYTHONPATH"]])
    try:
        second = subprocess.run([sys.executable, "-m", "auditor", "run", str(path)], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=300)
        err = second.stderr
        assert first.poll() is None, "the first run ended before the second started"
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert second.returncode == 1 and "Traceback" not in err, err[-2000:]
    assert "another audit is running" in err and f"pid {first.pid}" in err
    assert first.returncode == 130 and not lock.exists()
    assert not (tmp_path / "run" / "shards").exists()  # the second one audited nothing


def test_the_early_check_refuses_a_held_lock_only_and_leaves_the_folder_as_it_was(
        tmp_path, monkeypatch):
    """`refuse_if_running` (asked before torch's import) gives acquire's refusal while a lock
    is held, takes nothing, and lets torchrun's worker ranks through (they share rank 0's)."""
    from auditor.errors import RunDirError
    from auditor.pipeline.runlock import RunLock, refuse_if_running

    monkeypatch.delenv("RANK", raising=False)
    refuse_if_running(tmp_path / "absent")  # no folder, no lock: nothing to refuse
    assert not (tmp_path / "absent").exists()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.lock").write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
    refuse_if_running(tmp_path / "run")  # a file nobody holds: acquire decides later
    (tmp_path / "run" / "run.lock").unlink()
    held = RunLock(tmp_path / "run" / "run.lock")
    held.acquire()
    try:
        with pytest.raises(RunDirError, match=f"another audit is running .*pid {os.getpid()}"):
            refuse_if_running(tmp_path / "run")
        monkeypatch.setenv("RANK", "1")
        refuse_if_running(tmp_path / "run")
        monkeypatch.setenv("RANK", "0")
        with pytest.raises(RunDirError):
            refuse_if_running(tmp_path / "run")
    finally:
        held.release()
    refuse_if_running(tmp_path / "run")
    assert held.acquire() is None  # the probe left no lock of its own behind
    held.release()


def test_a_stale_lock_of_a_dead_process_is_taken_over(dataset, tmp_path):
    _, path = dataset
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.lock").write_text(json.dumps(
        {"pid": dead.pid, "host": socket.gethostname(), "started": "yesterday"}))
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert f"took over the lock left by a process that no longer runs (pid {dead.pid})" in \
        result.output


def test_a_lock_from_another_host_is_refused_with_the_way_out(dataset, tmp_path):
    _, path = dataset
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.lock").write_text(json.dumps(
        {"pid": 4242, "host": "elsewhere.example", "started": "now"}))
    assert_one_line_error(invoke("run", path), "host elsewhere.example", "delete")


def test_a_planted_lock_symlink_is_not_followed(dataset, tmp_path):
    _, path = dataset
    (tmp_path / "run").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "run" / "run.lock")
    assert_one_line_error(invoke("run", path), "run.lock")
    assert victim.read_text() == "precious"


# -- row 12: a full disk -------------------------------------------------------------------

@pytest.mark.parametrize("victim", ["summary.json", "m.npz", "m.pt"])
def test_disk_full_names_the_file_and_the_bytes(dataset, tmp_path, monkeypatch, victim):
    _, path = dataset
    real = files_module._write_all

    def full(fh, data):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fh.fileno()}")).startswith(
                f".{victim}."):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, data)

    monkeypatch.setattr(files_module, "_write_all", full)
    line = assert_one_line_error(invoke("run", path), victim, "no space left",
                                 "bytes needed")
    assert "run the same command again" in line
    assert not [p for p in (tmp_path / "run").rglob("*.tmp")]


def test_machine_faults_escaping_a_command_are_one_line(monkeypatch, capsys):
    from auditor import cli

    def boom():
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/data/img_1.png")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit) as done:
        cli.main()
    err = capsys.readouterr().err
    assert done.value.code == 1 and "Traceback" not in err
    assert err.count("error:") == 1 and "img_1.png" in err and "no space left" in err


# -- row 16: a damaged summary.json ----------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finished")
    manifest = make_manifest_dataset(tmp / "data", n_train=4, n_test=2)
    path = manifest_config(tmp, manifest)
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    return tmp / "run"


@pytest.mark.parametrize("content, needle", [
    ("[]", "not list"),
    ("{", "damaged summary file"),
    ('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
    ('{"schema": "auditor.summary/1", "models": 5, "dataset": {}}', "damaged"),
    ("\xff\xfe", "damaged summary file"),
])
def test_report_on_a_damaged_summary_is_one_line(finished_run, content, needle):
    summary = finished_run / "summary.json"
    good = summary.read_bytes()
    try:
        summary.write_bytes(content.encode("latin-1") if content.startswith("\xff")
                            else content.encode())
        assert_one_line_error(invoke("report", finished_run, "--no-pdf"), "summary.json",
                              needle)
    finally:
        summary.write_bytes(good)
    assert invoke("report", finished_run, "--no-pdf").exit_code == 0


@pytest.mark.parametrize("path, value", [
    (("models", "m"), 5), (("models", "m", "metrics"), []), (("models", "m", "findings"), 7),
    (("models", "m", "attention"), "x"), (("dataset", "skipped"), {"a": 1}),
    (("dataset", "classes"), None), (("models", "m", "by_group"), [1, 2]),
])
def test_report_on_an_edited_summary_never_shows_a_traceback(finished_run, path, value):
    summary = finished_run / "summary.json"
    good = summary.read_bytes()
    data = json.loads(good)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        summary.write_text(json.dumps(data))
        result = invoke("report", finished_run, "--no-pdf")
        if result.exit_code != 0:
            assert_one_line_error(result, "summary.json")
    finally:
        summary.write_bytes(good)


@pytest.mark.parametrize("path, value", [
    (("dataset",), []), (("dataset",), "x"), (("dataset", "classes"), 5),
    (("dataset", "attributes"), "hair"), (("models",), ["m"]), (("models", "m"), [1, 2]),
    (("methods",), 7), (("training",), [1]),
])
def test_compare_of_an_edited_summary_is_one_line_naming_it(finished_run, tmp_path, path,
                                                             value):
    """compare read these fields without checking them: AttributeError and TypeError
    tracebacks, a string of attributes read letter by letter (every group comparison dropped
    without a word), a damaged summary blamed on samples.parquet."""
    import shutil

    edited = tmp_path / "edited"
    shutil.copytree(finished_run, edited)
    data = json.loads((edited / "summary.json").read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (edited / "summary.json").write_text(json.dumps(data))
    for a, b in ((finished_run, edited), (edited, finished_run)):
        result = invoke("compare", a, b, "--out", tmp_path / "cmp")
        assert_one_line_error(result, "summary.json: damaged")
        assert "samples.parquet" not in result.output


def test_report_of_a_run_whose_maps_were_deleted_names_the_file(finished_run, tmp_path):
    """With maps/ deleted, the report was rendered without a single heatmap, without a word."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    shutil.rmtree(run / "maps")
    result = invoke("report", run, "--no-pdf")
    assert_one_line_error(result, "maps/m.npz: missing", "--fresh")


@pytest.mark.parametrize("marker", ['{"complete": "yes"}', '{"key": 5, "complete": true}'])
def test_report_of_a_run_whose_marker_was_edited_says_so(finished_run, tmp_path, marker):
    """run.json without the run's key read "output_dir is not empty and is not an auditor run
    (no run.json)": the file was there, and `report` has no output_dir. (A marker that is not
    a JSON object is named as damaged before this point.)"""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    (run / "run.json").write_text(marker)
    result = invoke("report", run, "--no-pdf")
    assert_one_line_error(result, "not a finished auditor run (its run.json is not one "
                                  "auditor wrote")
    assert "output_dir" not in result.output and "no run.json" not in result.output


@pytest.mark.parametrize("damage", ["text", "truncated", "fewer_ids", "pickled"])
def test_report_of_a_run_whose_maps_were_damaged_names_the_file(finished_run, tmp_path, damage):
    """A maps file replaced by text or cut short, or holding the maps of only some samples,
    rendered a report without those heatmaps and logged one warning per image."""
    import shutil

    import numpy as np

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    path = run / "maps" / "m.npz"
    if damage == "text":
        path.write_text("not an npz")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        if damage == "fewer_ids":  # a consistent file, but three samples only
            arrays = {**arrays, "ids": arrays["ids"][:3], "maps": arrays["maps"][:3]}
        else:
            arrays = {**arrays, "ids": np.array(list(arrays["ids"]), dtype=object)}
        np.savez(path, **arrays)
    result = invoke("report", run, "--no-pdf")
    if damage == "fewer_ids":
        assert_one_line_error(result, "maps/m.npz: no map for", "samples.parquet lists for "
                              "model m", "do not belong together", "--fresh")
    else:
        assert_one_line_error(result, "maps/m.npz: damaged", "--fresh")


def _maps_with_ids(npz: bytes, sample_id: str) -> bytes:
    """A maps file whose every map is labelled ``sample_id`` (an edit matching samples.parquet:
    the id, not the maps file, is what the report must not follow out of the data root)."""
    import io

    import numpy as np

    with np.load(io.BytesIO(npz)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["ids"] = np.array([sample_id] * len(arrays["ids"]))
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def test_report_never_reads_images_outside_the_data_root(finished_run, monkeypatch):
    """Ids in samples.parquet name the thumbnails' files; an edited id cannot leave the root."""
    import pandas as pd

    from auditor.data import plan
    from auditor.report.stage import rerender_report

    samples_path = finished_run / "samples.parquet"
    good = samples_path.read_bytes()
    maps = finished_run / "maps" / "m.npz"
    good_maps = maps.read_bytes()
    secret = finished_run.parent / "secret.png"
    secret.write_bytes(b"not read")
    opened = []
    real_preview = plan.preview
    monkeypatch.setattr(plan, "preview", lambda path, *a, **k: (opened.append(path),
                                                                 real_preview(path, *a, **k))[1])
    try:
        df = pd.read_parquet(samples_path)
        df["id"] = ["../../secret.png"] * len(df)
        df.to_parquet(samples_path)
        maps.write_bytes(_maps_with_ids(good_maps, "../../secret.png"))  # both files edited
        rerender_report(finished_run, formats=("html",))
    finally:
        samples_path.write_bytes(good)
        maps.write_bytes(good_maps)
    assert all(secret.name not in str(p) for p in opened), opened


def test_a_refusal_names_the_one_model_setting_that_differs_and_stays_short(tmp_path):
    """Unannotated data (expected_regions fitted to []), then one model's epochs changed: the
    line names ``models[0].train.epochs``, not the fitted regions nor the whole model list."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    data = {"manifest": str(manifest), "attributes": ["hair"], "image_size": 32,
            "normalize": "none"}
    models = [{"name": "m", "train": {"epochs": 1, "batch_size": 16}},
              {"name": "other-model-with-a-long-name", "train": {"epochs": 1, "batch_size": 16}}]
    path = manifest_config(tmp_path, manifest, data=data, models=models,
                           report={"formats": []})
    assert invoke("run", path).exit_code == 0
    models[1]["train"]["epochs"] = 2
    path = manifest_config(tmp_path, manifest, data=data, models=models,
                           report={"formats": []})
    line = assert_one_line_error(invoke("run", path), "(models[1].train.epochs: 1 -> 2)",
                                 "--overwrite")
    assert "expected_regions" not in line and len(line.replace(str(tmp_path), "")) < 200, line


def test_a_run_that_stopped_before_any_result_gives_way_to_the_corrected_config(tmp_path):
    """Every image unreadable: the run stops at the data, leaving only its marker, log and
    config. The corrected config runs in the same folder without --overwrite, and says so;
    a finished run of another config is still refused."""
    manifest = make_manifest_dataset(tmp_path / "data", n_train=4, n_test=2)
    broken = tmp_path / "broken"
    broken.mkdir()
    for png in (tmp_path / "data").glob("*.png"):
        (broken / png.name).write_bytes(b"not a png")
    (broken / "manifest.csv").write_text(manifest.read_text())
    (broken / "regions.json").write_text((manifest.parent / "regions.json").read_text())
    path = manifest_config(tmp_path, broken / "manifest.csv")
    assert_one_line_error(invoke("run", path), "no usable samples")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.resolved.yaml", "run.json", "run.log"]
    path = manifest_config(tmp_path, manifest)
    result = invoke("run", path)
    assert result.exit_code == 0, result.output
    assert "replaced a run of another config that had stopped before it produced any " \
        "result" in result.output
    assert (tmp_path / "run" / "summary.json").exists()
    path = manifest_config(tmp_path, manifest, seed=1)
    assert_one_line_error(invoke("run", path), "different config", "(seed: 0 -> 1)")

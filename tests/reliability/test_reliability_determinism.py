"""Same config, same numbers: two fresh runs agree, and a run killed mid-audit resumes to the
numbers of an uninterrupted one. ``--fresh`` starts over."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers.reliability import cli_env, comparable, invoke

CONFIG = {
    "name": "determinism",
    "output_dir": "run",
    "seed": 3,
    "device": "cpu",
    "data": {"synthetic": {"n_train": 64, "n_val": 8, "n_test": 128, "image_size": 32},
             "image_size": 32, "normalize": "none"},
    "models": [{"name": "m", "train": {"epochs": 1, "batch_size": 32}}],
    "saliency": {"methods": ["gradcam", "gradcam++"], "batch_size": 8},
    "analysis": {"n_bootstrap": 100},
    "report": {"formats": []},
}


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def _summary(folder: Path) -> dict:
    return comparable(json.loads((folder / "run" / "summary.json").read_text()))


def _kill_mid_audit(config: Path, timeout: float = 150.0) -> list[Path]:
    """Start ``python -m auditor run config`` and SIGKILL it once a result shard exists.

    Returns:
        The shard files present right after the kill.
    """
    shards = config.parent / "run" / "shards"
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "run", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env(),
                            cwd=config.parent)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if shards.is_dir() and any(shards.rglob("batch_*.npz")):
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return sorted(shards.rglob("batch_*.npz")) if shards.is_dir() else []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Folders of: A (a fresh run), C (killed mid-audit, then resumed), D (a copy of the
    killed C re-run with --fresh); plus what the kill left and the CLI outputs."""
    base = tmp_path_factory.mktemp("determinism")
    a, c, d = base / "a", base / "c", base / "d"
    result_a = invoke("run", _write(a))
    assert result_a.exit_code == 0, result_a.output
    left = _kill_mid_audit(_write(c))
    marker = json.loads((c / "run" / "run.json").read_text())
    killed_state = {"shards": left, "complete": marker.get("complete"),
                    "summary": (c / "run" / "summary.json").exists()}
    _write(d)
    shutil.copytree(c / "run", d / "run")
    result_c = invoke("run", c / "config.yaml")
    result_d = invoke("run", d / "config.yaml", "--fresh")
    return {"a": a, "c": c, "d": d, "killed": killed_state,
            "out_c": result_c, "out_d": result_d}


def test_kill_landed_mid_audit(runs):
    killed = runs["killed"]
    assert killed["shards"], "the run was not killed during the audit"
    assert len(killed["shards"]) < 128 // 8  # some batches were still to do
    assert killed["complete"] is False and not killed["summary"]


def test_resumed_run_matches_uninterrupted_run(runs):
    out = runs["out_c"]
    assert out.exit_code == 0, out.output
    assert "(resumed)" in out.output
    assert _summary(runs["c"]) == _summary(runs["a"])
    pd.testing.assert_frame_equal(pd.read_parquet(runs["c"] / "run" / "samples.parquet"),
                                  pd.read_parquet(runs["a"] / "run" / "samples.parquet"))
    assert json.loads((runs["c"] / "run" / "run.json").read_text())["complete"] is True
    assert not (runs["c"] / "run" / "shards").exists()


def test_fresh_starts_over(runs):
    out = runs["out_d"]
    assert out.exit_code == 0, out.output
    assert "(resumed)" not in out.output
    log = (runs["d"] / "run" / "run.log").read_text()
    starts = [line for line in log.splitlines() if "resumed=" in line]
    # the killed run's log was wiped with everything else: one start, not resumed
    assert len(starts) == 1 and "resumed=False" in starts[0], starts


def test_two_fresh_runs_are_identical(runs):
    a, d = runs["a"] / "run", runs["d"] / "run"
    assert _summary(runs["d"]) == _summary(runs["a"])
    pd.testing.assert_frame_equal(pd.read_parquet(d / "samples.parquet"),
                                  pd.read_parquet(a / "samples.parquet"))
    assert (a / "config.resolved.yaml").read_text() != ""
    assert yaml.safe_load((a / "config.resolved.yaml").read_text())["output_dir"] != \
        yaml.safe_load((d / "config.resolved.yaml").read_text())["output_dir"]

"""`torchrun --nproc_per_node 2 -m auditor run` (gloo, CPU) gives the single-process result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.tiny_config import write_config


def test_two_process_audit_matches_single_process(tiny_run, tmp_path):
    single = json.loads((tiny_run[0].parent / "run/summary.json").read_text())
    # the report's PDF is rank 0's alone and outside what is compared: HTML only saves ~10 s
    path = write_config(tmp_path, report={"examples_per_group": 2, "formats": ["html"]})
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "auditor", "run",
         str(path)], env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("Report:") == 1  # only rank 0 reports
    log = (tmp_path / "run/run.log").read_text()
    assert "rank 0 of 2" in log and "1 of 2 batches on this rank" in log
    multi = json.loads((tmp_path / "run/summary.json").read_text())
    assert multi["dataset"]["n_samples"] == single["dataset"]["n_samples"]
    for name, m in single["models"].items():
        got = multi["models"][name]
        for key in ("accuracy", "worst_group_accuracy"):
            assert got["metrics"][key] == pytest.approx(m["metrics"][key], abs=1e-9)
        for region, entry in m["attention"]["gradcam"].items():
            assert got["attention"]["gradcam"][region]["mass"] == pytest.approx(
                entry["mass"], abs=1e-6)

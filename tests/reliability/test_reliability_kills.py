"""A run killed or stopped from outside (kill -9, the OOM killer, SIGTERM from docker stop,
Slurm or timeout, a killed re-run): nothing is left behind that blocks the resume, and nothing
half-rewritten is shown as a finished run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.reliability import (
    assert_one_line_error,
    cli_env,
    invoke,
)

from auditor.errors import RunDirError
from auditor.pipeline.rundir import RunDir
from auditor.pipeline.runlock import RunLock

linux_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")

# holds run.lock, then renders the clinic data in the process pool (forced for a few images)
# and waits inside the first progress call, printing the pool's worker PIDs
_SYNTH_UNDER_LOCK = """
import multiprocessing, os, sys
from pathlib import Path
from auditor.config import SyntheticConfig
from auditor.data import synthetic
from auditor.pipeline.rundir import RunDir
from auditor.pipeline.runlock import RunLock

synthetic.PARALLEL_MIN_IMAGES = 0
os.cpu_count = lambda: 2  # a pool of two workers on any machine
folder = Path(sys.argv[1])
lock = RunLock(folder / "run.lock")
lock.acquire()

def progress(done, total):
    print(*[p.pid for p in multiprocessing.active_children()], flush=True)
    sys.stdin.read()

synthetic.generate_clinic(folder / "data", SyntheticConfig(n_train=200, n_val=0, n_test=4,
                                                           image_size=32),
                          seed=0, progress=progress)
"""


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (a reparented zombie may wait for its reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _holds(pid: int, path: Path) -> bool:
    """``pid`` has ``path`` open."""
    target = os.path.realpath(path)
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return target in links


@linux_proc
def test_a_kill_during_data_generation_leaves_no_worker_and_no_lock(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _SYNTH_UNDER_LOCK, str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=cli_env())
    workers = [int(p) for p in proc.stdout.readline().split()]
    try:
        assert len(workers) == 2
        lock = tmp_path / "run.lock"
        assert not any(_holds(w, lock) for w in workers)  # a forked worker closed its copy
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(map(_running, workers)):
            time.sleep(0.05)
        assert not any(map(_running, workers)), "pool workers outlived their killed parent"
        assert RunLock(lock).acquire() == ("took over the lock left by a process that no "
                                           f"longer runs (pid {proc.pid})")
    finally:
        for pid in filter(_running, workers):  # the workers of this test only, if left
            subprocess.run(["kill", "-9", str(pid)], check=False)


_HOLD_AS_LEFTOVER = """
import fcntl, json, os, socket, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": int(sys.argv[2]), "host": socket.gethostname(),
                         "started": "yesterday"}).encode())
print("held", flush=True)
sys.stdin.read()
"""


@linux_proc
def test_a_lock_of_a_dead_run_held_by_its_leftovers_names_them(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_AS_LEFTOVER, str(lock),
                               str(dead.pid)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError) as err:
            RunLock(lock).acquire()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    line = str(err.value)
    assert f"leftover processes of an audit that no longer runs (pid {dead.pid})" in line
    assert f"pids {holder.pid};" in line and f"kill {holder.pid}" in line
    assert "\n" not in line and socket.gethostname() not in line
    assert json.loads(lock.read_text())["pid"] == dead.pid  # the refusal changed nothing


def test_a_killed_rerun_of_a_finished_run_is_not_taken_for_a_finished_one(dataset, tmp_path,
                                                                          monkeypatch):
    """The same config run again (say after a manifest edit) rewrites the results; killed
    after the new maps and before the new summary, the folder must not read as finished."""
    _, path = dataset
    assert invoke("run", path).exit_code == 0
    run = tmp_path / "run"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(RunDir, "write_parquet", killed)  # samples.parquet comes after maps/
        invoke("run", path)
    assert json.loads((run / "run.json").read_text())["complete"] is False
    refusal = f"{run}: the run did not finish; run the same command again to resume"
    assert_one_line_error(invoke("report", run, "--no-pdf"), refusal)
    assert_one_line_error(invoke("compare", run, run), refusal)
    assert invoke("run", path).exit_code == 0  # the resume finishes it
    for _ in range(2):  # rendering the report again leaves the run finished
        result = invoke("report", run, "--no-pdf")
        assert result.exit_code == 0, result.output
    assert json.loads((run / "run.json").read_text())["complete"] is True

"""Worker processes that end with the process that started them.

A process pool's forked workers outlive a parent killed with ``kill -9`` (the OOM killer,
``docker stop`` after its grace period, a Slurm cancel): their parent becomes init, they block
forever on the pool's pipes and keep every file the parent had open, ``run.lock`` among them.
:func:`die_with_parent` is the pool ``initializer`` that prevents it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int) -> None:
    """End this (worker) process as soon as ``parent_pid`` ends.

    On Linux the kernel sends it SIGKILL when its parent dies (``PR_SET_PDEATHSIG``);
    elsewhere a daemon thread checks the parent once a second. A parent that died before this
    ran is caught by the ``getppid`` check.

    Args:
        parent_pid: the PID of the process that creates the pool (``os.getpid()`` there).
    """
    if not (sys.platform.startswith("linux") and _set_pdeathsig(signal.SIGKILL)):
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                         name="die-with-parent").start()
    if os.getppid() != parent_pid:  # the parent was gone before the kernel could watch it
        os._exit(1)


def _set_pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)

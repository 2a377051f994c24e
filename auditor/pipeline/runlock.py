"""``run.lock``: one audit at a time per run directory.

The lock file records the holder's PID, host and start time and is held with ``flock`` for the
holder's lifetime, so a second concurrent run is refused in one line naming the holder. A lock
left by a process that died (``kill -9``, power cut) is free again: on the same host it is taken
over (its PID no longer runs); a lock naming another host is refused with the command to remove
it, since liveness cannot be checked there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditor.errors import RunDirError

__all__ = ["RunLock"]


class RunLock:
    """The lock file ``path`` (``<run dir>/run.lock``)."""

    NAME = "run.lock"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.root = self.path.parent
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """Take the lock; returns a note when a stale lock was taken over.

        Raises:
            RunDirError: another live process holds it, or a host we cannot check does.
        """
        path = self.path
        for _ in range(5):  # the holder may delete the file between our open and our flock
            try:  # O_NOFOLLOW: a planted symlink must not make us truncate its target
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as err:
                raise RunDirError(f"{path}: cannot open the lock file ({err.strerror}); "
                                  "remove it if no audit is running") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_lock(fd)
                os.close(fd)
                raise RunDirError(
                    f"{self.root}: another audit is running on this output_dir "
                    f"({_describe(holder)}); wait for it to finish or use another output_dir"
                ) from None
            try:
                same_file = os.fstat(fd).st_ino == os.stat(path).st_ino
            except OSError:
                same_file = False
            if same_file:
                break
            os.close(fd)
        else:
            raise RunDirError(f"{self.root}: could not take {self.NAME} (it keeps changing)")
        holder, note = _read_lock(fd), None
        if holder and holder.get("pid") != os.getpid():
            host, pid = holder.get("host"), holder.get("pid")
            if host != socket.gethostname():
                os.close(fd)
                raise RunDirError(
                    f"{self.root}: {self.NAME} says an audit runs on host {host} (pid {pid}); "
                    f"if it does not, delete {path} and run again")
            if isinstance(pid, int) and not isinstance(pid, bool) and _alive(pid):
                os.close(fd)
                raise RunDirError(
                    f"{self.root}: another audit is running on this output_dir "
                    f"({_describe(holder)}); wait for it to finish or use another output_dir")
            note = f"took over the lock left by a process that no longer runs (pid {pid})"
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": _now()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd
        return note

    def __del__(self) -> None:
        self.release()

    def release(self) -> None:
        """Delete the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None


def _read_lock(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "its lock file is being written"
    return (f"pid {holder.get('pid')} on host {holder.get('host')}, started "
            f"{holder.get('started')}")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

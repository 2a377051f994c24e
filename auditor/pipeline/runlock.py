"""``run.lock``: one audit at a time per run directory.

The lock file records the holder's PID, host and start time and is held with ``flock`` for the
holder's lifetime, so a second concurrent run is refused in one line naming the holder. A lock
left by a process that died (``kill -9``, power cut) is free again: on the same host it is taken
over (its PID no longer runs); a lock naming another host is refused with the command to remove
it, since liveness cannot be checked there. A forked child (a pool or DataLoader worker) closes
its copy of the lock at once, so a worker left behind never keeps the lock; when the recorded PID
is dead but the lock is still held, the refusal names the processes that hold it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditor.errors import RunDirError

__all__ = ["RunLock", "refuse_if_running"]

_HELD: weakref.WeakSet[RunLock] = weakref.WeakSet()  # the locks this process holds


class RunLock:
    """The lock file ``path`` (``<run dir>/run.lock``)."""

    NAME = "run.lock"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.root = self.path.parent
        self._fd: int | None = None
        self._pid = os.getpid()

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
            self._flock_or_refuse(fd, fcntl.LOCK_EX)
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
        self._fd, self._pid = fd, os.getpid()
        _HELD.add(self)
        return note

    def refuse_if_held(self) -> None:
        """Raise the refusal ``acquire`` would give when another process holds the lock now;
        takes nothing and creates nothing. ``audit run`` asks this before it imports torch,
        so a second run on a busy folder is answered at once.

        Raises:
            RunDirError: another process holds the lock.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # no lock file, or one acquire will explain
            return
        self._flock_or_refuse(fd, fcntl.LOCK_SH)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _flock_or_refuse(self, fd: int, mode: int) -> None:
        """``flock(fd, mode)`` without waiting; when another process holds the lock, close
        ``fd`` and raise the refusal naming the holder."""
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError:
            err = self._held_error(fd)
            os.close(fd)
            raise err from None

    def _held_error(self, fd: int) -> RunDirError:
        """The refusal for a lock another process holds (``fd``: the open lock file)."""
        holder = _read_lock(fd)
        leftovers = _leftover_holders(fd, holder)
        if leftovers is not None:
            return RunDirError(self._leftover_message(holder, leftovers))
        return RunDirError(
            f"{self.root}: another audit is running on this output_dir "
            f"({_describe(holder)}); wait for it to finish or use another output_dir")

    def _leftover_message(self, holder: dict[str, Any], pids: list[int]) -> str:
        dead = holder.get("pid")
        if not pids:
            return (f"{self.root}: {self.NAME} is still held, but the audit that took it (pid "
                    f"{dead}) no longer runs: a process it left behind holds it; end it "
                    f"(fuser -v {self.path} names it) and run again")
        listed = " ".join(map(str, pids))
        return (f"{self.root}: {self.NAME} is held by leftover processes of an audit that no "
                f"longer runs (pid {dead}): pids {', '.join(map(str, pids))}; end them "
                f"(kill {listed}) and run again")

    def __del__(self) -> None:
        self.release()

    def release(self) -> None:
        """Delete the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        if self._pid != os.getpid():  # a forked copy: the lock is its parent's
            self._forget()
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def _forget(self) -> None:
        """Close this process's copy of the fd without unlinking; the parent's flock stays
        (closing one of several fds of a lock never releases it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None


def refuse_if_running(output_dir: Path) -> None:
    """Refuse at once when a live audit holds ``output_dir``'s lock (see
    :meth:`RunLock.refuse_if_held`). The worker ranks of a torchrun (``RANK`` > 0) share rank
    0's lock and are not checked."""
    if os.environ.get("RANK", "0") in ("", "0"):
        RunLock(Path(output_dir) / RunLock.NAME).refuse_if_held()


def _close_in_child() -> None:
    """After ``fork``: the child must not keep its parent's locks alive."""
    for lock in list(_HELD):
        lock._forget()
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def _leftover_holders(fd: int, holder: dict[str, Any] | None) -> list[int] | None:
    """When the lock names a process of this host that no longer runs yet is still held:
    the PIDs of the processes holding it (found in ``/proc``; empty when none can be
    seen). None when the recorded holder is alive, on another host, or unknown."""
    pid = holder.get("pid") if holder else None
    if (not holder or holder.get("host") != socket.gethostname() or not isinstance(pid, int)
            or isinstance(pid, bool) or _alive(pid)):
        return None
    try:
        st = os.fstat(fd)
        procs = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []
    target, found = (st.st_dev, st.st_ino), []
    for name in procs:
        if int(name) == os.getpid():
            continue
        try:
            with os.scandir(f"/proc/{name}/fd") as fds:
                for entry in fds:
                    with contextlib.suppress(OSError):
                        s = os.stat(entry.path)
                        if (s.st_dev, s.st_ino) == target:
                            found.append(int(name))
                            break
        except OSError:  # ended meanwhile, or another user's
            continue
    return sorted(found)


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

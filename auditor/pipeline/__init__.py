"""Orchestration: the stages in order, the run directory, progress and the audit pass.

``from auditor.pipeline import run_audit`` is the public entry point (see the README). The
names are resolved lazily so that light commands (``audit compare``, ``audit report``) that
import :mod:`auditor.pipeline.compare_runs` or :mod:`auditor.pipeline.rundir` do not pull in
torch through :mod:`auditor.pipeline.run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.pipeline.run import RunResult, run_audit

__all__ = ["RunResult", "run_audit"]


def __getattr__(name: str):
    if name in __all__:
        from auditor.pipeline import run

        return getattr(run, name)
    raise AttributeError(f"module 'auditor.pipeline' has no attribute {name!r}")

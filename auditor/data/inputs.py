"""The files and folders a config reads: its inputs.

A run never deletes them with its output_dir (``pipeline/rundir.py``) and ``audit rebalance``
never writes its ``--out`` over one of them.
"""

from __future__ import annotations

from pathlib import Path

from auditor.config import PATH_FIELDS, AuditConfig

__all__ = ["input_paths"]


def input_paths(cfg: AuditConfig) -> dict[str, Path]:
    """The inputs of a run of ``cfg`` by config key (``config file`` for the file itself):
    the data files and folders, the annotations, the checkpoints and pretrained weights."""
    paths = {"config file": cfg.source_path}
    paths.update({f"data.{key}": getattr(cfg.data, key) for key in PATH_FIELDS["data"]})
    paths["data.regions.path"] = cfg.data.regions.path if cfg.data.regions else None
    for i, m in enumerate(cfg.models):
        paths.update({f"models[{i}].{key}": getattr(m, key) for key in PATH_FIELDS["model"]})
    return {key: Path(p) for key, p in paths.items() if p is not None}

"""What a run directory and its audit shards belong to: the keys that decide whether a run
folder is this config's (``run_key``) and whether a model's shards can be reused
(``shard_key``), and what differs when a folder is refused (``first_difference``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import yaml

from auditor import __version__
from auditor.common.text import clip
from auditor.config import AuditConfig, config_to_yaml
from auditor.models.code_hash import code_hash
from auditor.pipeline.preflight import FITTED_KEYS

__all__ = ["first_difference", "model_hash", "run_key", "shard_key"]


def run_key(cfg: AuditConfig) -> str:
    """Hash of everything in the config that changes results (the report section excluded).

    It decides whether a run directory belongs to this config at all; what the data and the
    models are is checked per model before its audit shards are reused (:func:`shard_key`).
    """
    data = cfg.model_dump(mode="json", exclude={"report": True, "output_dir": True,
                                                "name": True})
    text = repr(sorted(data.items())) + __version__
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def first_difference(cfg: AuditConfig) -> Callable[[Path], str | None]:
    """For a refused output_dir: the first setting in which ``cfg`` differs from the run the
    folder holds (its ``config.resolved.yaml``), as ``key: old -> new``, or None."""
    skip = ("report", "output_dir", "name")

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(d, list) and d and all(isinstance(v, dict) for v in d):
            return {k: v for i, val in enumerate(d)  # models[1].train.epochs, not the list
                    for k, v in flat(val, f"{prefix.rstrip('.')}[{i}].").items()}
        if not isinstance(d, dict):
            return {prefix: d}
        return {k: v for key, val in d.items() if str(key) not in skip or prefix
                for k, v in flat(val, f"{prefix}{key}.").items()}

    def explain(root: Path) -> str | None:
        try:
            old = flat(yaml.safe_load((root / "config.resolved.yaml").read_text("utf-8")))
        except (OSError, ValueError, yaml.YAMLError):
            return None
        new = flat(yaml.safe_load(config_to_yaml(cfg)))
        differ = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        # the folder's file holds the settings fitted to the data, cfg the ones as given
        differ = [k for k in differ if k.rstrip(".") not in FITTED_KEYS] or differ
        if not differ:
            return "another auditor version"
        was, now = (clip(repr(v.get(differ[0])), 60, middle=True) for v in (old, new))
        more = f", and {len(differ) - 1} more setting{'s' * (len(differ) > 2)}" * (
            len(differ) > 1)
        return f"{differ[0].rstrip('.')}: {was} -> {now}{more}"
    return explain


def model_hash(model: torch.nn.Module) -> str:
    """sha256 of the model's state_dict (names and bytes of every tensor)."""
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode("utf-8"))
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def shard_key(key: str, bundle: Any, model: torch.nn.Module, layout: str) -> str:
    """What a model's audit shards depend on: the config key, the data (table, annotation
    bytes, image and annotation file sizes and mtimes), the model's weights and code
    (:func:`~auditor.models.code_hash.code_hash`: a ``forward`` edited between the interrupted
    run and the resume ran other code on the same weights) and the shards' layout
    (:func:`~auditor.pipeline.audit_pass.shard_layout`: a newer auditor may store other
    columns under the same version number)."""
    text = "\n".join((key, bundle.data_hash, bundle.files_stamp, model_hash(model),
                      code_hash(model), layout))
    return hashlib.sha256(text.encode()).hexdigest()

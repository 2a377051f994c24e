"""Memory flat in dataset size: the audit loop streams each batch to a shard and keeps nothing.

``tracemalloc`` sees every Python object and every NumPy buffer (NumPy reports its allocations
to it), which is where per-sample results would pile up if the loop kept them; torch's own
CPU buffers are freed with their batch.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import torch
from torch.utils.data import Dataset

from auditor.config import AnalysisConfig, SaliencyConfig
from auditor.models import build_model, default_target_layer
from auditor.pipeline.audit_pass import audit_model
from auditor.pipeline.rundir import RunDir

SIZE, BATCH, REGIONS = 64, 16, ["object", "background"]


class _RandomSamples(Dataset):
    """``n`` random images with a square ``object`` region (items as the data stage makes)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> dict:
        gen = torch.Generator().manual_seed(k)
        masks = torch.zeros((2, SIZE, SIZE), dtype=torch.bool)
        masks[0, 16:48, 16:48] = True
        masks[1] = ~masks[0]
        return {"image": torch.randn((3, SIZE, SIZE), generator=gen), "label": k % 2,
                "masks": masks, "index": k}


def _audit(tmp_path, name: str, n_batches: int) -> int:
    model = build_model("simple_cnn", 2).eval()
    rundir = RunDir(tmp_path / name, key=name)
    scfg = SaliencyConfig(methods=["gradcam", "gradcam++"], batch_size=BATCH, map_size=SIZE)
    acfg = AnalysisConfig(reliance=True)
    done = audit_model(model, "m", _RandomSamples(n_batches * BATCH), REGIONS, scfg, acfg,
                       rundir, target_layer=default_target_layer("simple_cnn"),
                       device=torch.device("cpu"))
    assert done == n_batches
    assert len(list((tmp_path / name / "shards" / "m").glob("batch_*.npz"))) == n_batches
    return done


def _peak(tmp_path, name: str, n_batches: int) -> int:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    _audit(tmp_path, name, n_batches)
    return tracemalloc.get_traced_memory()[1] - base


def test_audit_loop_peak_memory_does_not_grow_with_batches(tmp_path):
    _audit(tmp_path, "warmup", 2)  # imports, lazy registries, allocator pools
    tracemalloc.start()
    try:
        peak4 = _peak(tmp_path, "four", 4)
        peak16 = _peak(tmp_path, "sixteen", 16)
    finally:
        tracemalloc.stop()
    with np.load(tmp_path / "sixteen" / "shards" / "m" / "batch_00000.npz") as z:
        per_batch = sum(z[k].nbytes for k in z.files)
    # results kept in memory would add 12 batches' worth of arrays: far above this bound
    assert per_batch * 12 > 4 * (256 << 10)
    assert peak16 - peak4 < 256 << 10, (peak4, peak16, per_batch)

"""Stored maps keep their shape whatever their scale: float16 holds 6e-5..65504, and raw
Grad-CAM values of a small-logit model (~1e-9) were stored as zeros, a large-logit model's
as infinities. Each low-resolution map is now scaled to a peak of 1 before the cast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from auditor.config import AnalysisConfig, SaliencyConfig
from auditor.models import build_model, default_target_layer
from auditor.pipeline.audit_pass import audit_model
from auditor.pipeline.rundir import RunDir

SIZE = 32


class _Samples(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, k: int) -> dict:
        masks = torch.zeros((2, SIZE, SIZE), dtype=torch.bool)
        masks[0, 8:24, 8:24] = True
        masks[1] = ~masks[0]
        image = torch.randn((3, SIZE, SIZE), generator=torch.Generator().manual_seed(k))
        return {"image": image, "label": k % 2, "masks": masks, "index": k}


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e9])
def test_stored_maps_survive_float16_at_any_scale(tmp_path, scale):
    torch.manual_seed(0)
    model = build_model("simple_cnn", 2).eval()
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.mul_(scale)
        head.bias.mul_(scale)
    rundir = RunDir(tmp_path / "run", key="k")
    audit_model(model, "m", _Samples(), ["object", "background"],
                SaliencyConfig(methods=["gradcam"], batch_size=8, map_size=8),
                AnalysisConfig(reliance=False), rundir,
                target_layer=default_target_layer("simple_cnn"), device=torch.device("cpu"))
    with np.load(tmp_path / "run" / "shards" / "m" / "batch_00000.npz") as z:
        maps = z["maps"].astype(np.float32)  # [N, M, h, w]
    assert np.isfinite(maps).all()
    peaks = maps.reshape(len(maps), -1).max(axis=1)
    assert ((peaks == 1.0) | (peaks == 0.0)).all() and (peaks == 1.0).sum() >= 4, peaks

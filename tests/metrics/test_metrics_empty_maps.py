"""Empty (all-zero) saliency maps are named, and never read as "looks nowhere": a model whose
Grad-CAM maps were all zero got "No serious flags" (or a false ignored-region finding), and its
sanity check "passed" with nothing compared."""

from __future__ import annotations

import numpy as np
import torch

from auditor.metrics.empty_maps import empty_map_counts, empty_map_findings, mostly_empty
from auditor.metrics.findings import compute_findings, sanity_findings
from auditor.metrics.settings import AnalysisSettings
from auditor.saliency.sanity import model_randomization_check, spearman_per_map

REGIONS = ["face", "object", "background"]
CLEAN_MASS = {"face": 0.08, "object": 0.6, "background": 0.32}  # tests/metrics/conftest.py
CFG = AnalysisSettings(expected_regions=["object"], spurious_regions=["face"], n_bootstrap=200)


def _emptied(table, k):
    """``table`` with the first ``k`` rows' maps empty (every mass 0)."""
    out = table.copy()
    for r in REGIONS:
        out.loc[out.index[:k], f"mass_gradcam_{r}"] = 0.0
    return out


def test_counts_and_severity_by_hand(make_table):
    cells = {(lab, hair): {"n": 25, "wrong": 2, "mass": CLEAN_MASS}
             for lab in ("doctor", "nurse") for hair in ("dark", "blond")}
    table = make_table(cells)  # 100 rows
    assert empty_map_counts(_emptied(table, 60), "gradcam", REGIONS) == (60, 100)
    high = empty_map_findings(_emptied(table, 60), ["gradcam"], REGIONS)
    assert [(f.kind, f.severity) for f in high] == [("unreliable_saliency", "high")]
    assert "60 of 100 images" in high[0].title and high[0].evidence["empty_maps"] == 60
    # 12 of 100: Wilson lower bound 7.0% >= 5% -> medium; 3 of 100: 1.0% -> nothing
    assert [f.severity for f in empty_map_findings(_emptied(table, 12), ["gradcam"],
                                                   REGIONS)] == ["medium"]
    assert empty_map_findings(_emptied(table, 3), ["gradcam"], REGIONS) == []
    assert empty_map_findings(table, ["gradcam"], REGIONS) == []
    assert mostly_empty(_emptied(table, 50), "gradcam", REGIONS)
    assert not mostly_empty(_emptied(table, 49), "gradcam", REGIONS)


def test_empty_maps_are_flagged_and_not_read_as_an_ignored_region(make_table):
    cells = {(lab, hair): {"n": 25, "wrong": 2, "mass": CLEAN_MASS}
             for lab in ("doctor", "nurse") for hair in ("dark", "blond")}
    empty = _emptied(make_table(cells), 100)
    found = compute_findings(empty, methods=["gradcam"], regions=REGIONS,
                             attributes=["hair"], config=CFG)
    assert [(f.kind, f.severity) for f in found] == [("unreliable_saliency", "high")]


def test_sanity_with_empty_reference_maps_is_inconclusive_not_passed():
    ref = torch.zeros(3, 6, 6)
    ref[2, 1, 1] = 1.0
    rho = spearman_per_map(ref, torch.rand(3, 6, 6))
    assert np.isnan(rho[:2]).all() and np.isfinite(rho[2])

    class Negative(torch.nn.Module):  # every Grad-CAM map is exactly 0
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.head = torch.nn.Linear(4, 2)
            with torch.no_grad():
                self.conv.bias.fill_(1.0)
                self.head.weight.fill_(-1.0)

        def forward(self, x):
            return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))

    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    res = model_randomization_check(Negative(), x, method="gradcam", target_layer="conv")
    assert res.empty_maps == 4 and np.isnan(res.spearman) and res.passed is False
    assert sanity_findings({"method": "gradcam", "spearman": None, "passed": False}) == []


def test_a_model_without_parameters_has_nothing_to_randomise():
    import pytest

    from auditor.errors import SaliencyError

    class Constants(torch.nn.Module):  # weights held as constants, as in a frozen file
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 3)
            self.conv.requires_grad_(False)
            w, b = self.conv.weight.detach(), self.conv.bias.detach()
            del self.conv.weight, self.conv.bias
            self.conv.register_buffer("weight", w)
            self.conv.register_buffer("bias", b)

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))

    model = Constants()
    assert not list(model.parameters())
    with pytest.raises(SaliencyError, match="no parameters to randomise"):
        model_randomization_check(model, torch.rand(2, 3, 8, 8), method="gradcam",
                                  target_layer="conv")

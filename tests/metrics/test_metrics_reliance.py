"""Reliance test on a planted model that only reads texture in the top-left quadrant."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from auditor.metrics.reliance import reliance_summary
from auditor.models.state import eval_mode
from auditor.pipeline.reliance_pass import reliance_test
from auditor.saliency.perturb import occlude_regions

S = 16


class TopLeftTexture(nn.Module):
    """Class 0 when the top-left quadrant has texture (horizontal differences), else class 1."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))
        self.drop = nn.Dropout(0.5)
        self.seen_training: list[bool] = []

    def forward(self, x):
        self.seen_training.append(self.training)
        q = x[:, 0, : S // 2, : S // 2]
        texture = (q[:, :, 1:] - q[:, :, :-1]).abs().mean(dim=(1, 2))
        logits = torch.stack([texture, torch.full_like(texture, 0.5)], dim=1) * self.scale
        return self.drop(logits)


def _data(n_textured=6, n_flat=4):
    images = torch.zeros(n_textured + n_flat, 3, S, S)
    checker = (torch.arange(S)[:, None] + torch.arange(S)[None, :]) % 2
    images[:n_textured, :, : S // 2, : S // 2] = checker[: S // 2, : S // 2].float()
    images[n_textured:, :, : S // 2, : S // 2] = 0.7  # flat: class 1
    masks = torch.zeros(len(images), 2, S, S, dtype=torch.bool)
    masks[:, 0, : S // 2, : S // 2] = True    # "corner" region
    masks[:, 1, S // 2 :, S // 2 :] = True    # "far" region
    return images, masks


@pytest.mark.parametrize("fill", ["blur", "mean"])
def test_occluding_the_used_region_flips_it(fill):
    images, masks = _data()
    model = TopLeftTexture()
    model.train()
    out = reliance_test(model, images, masks, ["corner", "far"], fill=fill, batch_size=4)
    assert out["corner"]["flip"].tolist() == [True] * 6 + [False] * 4
    assert out["far"]["flip"].tolist() == [False] * 10
    assert (out["corner"]["conf_drop"][:6] > 0.5).all()
    assert np.allclose(out["far"]["conf_drop"], 0.0, atol=1e-6)
    assert model.training and model.drop.training       # restored
    assert not any(model.seen_training)                 # ran in eval mode


def test_occlude_regions_only_touches_the_mask():
    images, masks = _data()
    out = occlude_regions(images, masks, 0, "mean")
    assert torch.equal(out[:, :, S // 2 :, :], images[:, :, S // 2 :, :])
    expected = images[0].mean(dim=(1, 2))
    assert torch.allclose(out[0, :, 0, 0], expected)
    with pytest.raises(ValueError):
        occlude_regions(images, masks, 0, "noise")


def test_eval_mode_restores_on_error():
    model = TopLeftTexture()
    model.train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert model.training and model.drop.training


def test_reliance_summary():
    df = pd.DataFrame({
        "label": ["a"] * 10 + ["b"] * 10, "hair": ["x", "y"] * 10,
        "flip_face": [True] * 5 + [False] * 15,
        "conf_drop_face": [0.4] * 5 + [0.0] * 15,
        "area_face": [0.1] * 18 + [0.0] * 2,  # two samples without a face: not tested
    })
    s = reliance_summary(df, ["face", "object"], ["hair"], n_boot=200)
    assert set(s) == {"face"}
    face = s["face"]
    assert face["n"] == 18 and face["flip_rate"] == pytest.approx(5 / 18)
    assert face["ci"][0] < 5 / 18 < face["ci"][1]
    assert face["conf_drop"] == pytest.approx(2.0 / 18)
    assert face["by_class"]["a"]["flip_rate"] == pytest.approx(0.5)
    assert face["by_group"]["hair"]["x"]["n"] == 9


def test_separable_blur_equals_torchvision_gaussian_blur():
    import math

    import torchvision.transforms.functional as TF

    from auditor.saliency.perturb import _blur

    images = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    sigma = 48 / 8.0
    k = min(2 * math.ceil(3 * sigma) + 1, 2 * 40 - 1)
    expected = TF.gaussian_blur(images, kernel_size=[k, k], sigma=[sigma, sigma])
    assert torch.allclose(_blur(images), expected, atol=1e-5)

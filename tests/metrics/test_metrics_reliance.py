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


def test_swap_region_pastes_the_donor_region_and_keeps_the_kept_pixels():
    from auditor.saliency.perturb import swap_region

    images = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 1, 4, 4).clone()
    region = torch.zeros(3, 4, 4, dtype=torch.bool)
    region[0, 0, :] = True   # image 0's region: top row
    region[1, 3, :] = True   # image 1's region: bottom row
    keep = torch.zeros(3, 4, 4, dtype=torch.bool)
    keep[0, 3, 0] = True     # a kept pixel inside the donor's region
    filler = torch.full_like(images, -1.0)
    out = swap_region(images, region, torch.tensor([1, 0, 2]), keep=keep, filler=filler)
    assert out[0, 0, 0].tolist() == [-1.0] * 4          # own region filled
    assert out[0, 0, 3].tolist() == [0.0, 1.0, 1.0, 1.0]  # donor's region pasted, keep kept
    assert out[0, 0, 1].tolist() == [0.0] * 4            # elsewhere untouched
    assert out[1, 0, 0].tolist() == [0.0] * 4 and out[1, 0, 3].tolist() == [-1.0] * 4
    assert torch.equal(out[2], images[2])                 # its own donor: region empty


def test_swap_test_follows_a_model_that_reads_only_the_corner():
    from auditor.pipeline.reliance_pass import OBJECT_SWAP, Swap, SwapPlan, swap_test

    images, masks = _data()                         # corner decides the class
    labels = np.array([0] * 6 + [1] * 4)
    plan = SwapPlan([Swap(OBJECT_SWAP, None, None), Swap("hair:far", 1, "hair")],
                    expected=[0], codes={"hair": np.arange(10) % 2}, labels=labels, seed=0)
    model = TopLeftTexture()
    pred, donor = swap_test(model, images, masks, np.arange(10), plan, batch_number=0)
    assert (donor[:, 0] >= 0).all()
    assert (labels[donor[:, 0]] != labels).all()    # object donors are of another class
    assert (pred[:, 0] == labels[donor[:, 0]]).all()  # the pasted corner decides
    assert ((np.arange(10) % 2)[donor[:, 1]] != np.arange(10) % 2).all()
    assert (pred[:, 1] == labels).all()              # the far region never matters
    again, _ = swap_test(model, images, masks, np.arange(10), plan, batch_number=0)
    assert np.array_equal(pred, again)              # donors drawn from a seeded generator


def test_context_classes_only_for_a_real_association():
    from auditor.metrics.reliance import context_classes

    # hair agrees with the class in 95% of 400 rows: each value goes with its class
    biased = pd.DataFrame({"label": [0] * 190 + [1] * 10 + [1] * 190 + [0] * 10,
                           "hair": ["d"] * 200 + ["b"] * 200})
    ctx = context_classes(biased, "hair", ["doctor", "nurse"])
    assert ctx["d"] == {"class": "doctor", "share": 0.95, "base": 0.5, "n": 200}
    assert ctx["b"]["class"] == "nurse"
    # independent of the class (52% vs 50%): no class, a swap can disrupt but not lead
    null = pd.DataFrame({"label": [0] * 104 + [1] * 96 + [1] * 104 + [0] * 96,
                         "hair": ["d"] * 200 + ["b"] * 200})
    ctx = context_classes(null, "hair", ["doctor", "nurse"])
    assert ctx["d"]["class"] is None and ctx["d"]["share"] == 0.52
    # a large excess on few rows is not significant (3 of 4 vs a base of 50%)
    few = pd.DataFrame({"label": [0, 0, 0, 1] + [1] * 50 + [0] * 46, "hair": list("dddd") +
                        ["b"] * 96})
    assert context_classes(few, "hair", ["doctor", "nurse"])["d"]["class"] is None


def test_swap_without_a_context_class_counts_flips_but_no_following():
    from auditor.metrics.reliance import swap_rates

    df = pd.DataFrame({"pred": ["a", "a", "b", "b"], "label": ["a", "a", "b", "b"],
                       "swap_pred_hair:face": ["b", "a", "a", "b"],
                       "swap_to_hair:face": [None, None, "a", None]})
    r = swap_rates(df, "hair:face")
    assert r["n"] == 4 and r["flip_rate"] == 0.5  # every swapped row counts for flips
    assert r["n_follow"] == 1 and r["follow_rate"] == 1.0  # only the row whose value leads
    assert r["n_placebo"] == 0


def test_pick_donors_other_key_or_same_key_never_itself():
    from auditor.pipeline.reliance_pass import pick_donors

    keys = np.array([0, 0, 1, 1, 1, 2])
    usable = np.array([True, True, True, True, True, False])
    rng = np.random.default_rng(0)
    other = pick_donors(keys, usable, rng)
    same = pick_donors(keys, usable, rng, same=True)
    for i in range(5):
        assert usable[other[i]] and keys[other[i]] != keys[i]
        assert usable[same[i]] and keys[same[i]] == keys[i] and same[i] != i
    assert other[5] == same[5] == -1  # not usable: gets no donor
    lone = pick_donors(np.array([0, 1]), np.array([True, True]), rng, same=True)
    assert lone.tolist() == [-1, -1]  # nobody else with the same key

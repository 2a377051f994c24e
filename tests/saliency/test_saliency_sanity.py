"""Model-parameter randomisation check (Adebayo et al. 2018) and its similarity measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.saliency import TinyGapNet, images
from scipy.stats import spearmanr
from torch import nn

from auditor.errors import SaliencyError
from auditor.saliency.sanity import (
    MAX_STEPS,
    SanityResult,
    _steps,
    model_randomization_check,
    spearman_per_map,
    ssim,
)


def test_ssim_matches_skimage():
    metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 24, 24, generator=g)
    b = (a + 0.3 * torch.rand(3, 24, 24, generator=g)).clamp(0, 1)
    ours = ssim(a, b)
    for i in range(3):
        ref = metrics.structural_similarity(a[i].numpy(), b[i].numpy(), data_range=1.0,
                                            gaussian_weights=True, sigma=1.5,
                                            use_sample_covariance=False)
        assert ours[i].item() == pytest.approx(ref, abs=1e-5)
    assert ssim(a, a).min().item() == pytest.approx(1.0, abs=1e-6)


def test_spearman_matches_scipy_and_constant_maps_count_as_zero():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 8, 8, generator=g), torch.rand(2, 8, 8, generator=g)
    b[1] = a[1] ** 2  # monotone: rank correlation 1
    rho = spearman_per_map(a, b)
    assert rho[0] == pytest.approx(spearmanr(a[0].flatten(), b[0].flatten()).statistic)
    assert rho[1] == pytest.approx(1.0)
    assert spearman_per_map(a[:1], torch.zeros(1, 8, 8))[0] == 0.0


def test_cascade_randomises_a_copy_from_the_head_down(tiny_gap):
    before = {k: v.clone() for k, v in tiny_gap.state_dict().items()}
    x = images(4, 16)
    res = model_randomization_check(tiny_gap, x, method="gradcam", target_layer="features")
    assert isinstance(res, SanityResult)
    assert res.test == "model_parameter_randomization" and res.method == "gradcam"
    assert [name for name, _, _ in res.per_layer] == ["fc", "features.4", "features.1",
                                                      "features.0"]
    assert -1.0 <= res.spearman <= 1.0 and -1.0 <= res.ssim <= 1.0
    assert res.passed == (min(r for _, r, _ in res.per_layer) < res.threshold)
    assert (res.spearman, res.ssim) == (res.per_layer[-1][1], res.per_layer[-1][2])
    for k, v in tiny_gap.state_dict().items():  # the caller's model is untouched
        torch.testing.assert_close(v, before[k])
    again = model_randomization_check(tiny_gap, x, method="gradcam", target_layer="features")
    assert again.per_layer == res.per_layer  # seeded


def test_maps_that_ignore_the_weights_fail_the_check():
    """Eigen-CAM of a parameter-free feature extractor does not depend on any weight."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(3 * 8 * 8, 3)).eval()
    res = model_randomization_check(model, images(3, 16), method="eigencam", target_layer="0")
    assert res.spearman == pytest.approx(1.0) and not res.passed


def test_full_randomisation_decorrelates_gradient_maps():
    """Input gradients depend on the weights: re-initialising all of them decorrelates the
    maps (measured rho ~0.03; the maps stay non-constant, so rho is a real correlation)."""
    torch.manual_seed(0)
    model = TinyGapNet(num_classes=2).eval()
    res = model_randomization_check(model, images(6, 16), method="gradient",
                                    target_layer="features", layers="full")
    assert len(res.per_layer) == 1 and res.per_layer[0][0] == "all"
    assert res.spearman < 0.3 and res.passed


def test_bad_layers_argument():
    with pytest.raises(SaliencyError, match="auto, cascade, blocks or full"):
        model_randomization_check(TinyGapNet(), images(1, 16), target_layer="features",
                                  layers="some")
    res = model_randomization_check(TinyGapNet(), images(2, 16), target_layer="features",
                                    layers="blocks")
    assert [n for n, _, _ in res.per_layer] == ["fc", "features.4", "features.1", "features.0"]
    assert np.isfinite([r for _, r, _ in res.per_layer]).all()


def _flat(steps):
    return [id(m) for _, mods in steps for m in mods]


def test_blocks_group_a_deep_model_into_at_most_twenty_steps_in_cascade_order():
    """resnet50 has 107 parameterised modules; its blocks are the residual blocks."""
    from auditor.models import build_model

    model = build_model("resnet50", 2)
    cascade, blocks = _steps(model, "cascade"), _steps(model, "blocks")
    assert len(cascade) == 107
    names = [n for n, _ in blocks]
    assert names == ["fc", "layer4.2", "layer4.1", "layer4.0", "layer3.5", "layer3.4",
                     "layer3.3", "layer3.2", "layer3.1", "layer3.0", "layer2.3", "layer2.2",
                     "layer2.1", "layer2.0", "layer1.2", "layer1.1", "layer1.0", "bn1", "conv1"]
    assert _flat(blocks) == _flat(cascade)  # same modules, same order: same final model
    assert [n for n, _ in _steps(model, "blocks", max_steps=7)] == [
        "fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]


@pytest.mark.parametrize(("arch", "n_steps"), [("simple_cnn", 9), ("vgg11_bn", 19),
                                               ("resnet18", 11), ("resnet50", 19)])
def test_auto_is_the_full_cascade_for_small_models_and_blocks_for_deep_ones(arch, n_steps):
    from auditor.models import build_model

    model = build_model(arch, 2)
    steps = _steps(model, "auto")
    assert len(steps) == n_steps
    assert _flat(steps) == _flat(_steps(model, "cascade"))
    if len(_steps(model, "cascade")) <= MAX_STEPS:
        assert all(len(mods) == 1 for _, mods in steps)


def test_every_grouping_ends_at_the_same_randomised_model():
    """The headline numbers come from the fully randomised copy, whatever the step size."""
    torch.manual_seed(0)
    model = TinyGapNet(num_classes=2).eval()
    a = model_randomization_check(model, images(3, 16), target_layer="features",
                                  layers="cascade", seed=4)
    b = model_randomization_check(model, images(3, 16), target_layer="features",
                                  layers="full", seed=4)
    assert len(a.per_layer) == 4 and len(b.per_layer) == 1
    assert a.per_layer[0][1] != pytest.approx(a.spearman)  # the cascade does move
    assert a.spearman == pytest.approx(b.spearman) and a.ssim == pytest.approx(b.ssim)


def test_the_check_reads_the_lowest_step_not_the_fully_randomised_copy(monkeypatch):
    """A random network's maps can follow the image's structure as the trained one's do: the
    cascade decorrelates the maps (0.1 after the second step) and the end correlates them again
    (0.8). They depend on the weights: passed, and ``lowest`` names the step."""
    import auditor.saliency.sanity as sanity

    steps = iter([np.array([0.9, 0.9, np.nan]), np.array([0.1, 0.1, np.nan]),
                  np.array([0.6, 0.7, np.nan]), np.array([0.8, 0.8, np.nan])])
    monkeypatch.setattr(sanity, "spearman_per_map", lambda a, b: next(steps))
    res = model_randomization_check(TinyGapNet(), images(3, 16), target_layer="features",
                                    layers="cascade")
    assert [round(r, 2) for _, r, _ in res.per_layer] == [0.9, 0.1, 0.65, 0.8]
    assert res.spearman == pytest.approx(0.8) and res.passed and res.lowest == 1
    assert res.per_image[1].tolist()[:2] == [0.1, 0.1]
    steps = iter([np.array([0.9, 0.8])] * 3 + [np.array([0.5, 0.6])])
    res = model_randomization_check(TinyGapNet(), images(2, 16), target_layer="features",
                                    layers="cascade")
    assert not res.passed and res.lowest == 3  # similar at every step: failed


class _KeyErrorGetattr(TinyGapNet):
    """A config-backed model: unknown attributes raise KeyError (deepcopy asks for
    ``__deepcopy__``, and ``hasattr`` only survives AttributeError)."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            raise KeyError(name) from None


def test_a_model_that_cannot_be_copied_is_randomised_in_place_and_restored():
    torch.manual_seed(0)
    model = _KeyErrorGetattr(num_classes=2).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = model_randomization_check(model, images(3, 16), target_layer="features")
    assert len(res.per_layer) == 4 and np.isfinite([r for _, r, _ in res.per_layer]).all()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    plain = TinyGapNet(num_classes=2).eval()
    plain.load_state_dict(before)
    again = model_randomization_check(plain, images(3, 16), target_layer="features")
    assert again.per_layer == res.per_layer  # the same cascade as on a copy

"""Known-answer tests for the methods without a peer reference, and the registry."""

from __future__ import annotations

import re

import pytest
import torch
from helpers.saliency import SmallVGG, TinyGapNet, images
from torch import nn

from auditor.errors import SaliencyError
from auditor.saliency import (
    CamEngine,
    get_method,
    list_methods,
    methods_need_input_grad,
    normalize,
    register_method,
)

ALL = ["cam", "gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "gradcam-neg",
       "scorecam", "smoothgradcam++", "eigencam", "gradient", "smoothgrad", "guided-backprop",
       "guided-gradcam", "occlusion"]


def test_registry_lists_every_design_method_with_description_and_cost():
    infos = {m.name: m for m in list_methods()}
    assert set(ALL) <= set(infos)
    for info in infos.values():
        assert info.description and "\n" not in info.description
        assert info.passes
    assert infos["occlusion"].space == "pixel" and infos["gradcam"].space == "activation"
    assert methods_need_input_grad(["gradcam", "smoothgrad"])
    assert not methods_need_input_grad(["gradcam", "gradcam++", "occlusion"])


def test_unknown_method_lists_valid_names():
    with pytest.raises(SaliencyError, match="did you mean 'gradcam'.*valid: .*gradcam\\+\\+"):
        get_method("gradcan")
    with pytest.raises(SaliencyError, match="unknown saliency method"):
        CamEngine(TinyGapNet(), "features", ["gradcam", "nope"])


@pytest.mark.parametrize(("method", "options", "says"), [
    ("occlusion", {"window": 100}, "'window' must be an integer from 1 to 32 (data.image_size)"),
    ("occlusion", {"window": 0}, "'window' must be an integer from 1 to 32"),  # not the default
    ("occlusion", {"stride": 2.5}, "'stride' must be an integer"),
    ("occlusion", {"window": True}, "got True"),  # a YAML yes is not 1
    ("occlusion", {"baseline": "black"}, "'baseline' must be a number"),
    ("smoothgrad", {"n": 0}, "'n' must be an integer from 1 to 10000"),
    ("smoothgradcam++", {"noise": -0.1}, "'noise' must be a number from 0 to 10"),
    ("smoothgrad", {"stdev": -1}, "'stdev' must be a number of at least 0 or null"),
])
def test_option_values_out_of_range_are_refused_before_any_model_runs(method, options, says):
    """window 100 on 32 px images passed `audit validate` and failed after training."""
    from auditor.saliency.methods.registry import resolve_options

    with pytest.raises(SaliencyError, match=re.escape(says)):
        resolve_options(method, options, image_size=32)


def test_option_values_in_range_pass():
    from auditor.saliency.methods.registry import resolve_options

    assert resolve_options("occlusion", {"window": 32, "stride": 1}, image_size=32)["window"] == 32
    assert resolve_options("occlusion", {"window": 64}, image_size=None)["window"] == 64
    assert resolve_options("smoothgrad", {"n": 3, "stdev": 0.2})["n"] == 3


def test_bad_options_and_duplicate_registration_are_rejected():
    with pytest.raises(SaliencyError, match="has no option 'windw'.*window"):
        CamEngine(TinyGapNet(), "features", ["occlusion"], options={"occlusion": {"windw": 3}})
    with pytest.raises(SaliencyError, match="not requested: smoothgrad"):
        CamEngine(TinyGapNet(), "features", ["gradcam"], options={"smoothgrad": {"n": 2}})
    with pytest.raises(ValueError, match="registered twice"):
        register_method("gradcam", passes="1", description="dup")(lambda ctx: ctx.grads)


def test_cam_equals_gradcam_times_positions_for_gap_linear_head(tiny_gap):
    """For logits = W GAP(A) + b, dY/dA_kij = W_ck / (hw): Grad-CAM = CAM / (hw) exactly."""
    x = images(3, 16)
    out = CamEngine(tiny_gap, "features", ["cam", "gradcam"])(x)
    hw = 8 * 8
    assert out.maps[:, 0].amax() > 0
    torch.testing.assert_close(out.maps[:, 1] * hw, out.maps[:, 0], rtol=1e-4, atol=1e-6)


def test_cam_rejects_a_head_that_is_not_gap_linear(small_vgg):
    with pytest.raises(SaliencyError, match="GAP \\+ linear|global-average-pooling"):
        CamEngine(small_vgg, "features", ["cam"])(images(1, 32))
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())  # no linear
    with pytest.raises(SaliencyError, match=r"^saliency\.methods: 'cam' needs a linear "
                                            r"classification head; the model \(Sequential\)"):
        CamEngine(model, "0", ["cam"])(images(1, 16))


def test_gradcam_neg_equals_gradcam_of_the_other_class_on_antisymmetric_two_class_head():
    torch.manual_seed(3)
    model = TinyGapNet(num_classes=2).eval()
    with torch.no_grad():  # logit_1 = -logit_0: the counterfactual of 0 is the evidence for 1
        model.fc.weight[1] = -model.fc.weight[0]
        model.fc.bias[1] = -model.fc.bias[0]
    x = images(4, 16)
    zeros, ones = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.long)
    neg = CamEngine(model, "features", ["gradcam-neg"])(x, zeros).maps[:, 0]
    pos = CamEngine(model, "features", ["gradcam"])(x, ones).maps[:, 0]
    assert pos.amax() > 0
    torch.testing.assert_close(neg, pos, rtol=1e-5, atol=1e-7)


def test_zero_noise_smoothing_reduces_to_the_plain_method(small_vgg):
    """SmoothGrad with sigma = 0 is the plain gradient; Smooth Grad-CAM++ is Grad-CAM++."""
    x = images(2, 32)
    opts = {"smoothgrad": {"n": 3, "stdev": 0.0}, "smoothgradcam++": {"n": 3, "stdev": 0.0}}
    names = ["gradient", "smoothgrad", "gradcam++", "smoothgradcam++"]
    out = CamEngine(small_vgg, "features.8", names, options=opts, chunk_size=4)(x)
    assert out.maps[:, 0].amax() > 0 and out.maps[:, 2].amax() > 0
    torch.testing.assert_close(out.maps[:, 1], out.maps[:, 0], rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(out.maps[:, 3], out.maps[:, 2], rtol=1e-4, atol=1e-9)


def test_noise_methods_are_seeded_and_noise_changes_them(small_vgg):
    x = images(2, 32)
    opts = {"smoothgrad": {"n": 4, "noise": 0.2}}
    a = CamEngine(small_vgg, "features.8", ["smoothgrad", "gradient"], options=opts, seed=1)(x)
    b = CamEngine(small_vgg, "features.8", ["smoothgrad", "gradient"], options=opts, seed=1)(x)
    torch.testing.assert_close(a.maps, b.maps)
    assert not torch.allclose(a.maps[:, 0], a.maps[:, 1])


def test_occlusion_finds_the_only_pixels_the_model_uses():
    """A linear model that reads one 4x4 patch: occlusion is positive only where windows
    overlap that patch (weights positive, image positive)."""
    model = nn.Sequential(nn.Identity(), nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    with torch.no_grad():
        model[2].weight.zero_()
        model[2].bias.zero_()
        w = torch.zeros(3, 16, 16)
        w[:, 4:8, 4:8] = 1.0
        model[2].weight[0] = w.flatten()
    x = torch.rand(1, 3, 16, 16) + 0.5
    engine = CamEngine(model, model[0], ["occlusion"],
                       options={"occlusion": {"window": 4, "stride": 4}})
    m = engine(x, torch.tensor([0])).maps[0, 0]
    assert (m[4:8, 4:8] > 0).all()
    assert m.sum() == pytest.approx(m[4:8, 4:8].sum())


def test_every_method_gives_nonnegative_input_resolution_maps(tiny_gap):
    x = images(2, 16)
    opts = {"smoothgrad": {"n": 2}, "smoothgradcam++": {"n": 2},
            "occlusion": {"window": 4, "stride": 4}}
    out = CamEngine(tiny_gap, "auto", ALL, options=opts, chunk_size=8)(x)
    assert out.maps.shape == (2, len(ALL), 16, 16)
    assert out.methods == ALL
    assert (out.maps >= 0).all() and torch.isfinite(out.maps).all()
    assert (out.maps.flatten(2).amax(2) > 0).sum() >= len(ALL)  # not all degenerate


def test_normalize_is_per_map_min_max_and_keeps_zero_maps_zero():
    maps = torch.stack([torch.zeros(4, 4), torch.arange(16.0).reshape(4, 4) + 3,
                        torch.full((4, 4), 2.0)])
    out = normalize(maps)
    assert out[0].abs().max() == 0 and out[2].abs().max() == 0
    assert out[1].min() == 0 and out[1].max() == 1
    torch.testing.assert_close(out[1], (maps[1] - 3) / 15)


def test_scorecam_chunking_does_not_change_the_result():
    torch.manual_seed(5)
    model = SmallVGG().eval()
    x = images(2, 32)
    a = CamEngine(model, "features", ["scorecam"], chunk_size=5)(x).maps
    b = CamEngine(model, "features", ["scorecam"], chunk_size=64)(x).maps
    assert a.amax() > 0
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)

"""CamEngine: fused passes, model left untouched, target layers, tokens, memory."""

from __future__ import annotations

import gc
import logging
import tracemalloc

import pytest
import torch
from helpers.saliency import SmallVGG, TinyGapNet, images

from auditor.errors import SaliencyError
from auditor.saliency import CamEngine, CamOutput, resolve_target_layer

GRAD4 = ["gradcam", "gradcam++", "xgradcam", "layercam"]


def _count_calls(module):
    calls = []
    handle = module.register_forward_pre_hook(lambda m, i: calls.append(1))
    return calls, handle


def test_output_contract(tiny_gap):
    x = images(3, 16)
    out = CamEngine(tiny_gap, "features", ["gradcam", "gradcam++"])(x)
    assert isinstance(out, CamOutput)
    assert out.maps.shape == (3, 2, 16, 16) and out.maps.dtype == torch.float32
    assert out.logits.shape == (3, 3) and out.embeddings.shape == (3, 8)
    assert out.methods == ["gradcam", "gradcam++"] and out.target_layer == "features"
    assert (out.maps >= 0).all() and out.maps.device == x.device
    torch.testing.assert_close(out.logits, tiny_gap(x))
    torch.testing.assert_close(out.targets, tiny_gap(x).argmax(1))
    torch.testing.assert_close(out.embeddings, tiny_gap.features(x).mean(dim=(2, 3)))


def test_one_forward_serves_all_gradient_methods_and_no_parameter_gets_a_grad(tiny_gap):
    calls, handle = _count_calls(tiny_gap)
    x = images(2, 16)
    out = CamEngine(tiny_gap, "features", GRAD4 + ["hirescam", "gradcam-neg", "cam"])(x)
    handle.remove()
    assert len(calls) == 1
    assert all(p.grad is None for p in tiny_gap.parameters())
    assert not x.requires_grad and x.grad is None
    assert out.maps.grad_fn is None and out.logits.grad_fn is None


def test_model_state_is_restored_also_on_error(small_vgg):
    small_vgg.train()
    small_vgg.features[0].weight.requires_grad_(False)
    flags = [p.requires_grad for p in small_vgg.parameters()]
    engine = CamEngine(small_vgg, "features.8", ["gradcam", "guided-backprop"])
    engine(images(2, 32))
    with pytest.raises(SaliencyError, match="targets must lie in"):
        engine(images(2, 32), torch.tensor([0, 9]))
    assert small_vgg.training
    assert [p.requires_grad for p in small_vgg.parameters()] == flags
    for m in small_vgg.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def test_per_sample_targets_in_one_backward_match_one_image_at_a_time(small_vgg):
    x = images(3, 32)
    targets = torch.tensor([4, 0, 2])
    engine = CamEngine(small_vgg, "features.8", GRAD4)
    batch = engine(x, targets).maps
    single = torch.cat([engine(x[i:i + 1], targets[i:i + 1]).maps for i in range(3)])
    assert batch.amax() > 0
    torch.testing.assert_close(batch, single, rtol=1e-4, atol=1e-8)
    other = engine(x, torch.tensor([1, 1, 1])).maps
    assert not torch.allclose(other, batch)


def test_works_inside_no_grad_and_with_cpu_autocast_requested(tiny_gap):
    x = images(2, 16)
    ref = CamEngine(tiny_gap, "features", ["gradcam", "gradient"])(x).maps
    with torch.no_grad():
        inside = CamEngine(tiny_gap, "features", ["gradcam", "gradient"])(x).maps
    amp = CamEngine(tiny_gap, "features", ["gradcam", "gradient"], autocast="bf16")(x).maps
    torch.testing.assert_close(inside, ref)
    torch.testing.assert_close(amp, ref)  # autocast applies on CUDA only
    with pytest.raises(SaliencyError, match="autocast"):
        CamEngine(tiny_gap, "features", ["gradcam"], autocast="fp8")


def test_activation_before_an_inplace_relu_is_the_layer_output(small_vgg):
    """features.7 is a conv followed by ReLU(inplace=True): A must keep its negative values."""
    x = images(2, 32)
    out = CamEngine(small_vgg, "features.7", ["gradcam"])(x)
    with torch.no_grad():
        conv_out = small_vgg.features[:8](x)
    assert (conv_out < 0).any()
    torch.testing.assert_close(out.embeddings, conv_out.mean(dim=(2, 3)))
    torch.testing.assert_close(out.logits, small_vgg(x))


@pytest.mark.parametrize(("fixture", "size", "expected"), [
    ("resnet18", 128, "layer4"), ("resnet18", 64, "layer3"),  # layer4 is 2x2 at 64 px
    ("small_vgg", 32, "features"), ("tiny_gap", 32, "features")])
def test_auto_target_layer(fixture, size, expected, request, caplog):
    """auto takes the last layer whose map is at least 4x4 at the input size."""
    model = request.getfixturevalue(fixture)
    engine = CamEngine(model, "auto", ["gradcam"])
    assert engine.target_layer is None
    with caplog.at_level(logging.INFO, logger="auditor.saliency.layers"):
        engine(images(1, size))
    assert engine.target_layer == expected
    assert expected in caplog.text


def test_named_module_and_unknown_target_layers(small_vgg):
    assert CamEngine(small_vgg, "features.8", ["gradcam"]).target_layer == "features.8"
    layer = small_vgg.features[5]
    assert CamEngine(small_vgg, layer, ["gradcam"]).target_layer == "features.5"
    with pytest.raises(SaliencyError, match="unknown target layer 'featurs.8'.*features.8"):
        CamEngine(small_vgg, "featurs.8", ["gradcam"])
    with pytest.raises(SaliencyError, match="not a submodule"):
        resolve_target_layer(small_vgg, torch.nn.Conv2d(1, 1, 1))


def test_vision_transformer_tokens_become_a_grid():
    """The class token is dropped (17 tokens -> 4x4 grid); "auto" takes the last token layer
    whose grid tokens get gradient (the last block's ln_1), also with torchvision's zero-init
    head, where no gradient flows (structural fallback: the input of the last attention)."""
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                            hidden_dim=16, mlp_dim=32, num_classes=3).eval()
    x = images(2, 32)
    untrained = CamEngine(vit, "auto", ["gradcam"])
    untrained(x)
    assert untrained.target_layer == "encoder.layers.encoder_layer_1.ln_1"
    torch.nn.init.normal_(vit.heads.head.weight)
    engine = CamEngine(vit, "auto", ["gradcam", "layercam"])
    out = engine(x)
    assert engine.target_layer == "encoder.layers.encoder_layer_1.ln_1"
    assert out.maps.shape == (2, 2, 32, 32) and out.embeddings.shape == (2, 16)
    assert (out.maps.flatten(2).amax(2) > 0).all()
    named = CamEngine(vit, "encoder.layers.encoder_layer_1.ln_1", ["gradcam"])(x)
    assert named.maps.shape == (2, 1, 32, 32)


def test_bad_inputs_are_one_line_errors(tiny_gap):
    engine = CamEngine(tiny_gap, "features", ["gradcam"])
    with pytest.raises(SaliencyError, match="float tensor"):
        engine(torch.zeros(2, 16, 16))
    with pytest.raises(SaliencyError, match="3 entries for 2 images"):
        engine(images(2, 16), torch.tensor([0, 1, 2]))
    with pytest.raises(SaliencyError, match="repeated: gradcam"):
        CamEngine(tiny_gap, "features", ["gradcam", "gradcam"])


def test_memory_stays_flat_over_200_batches():
    torch.manual_seed(0)
    model = TinyGapNet(width=4).eval()
    engine = CamEngine(model, "features", ["gradcam", "gradcam++", "cam"])
    x = images(4, 16)
    for _ in range(20):  # warm-up: allocator caches, lazy imports
        engine(x)
    gc.collect()
    tracemalloc.start()
    n_objects = len(gc.get_objects())
    before, _ = tracemalloc.get_traced_memory()
    kept = []
    for i in range(200):
        out = engine(x)
        if i % 50 == 0:
            kept.append(out.maps.sum().item())
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert after - before < 256 * 1024, f"python heap grew by {after - before} bytes"
    assert len(gc.get_objects()) - n_objects < 200
    assert out.maps.grad_fn is None and len(kept) == 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_maps_stay_on_the_device_and_match_cpu():
    torch.manual_seed(0)
    model = SmallVGG().eval()
    x = images(2, 32)
    cpu = CamEngine(model, "features.8", GRAD4)(x).maps
    model.cuda()
    out = CamEngine(model, "features.8", GRAD4)(x.cuda())
    assert out.maps.device.type == "cuda"
    torch.testing.assert_close(out.maps.cpu(), cpu, rtol=1e-3, atol=1e-6)
    amp = CamEngine(model, "features.8", ["gradcam"], autocast="bf16")(x.cuda()).maps
    corr = torch.corrcoef(torch.stack([amp.flatten().float().cpu(), cpu[:, 0].flatten()]))[0, 1]
    assert corr > 0.95

"""Target-layer resolution on models it cannot use: each says what is wrong with the model,
never "name one explicitly" to a user who named one or whose model has none to name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from auditor.errors import SaliencyError
from auditor.saliency.target_choice import choose_target_layer


class _Conv(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4, 2)


class NumpyCall(_Conv):
    def forward(self, x):
        feats = self.body(x).mean((2, 3))
        return self.fc(torch.from_numpy(feats.detach().numpy()))


class DictOut(_Conv):
    def forward(self, x):
        return {"logits": self.fc(self.body(x).mean((2, 3)))}


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4), nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.net(x)


X = torch.rand(1, 3, 8, 8)


@pytest.mark.parametrize("spec", ["auto", "body"])
def test_a_forward_leaving_autograd_says_so(spec):
    with pytest.raises(SaliencyError) as err:
        choose_target_layer(NumpyCall().eval(), spec, X)
    text = str(err.value)
    assert "numpy" in text and "'auto'" not in text and "name one" not in text
    if spec == "body":
        assert text.startswith("target layer body does not reach the logits")


@pytest.mark.parametrize("spec", ["auto", "body"])
def test_a_dict_output_is_named_with_the_wrapper_to_write(spec):
    with pytest.raises(SaliencyError, match=r"^the model returns a dict \(keys: logits\), not a "
                                            r"logits tensor .*model\(x\)\['logits'\]"):
        choose_target_layer(DictOut().eval(), spec, X)


def test_a_model_without_any_spatial_layer_is_not_asked_to_name_one():
    with pytest.raises(SaliencyError) as err:
        choose_target_layer(MLP().eval(), "auto", X)
    text = str(err.value)
    assert text.startswith("no layer of this model outputs a spatial map")
    assert "gradient and occlusion included" in text and "name one" not in text


def test_a_named_layer_is_used_without_probing_the_rest():
    """A model whose other modules confuse the probe still gets the layer it was told."""
    model = NumpyCall().eval()
    model.forward = lambda x: model.fc(model.body(x).mean((2, 3)))  # differentiable now
    choice = choose_target_layer(model, "body.0", X)
    assert choice.name == "body.0" and choice.map_size == (8, 8) and choice.finer is None


def test_a_named_layer_the_model_runs_twice_is_refused():
    """A shared module: the hook would see only its last call (the 16x16 one here)."""

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.shared = nn.Conv2d(3, 3, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            x = self.shared(self.pool(self.shared(x)))
            return self.fc(x.mean(dim=(2, 3)))

    with pytest.raises(SaliencyError, match="target layer shared runs 2 times per forward"):
        choose_target_layer(Shared().eval(), "shared", torch.rand(1, 3, 32, 32))


class _ChannelsLast(nn.Module):
    """ConvNeXt-style: a stem to an 8x8 grid of `width` channels, then LayerNorm + Linear on
    [N, h, w, C]; with width 8 the shape [N, 8, 8, 8] cannot tell its layout."""

    def __init__(self, width):
        super().__init__()
        torch.manual_seed(1)
        self.stem = nn.Conv2d(3, width, 4, stride=4)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Linear(width, width)
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        y = self.stem(x).permute(0, 2, 3, 1)
        y = y + self.mlp(self.norm(y))
        return self.head(y.mean(dim=(1, 2)))


def _reference_gradcam(model, x, layer):
    """Grad-CAM on the layer's true [N, h, w, C] layout."""
    acts = {}
    handle = layer.register_forward_hook(lambda _m, _i, o: acts.__setitem__("a", o))
    logits = model(x)
    handle.remove()
    a = acts["a"]
    (g,) = torch.autograd.grad(logits.gather(1, logits.argmax(1)[:, None]).sum(), a)
    cam = torch.relu((g.mean(dim=(1, 2))[:, None, None, :] * a).sum(-1))
    return nn.functional.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear",
                                     align_corners=False)[:, 0].detach()


@pytest.mark.parametrize("width", [8, 16])
def test_a_channels_last_layer_is_read_by_what_it_is_not_by_its_sizes(width):
    """Width 8 gave [N, 8, 8, 8], read as channels-first: correlation 0.05 with Grad-CAM."""
    from auditor.saliency import CamEngine

    model = _ChannelsLast(width).eval()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ours = CamEngine(model, "mlp", ["gradcam"])(x).maps[:, 0]
    ref = _reference_gradcam(model, x, model.mlp)
    assert torch.allclose(ours, ref, atol=1e-5 * float(ref.abs().max()) + 1e-7)
    assert choose_target_layer(model, "mlp", x[:1]).map_size == (8, 8)


class _PooledTokens(nn.Module):
    """Swin's head (Hugging Face): 8x8 tokens of width 32, a final LayerNorm, then an
    ``AdaptiveAvgPool1d(1)`` over the tokens transposed to ``[N, 32, 64]``: its output
    ``[N, 32, 1]`` reads like 32 tokens of width 1, a 5x5 grid after 7 "class tokens"."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 32, 8, stride=8)
        self.layernorm = nn.LayerNorm(32)
        self.pooler = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(32, 2)

    def forward(self, x):
        tokens = self.layernorm(self.embed(x).flatten(2).transpose(1, 2))  # [N, 64, 32]
        return self.head(self.pooler(tokens.transpose(1, 2)).flatten(1))


def test_a_pooled_token_output_is_not_taken_for_a_token_grid():
    """auto used to take the pooler, whose [N, 32, 1] it read as a 5x5 grid (Hugging Face's
    Swin): the maps were noise. It takes the 8x8 token grid; named, the pooler is refused."""
    torch.manual_seed(0)
    choice = choose_target_layer(_PooledTokens().eval(), "auto", torch.rand(1, 3, 64, 64))
    assert choice.name == "layernorm" and choice.map_size == (8, 8)
    with pytest.raises(SaliencyError, match=r"pooler outputs shape \(1, 32, 1\); need "):
        choose_target_layer(_PooledTokens().eval(), "pooler", torch.rand(1, 3, 64, 64))
    from auditor.saliency.layers import grid_shape, tokens_to_grid

    assert grid_shape((1, 32, 1)) is None and grid_shape((1, 65, 32)) == (8, 8)
    with pytest.raises(SaliencyError, match="one feature per position is a pooled output"):
        tokens_to_grid(torch.zeros(1, 32, 1))

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

"""``audit run`` checks what a user's model returns before any work, as ``audit validate``
does: a one-logit binary model was audited as "always class 0 at confidence 1.0" (exit 0),
tuple outputs and fixed 10-class heads ended in tracebacks, and a ``.squeeze()`` broke on a
batch of one image."""

from __future__ import annotations

import pytest
import torch
from helpers.own_models import tiny_config
from typer.testing import CliRunner

from auditor.cli import app
from auditor.errors import SaliencyError
from auditor.saliency import CamEngine

MODELS = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes, out="ok"):
        super().__init__()
        self.out = out
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(4, 1 if out == "one_logit" else 10 if out == "ten" else num_classes)

    def forward(self, x):
        z = self.head(self.body(x).mean(dim=(2, 3)))
        if self.out == "tuple":
            return z, x
        if self.out == "squeeze":
            return z.squeeze()
        if self.out == "softmax":
            return z.softmax(dim=1)
        if self.out == "nan":
            return z / 0 * 0
        if self.out == "random":
            return nn.functional.dropout(z, 0.5, training=True)
        if self.out == "argmax":
            return z.argmax(dim=1)
        if self.out == "map":
            return z[:, :, None, None]
        if self.out == "numpy":  # fine without gradients, fails with them
            return torch.from_numpy(z.numpy()) + 0 * z
        if self.out == "exit":
            raise SystemExit(3)
        return z
'''


@pytest.mark.parametrize("out, needle", [
    ("one_logit", "returns (2, 1) for 2 image(s); the data needs [N, 2]"),
    ("ten", "returns (2, 10) for 2 image(s)"),
    ("tuple", "returns a tuple of 2 items, not a logits tensor"),
    ("squeeze", "returns (2,) for 1 image(s)"),
    ("softmax", "returns probabilities (every row is in [0, 1] and sums to 1): set "
                "models[m].output: probabilities"),
    ("nan", "returns NaN or infinite scores for 2 of 2 image(s)"),
    ("random", "gives other scores for the same images in eval mode"),
    ("argmax", "returns int64 values (class indices?), not float scores"),
    ("map", "(a 1x1 map per class: return model(x).flatten(1))"),
    ("numpy", "a forward and backward pass with gradients (what saliency needs) failed: "
              "RuntimeError: Can't call numpy() on Tensor that requires grad"),
    ("exit", "a forward pass on a batch of 2 32 px images failed: SystemExit: 3"),
])
def test_run_refuses_a_model_of_the_wrong_output_before_training(tmp_path, out, needle):
    (tmp_path / "nets.py").write_text(MODELS)
    cfg = tiny_config(tmp_path, [{"name": "m", "arch": f"{tmp_path / 'nets.py'}:Net",
                                  "arch_kwargs": {"out": out},
                                  "train": {"epochs": 1, "batch_size": 4}}], size=32)
    result = CliRunner().invoke(app, ["run", str(cfg)])
    lines = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "models[m]" in lines[0] and needle in lines[0], lines[0]
    if out == "one_logit":
        assert "torch.cat([-z, z], 1)" in lines[0]
    assert not (tmp_path / "run" / "models").exists()  # nothing trained


def test_engine_names_a_batch_whose_logits_lost_their_rows():
    """A model that passed the check on N > 1 but squeezes a batch of one mid-audit."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(0))  # [N, 2] -> flat: wrong for any N
    with pytest.raises(SaliencyError, match=r"returned \(2,\) for a batch of 1 images"):
        CamEngine(model, "0", ["gradcam"])(torch.rand(1, 3, 8, 8))


def test_engine_names_a_forward_that_detaches_its_logits():
    """A RuntimeError traceback ('element 0 ... does not require grad') before."""

    class Detached(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 3)

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3)).detach()

    with pytest.raises(SaliencyError, match="does not reach the logits through autograd"):
        CamEngine(Detached(), "conv", ["gradcam"])(torch.rand(2, 3, 8, 8))


class _OneChannel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class _FixedSize(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 64 * 64, 2)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


@pytest.mark.parametrize("model, needle", [
    (lambda: _OneChannel().half(), "its weights are float16: save it in float32"),
    (_OneChannel, "the data gives 3-channel RGB images"),
    (_FixedSize, "a layer expects another input size than 32 px: set data.image_size"),
])
def test_forward_failures_say_what_to_change(model, needle):
    from auditor.errors import ModelError
    from auditor.pipeline.model_check import check_output

    with pytest.raises(ModelError, match="models\\[m\\]: a forward pass") as err:
        check_output(model(), "models[m]", torch.rand(2, 3, 32, 32), ["a", "b"])
    assert needle in str(err.value) and "\n" not in str(err.value)


GELU_NET = '''
from torch import nn


class GeluNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.GELU())
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3)))
'''


def test_guided_backprop_on_a_model_without_relu_modules_is_refused_by_validate(tmp_path):
    """Its guided maps were silently the plain gradient (nothing to guide)."""
    (tmp_path / "gelu.py").write_text(GELU_NET)
    cfg = tiny_config(tmp_path, [{"name": "m", "arch": f"{tmp_path / 'gelu.py'}:GeluNet",
                                  "train": {"epochs": 1, "batch_size": 4}}], size=32,
                      saliency={"methods": ["gradcam", "guided-backprop"]})
    result = CliRunner().invoke(app, ["validate", str(cfg)])
    lines = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert result.exit_code == 1 and len(lines) == 1, result.output
    assert "models[m]: saliency.methods: guided backpropagation needs nn.ReLU modules" in lines[0]
    with pytest.raises(SaliencyError, match="has none"):
        from auditor.saliency.pixel import guided_relus

        with guided_relus(torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.GELU())):
            pass

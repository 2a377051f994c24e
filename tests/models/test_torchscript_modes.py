"""TorchScript files saved in train mode (the ``.eval()`` forgotten before export) are audited
in eval mode, like every other model: BatchNorm on its running statistics, dropout off."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from auditor.models.torchscript import load_torchscript


class _BnDropout(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.drop(self.body(x).mean((2, 3))))


def _train_mode_net() -> nn.Module:
    torch.manual_seed(0)
    net = _BnDropout()
    bn = net.body[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    return net.train()  # .eval() forgotten before saving


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_file_saved_in_train_mode_gives_the_eval_mode_logits(tmp_path, how):
    """A scripted one was refused ("save with torch.jit.trace instead"); a traced one froze
    batch statistics and dropout into the graph: stochastic logits, running stats updated."""
    net, x = _train_mode_net(), torch.rand(4, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = torch.jit.script(net) if how == "script" else \
            torch.jit.trace(net, x[:2], check_trace=False)
        torch.jit.save(saved, str(tmp_path / "m.pt"))
        file_state = torch.jit.load(str(tmp_path / "m.pt")).state_dict()
    reference = _BnDropout()
    reference.load_state_dict(file_state)
    reference.eval()  # the file's own weights (a trace runs the model once in train mode)
    loaded = load_torchscript(tmp_path / "m.pt", x[:1])
    before = {k: v.clone() for k, v in loaded.state_dict().items()}
    with torch.no_grad():
        for n in (1, 4):
            torch.testing.assert_close(loaded(x[:n]), reference(x[:n]))
            torch.testing.assert_close(loaded(x[:n]), loaded(x[:n]))
    after = loaded.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running stats untouched


def test_batchnorm_without_running_statistics_keeps_batch_statistics(tmp_path):
    """``track_running_stats=False`` uses batch statistics in eval mode too: left as it is."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).train()
    x = torch.rand(3, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(net, x[:2], check_trace=False), str(tmp_path / "m.pt"))
    loaded = load_torchscript(tmp_path / "m.pt", x[:1])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))

"""Architecture registry, safe checkpoint loading, seeded training."""

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from auditor.config import TrainConfig
from auditor.errors import ModelError
from auditor.models import build_model, list_archs, load_checkpoint
from auditor.models.checkpoints import state_dict_bytes
from auditor.models.train import inverse_frequency_weights, train_model


@pytest.mark.parametrize("arch", [a.name for a in list_archs() if a.target_layer != "auto"])
def test_every_arch_builds_with_data_sized_head(arch):
    model = build_model(arch, 3).eval()
    size = 64 if arch == "simple_cnn" else 32
    with torch.no_grad():
        out = model(torch.zeros(2, 3, size, size))
    assert out.shape == (2, 3)
    layer = model.get_submodule(next(a for a in list_archs() if a.name == arch).target_layer)
    seen = []
    handle = layer.register_forward_hook(lambda _m, _i, o: seen.append(o.shape))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    handle.remove()
    assert len(seen) == 1 and len(seen[0]) == 4 and min(seen[0][2:]) >= 1  # a spatial map


def test_unknown_arch_lists_valid():
    with pytest.raises(ModelError, match="valid: .*resnet18.*simple_cnn"):
        build_model("resnet19", 2)


def test_checkpoint_roundtrip(tmp_path):
    a = build_model("simple_cnn", 2)
    (tmp_path / "w.pt").write_bytes(state_dict_bytes(a))
    b = build_model("simple_cnn", 2)
    load_checkpoint(b, tmp_path / "w.pt")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])


def test_checkpoint_shape_mismatch_names_key(tmp_path):
    (tmp_path / "w.pt").write_bytes(state_dict_bytes(build_model("simple_cnn", 3)))
    with pytest.raises(ModelError, match=r"shape mismatch at 'fc.weight'"):
        load_checkpoint(build_model("simple_cnn", 2), tmp_path / "w.pt")


def test_checkpoint_of_other_arch(tmp_path):
    (tmp_path / "w.pt").write_bytes(state_dict_bytes(build_model("simple_cnn", 2)))
    with pytest.raises(ModelError, match="w.pt"):
        load_checkpoint(build_model("resnet18", 2), tmp_path / "w.pt")


class _Evil:
    def __reduce__(self):
        return (open, ("/tmp/auditor_pwned_marker", "w"))


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    import os

    marker = "/tmp/auditor_pwned_marker"
    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as fh:
        pickle.dump({"fc.weight": _Evil()}, fh)
    with pytest.raises(ModelError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(build_model("simple_cnn", 2), path)
    assert not os.path.exists(marker)


def test_missing_checkpoint_says_how_to_provide(tmp_path):
    with pytest.raises(ModelError, match="not found .*torch.save"):
        load_checkpoint(build_model("simple_cnn", 2), tmp_path / "none.pt")


def test_inverse_frequency_weights_equalise_cells():
    keys = np.array(["a"] * 9 + ["b"])
    w = inverse_frequency_weights(keys)
    assert w[:9].sum() == pytest.approx(w[9:].sum())
    assert w.mean() == pytest.approx(1.0)


def _toy(n=64):
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 3, 16, 16, generator=g) * 0.1
    x[:, 0] += y[:, None, None].float()  # class written in the red channel
    return TensorDataset(x, y), y.numpy()


def test_training_is_seeded_and_learns():
    ds, y = _toy()
    cfg = TrainConfig(epochs=3, lr=0.01, batch_size=16)
    states = []
    for _ in range(2):
        torch.manual_seed(1)
        model = build_model("simple_cnn", 2)
        hist = train_model(model, ds, y, cfg, seed=1, device=torch.device("cpu"))
        states.append(model.state_dict()["fc.weight"].clone())
    assert torch.equal(states[0], states[1])
    assert hist.accuracy[-1] > 0.9


def test_group_balanced_sampler_runs():
    ds, y = _toy()
    cfg = TrainConfig(epochs=1, batch_size=16, balance="group", balance_by=["hair"])
    hist = train_model(build_model("simple_cnn", 2), ds, y.astype(str), cfg, seed=0,
                       device=torch.device("cpu"))
    assert len(hist.loss) == 1 and np.isfinite(hist.loss[0])


def test_group_weighted_loss_training_runs_and_differs_from_erm():
    ds, y = _toy()
    keys = np.where(np.arange(len(y)) < 8, "rare", "common")
    weights = {}
    for loss in ("erm", "group_weighted"):
        torch.manual_seed(0)
        model = build_model("simple_cnn", 2)
        cfg = TrainConfig(epochs=1, batch_size=16, loss=loss, balance_by=["hair"])
        hist = train_model(model, ds, keys, cfg, seed=0, device=torch.device("cpu"))
        assert np.isfinite(hist.loss[0])
        weights[loss] = model.fc.weight.detach().clone()
    assert not torch.equal(weights["erm"], weights["group_weighted"])


def test_group_options_need_balance_by():
    from pydantic import ValidationError

    for kwargs in ({"loss": "group_weighted"}, {"dfr": True}, {"balance": "group"}):
        with pytest.raises(ValidationError, match="balance_by"):
            TrainConfig(**kwargs)

"""``models[i].classes`` and ``models[i].output``: a model file whose classes come in another
order, of which the data holds a subset, or that ends in a softmax, is audited as the model
means it (it was audited inverted: 22% for a 78% model, and its softmax was taken twice)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import yaml
from helpers.own_models import tiny_config, write_user_model
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import parse_config

SOFTMAX = '''
from my_models import MyNet


class Softmaxed(MyNet):
    def forward(self, x):
        return super().forward(x).softmax(dim=1)
'''


def _run(tmp_path, model: dict, sub: str) -> pd.DataFrame:
    folder = tmp_path / sub
    folder.mkdir()
    cfg = tiny_config(folder, [{"name": "m", "checkpoint": str(tmp_path / "w.pt"), **model}],
                      size=32)
    result = CliRunner().invoke(app, ["run", str(cfg)])
    assert result.exit_code == 0, result.output
    return pd.read_parquet(folder / "run" / "samples.parquet")


def _own_predictions(tmp_path, n_out: int, images_of: pd.DataFrame) -> torch.Tensor:
    """The model's own outputs on the audited images, read as the audit reads them."""
    from auditor.config import load_config
    from auditor.data.dataset import load_data, resolve_synthetic

    cfg = load_config(tmp_path / "order" / "config.yaml")
    data = resolve_synthetic(cfg.data, tmp_path / "order" / "run" / "data", cfg.seed)
    bundle = load_data(data, seed=cfg.seed)
    ds = bundle.dataset("test")
    x = torch.stack([ds[i]["image"] for i in range(len(ds))])
    ids = bundle.table[bundle.table["split"] == "test"]["id"].tolist()
    assert ids == images_of["id"].tolist()
    torch.manual_seed(0)
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        from my_models import MyNet
    finally:
        sys.path.remove(str(tmp_path))
    net = MyNet(n_out).eval()
    net.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.no_grad():
        return net(x)


@pytest.mark.parametrize("order", [["nurse", "doctor"], ["cat", "nurse", "doctor"]])
def test_the_class_of_each_output_is_read_from_classes(tmp_path, order):
    path = write_user_model(tmp_path)
    torch.manual_seed(0)
    import importlib.util
    spec = importlib.util.spec_from_file_location("my_models_t", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.MyNet(len(order))
    with torch.no_grad():
        net.head.bias.copy_(torch.linspace(-0.3, 0.3, len(order)))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    arch = f"{path}:MyNet"
    df = _run(tmp_path, {"arch": arch, "classes": order}, "order")
    logits = _own_predictions(tmp_path, len(order), df)
    keep = [order.index(c) for c in ("doctor", "nurse")]
    want = [("doctor", "nurse")[i] for i in logits[:, keep].argmax(1).tolist()]
    assert df["pred"].tolist() == want
    probs = logits[:, keep].softmax(1).max(1).values
    assert df["confidence"].to_numpy() == pytest.approx(probs.numpy(), abs=1e-5)


def test_a_softmax_model_is_audited_on_its_own_probabilities(tmp_path):
    write_user_model(tmp_path)
    (tmp_path / "softmaxed.py").write_text(SOFTMAX)
    import importlib.util
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        spec = importlib.util.spec_from_file_location("softmaxed_t", tmp_path / "softmaxed.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(0)
    net = mod.Softmaxed(2)
    with torch.no_grad():
        net.head.weight.mul_(200)  # confident: a second softmax would squash it towards 0.73
    torch.save(net.state_dict(), tmp_path / "w.pt")
    arch = f"{tmp_path / 'softmaxed.py'}:Softmaxed"
    folder = tmp_path / "refused"
    folder.mkdir()
    cfg = tiny_config(folder, [{"name": "m", "arch": arch, "checkpoint": str(tmp_path / "w.pt")}],
                      size=32)
    result = CliRunner().invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 1 and "output: probabilities" in result.output
    df = _run(tmp_path, {"arch": arch, "output": "probabilities"}, "order")
    # Softmaxed is MyNet's logits through one softmax: the audit's confidence is that one
    own = _own_predictions(tmp_path, 2, df).softmax(1).max(1).values
    assert own.min() > 0.9  # confident: a second softmax would have squashed it to <= 0.73
    assert df["confidence"].to_numpy() == pytest.approx(own.numpy(), abs=1e-5)


def test_classes_and_output_need_a_model_file(tmp_path):
    for key, value in (("classes", ["doctor", "nurse"]), ("output", "probabilities")):
        raw = yaml.safe_load(tiny_config(tmp_path, [{"name": "m", key: value}]).read_text())
        with pytest.raises(Exception, match=r"models\[0\]: classes and output .* need checkpoint"):
            parse_config(raw, base_dir=tmp_path)


def test_a_data_class_the_model_lacks_is_one_line(tmp_path):
    path = write_user_model(tmp_path)
    torch.manual_seed(0)
    import importlib.util
    spec = importlib.util.spec_from_file_location("my_models_u", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.save(mod.MyNet(2).state_dict(), tmp_path / "w.pt")
    cfg = tiny_config(tmp_path, [{"name": "m", "arch": f"{path}:MyNet",
                                  "checkpoint": str(tmp_path / "w.pt"),
                                  "classes": ["doctor", "surgeon"]}], size=32)
    result = CliRunner().invoke(app, ["validate", str(cfg)])
    assert result.exit_code == 1
    assert "models[m].classes: the data's class(es) nurse are not among the model's (doctor, " \
        "surgeon)" in result.output

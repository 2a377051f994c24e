"""Bring your own model: torchvision architectures, TorchScript and a user's class, end to end.

One audit (random-init checkpoints, 64 px synthetic images, CPU) holds every model, so the data,
report-free pipeline and comparisons run once: the full matrix of 13 torchvision architectures
from 13 families (about 30 s on two quiet cores).
"""

from __future__ import annotations

import pytest
import torch
from helpers.own_models import save_random_checkpoint, tiny_config, write_user_model

from auditor.config import load_config
from auditor.models import state_dict_bytes
from auditor.models.external import import_user_object
from auditor.models.state import eval_mode
from auditor.pipeline.run import run_audit

# 13 architectures from 13 families (>= 12 from >= 8 asked for)
TORCHVISION = ["resnet18", "mobilenet_v3_small", "mobilenet_v2", "efficientnet_b0",
               "convnext_tiny", "densenet121", "regnet_x_400mf", "vit_b_16", "swin_t",
               "shufflenet_v2_x0_5", "squeezenet1_1", "mnasnet0_5", "googlenet"]


def _torchscript_file(folder, user_file):
    """The user's MyNet, traced and saved as TorchScript; also the eager model for comparison."""
    cls = import_user_object(f"{user_file}:MyNet")
    torch.manual_seed(1)
    model = cls(2, width=12).eval()
    path = folder / "mynet_traced.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 64, 64)), str(path))
    return path, model


@pytest.fixture(scope="module", params=[pytest.param(TORCHVISION, id="full")])
def matrix(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    user_file = write_user_model(folder / "code")
    models = []
    for arch in request.param:
        save_random_checkpoint(folder / f"{arch}.pt", arch, 64)
        models.append({"name": arch, "arch": arch, "checkpoint": f"{arch}.pt"})
    cls = import_user_object(f"{user_file}:MyNet")
    torch.manual_seed(2)
    (folder / "mynet.pt").write_bytes(state_dict_bytes(cls(2, width=12)))
    models.append({"name": "mynet", "arch": "code/my_models.py:MyNet",
                   "arch_kwargs": {"width": 12}, "checkpoint": "mynet.pt"})
    ts_path, eager = _torchscript_file(folder, user_file)
    models.append({"name": "scripted", "arch": "torchscript", "checkpoint": ts_path.name})
    cfg = load_config(tiny_config(folder, models))
    return run_audit(cfg), eager, cfg, request.param


def test_the_full_matrix_spans_enough_families():
    families = {a.split("_")[0].rstrip("0123456789") for a in TORCHVISION}
    assert len(TORCHVISION) >= 12 and len(families) >= 8


def test_every_model_of_the_matrix_is_audited(matrix):
    result, _, _, archs = matrix
    models = result.summary["models"]
    assert set(models) == {*archs, "mynet", "scripted"}
    for name, block in models.items():
        assert block["n"] == 4, name
        h, w = block["map_size"]
        assert h >= 4 and w >= 4, (name, block["map_size"])
        assert block["target_layer"], name
        assert block["sanity"]["n_images"] == 4, name


def test_auto_layers_are_the_expected_ones(matrix):
    models = matrix[0].summary["models"]
    assert models["resnet18"]["target_layer"] == "layer3"  # layer4 is 2x2 at 64 px
    if "vit_b_16" in models:
        assert models["vit_b_16"]["target_layer"] == "encoder.layers.encoder_layer_11.ln_1"
        assert models["swin_t"]["target_layer"] == "features.5"  # channels-last stage, 4x4
    assert models["mynet"]["target_layer"] == "body"
    assert models["scripted"]["target_layer"].startswith("taps.")


def test_torchscript_model_gives_the_eager_models_predictions(matrix):
    result, eager, cfg, _ = matrix
    import pandas as pd

    samples = pd.read_parquet(result.files["samples"])
    scripted = samples[samples["model"] == "scripted"].sort_values("id")
    from auditor.data.dataset import load_data, resolve_synthetic

    bundle = load_data(resolve_synthetic(cfg.data, cfg.output_dir / "data", cfg.seed), seed=0)
    ds = bundle.dataset("test")
    x = torch.stack([ds[k]["image"] for k in range(len(ds))])
    with eval_mode(eager), torch.no_grad():
        conf = eager(x).softmax(1).amax(1)
    ids = [ds.rows[k][1] for k in range(len(ds))]
    expected = pd.Series(conf.numpy(), index=ids).sort_index()
    assert scripted["confidence"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-5)


def test_models_record_their_route(matrix):
    training = matrix[0].summary["training"]
    assert training["mynet"]["arch_kwargs"] == {"width": 12}
    assert training["scripted"]["format"] == "torchscript"
    assert all(training[a]["source"] == "checkpoint" for a in matrix[3])

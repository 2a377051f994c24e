"""The architecture routes on top of the registry: names, weights from the local cache, timm,
Hugging Face, the user's code, pickled modules, freezing the backbone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auditor.config import ModelConfig, TrainConfig
from auditor.errors import ModelError
from auditor.models import build_model, get_arch, state_dict_bytes
from auditor.models.build import build_configured, load_pretrained
from auditor.models.pickled import pickled_classes
from auditor.models.state import backbone_frozen
from auditor.models.torchvision_zoo import torchvision_names, weights_info
from auditor.models.train import MIN_ONE_CYCLE_STEPS, train_model


def test_every_torchvision_classifier_name_resolves():
    names = torchvision_names()
    assert len(names) >= 80 and {"vit_b_16", "swin_t", "convnext_tiny"} <= set(names)
    assert all(get_arch(n).family in ("torchvision", "registered") for n in names)


def test_unknown_names_suggest_torchvision_ones_and_list_the_routes():
    with pytest.raises(ModelError) as err:
        get_arch("convnext_tiyn")
    text = str(err.value)
    assert "did you mean 'convnext_tiny'?" in text
    assert "simple_cnn" in text and "timm:<name>" in text and "file.py:Class" in text
    with pytest.raises(ModelError, match="unknown architecture 'MyNet'"):
        get_arch("MyNet")


def test_vit_takes_the_data_size_and_refuses_a_size_its_patches_do_not_divide():
    model = build_model("vit_b_32", 3, image_size=64)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 3)
    with pytest.raises(ModelError, match="multiple of 32"):
        build_model("vit_b_32", 3, image_size=48)


def test_bad_arch_kwargs_are_one_line():
    with pytest.raises(ModelError, match="resnet18: cannot build with arch_kwargs"):
        build_model("resnet18", 2, no_such_option=1)


def test_weights_come_from_the_local_cache_or_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    info = weights_info("resnet18", "DEFAULT", "models[m].weights")
    assert info.crop_size == 224 and info.mean == pytest.approx([0.485, 0.456, 0.406])
    mcfg = ModelConfig(name="m", arch="resnet18", weights="IMAGENET1K_V1")
    built = build_configured(mcfg, 3, image_size=32)
    with pytest.raises(ModelError) as err:
        load_pretrained(built, mcfg)
    assert str(info.cache_file) in str(err.value) and "nothing is downloaded" in str(err.value)
    # an ImageNet file in the cache: backbone loaded, 3-class head kept as built
    info.cache_file.parent.mkdir(parents=True)
    torch.manual_seed(3)
    imagenet = build_model("resnet18", 1000)
    info.cache_file.write_bytes(state_dict_bytes(imagenet))
    head_before = built.model.fc.weight.clone()
    assert load_pretrained(built, mcfg) == "ResNet18_Weights.IMAGENET1K_V1"
    assert torch.equal(built.model.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(built.model.fc.weight, head_before)
    with pytest.raises(ModelError, match="no weights 'IMAGENET9'; valid: DEFAULT, IMAGENET1K_V1"):
        weights_info("resnet18", "IMAGENET9", "w")


def test_pretrained_vit_position_embeddings_are_interpolated():
    from torchvision.models import VisionTransformer

    from auditor.models.torchvision_zoo import adapt_pretrained_state

    def vit(size, classes):
        return VisionTransformer(image_size=size, patch_size=16, num_layers=1, num_heads=2,
                                 hidden_dim=16, mlp_dim=32, num_classes=classes)

    pretrained, ours = vit(224, 1000).state_dict(), vit(64, 2)
    state = adapt_pretrained_state("vit_b_16", pretrained, ours, "heads.head")
    assert state["encoder.pos_embedding"].shape == (1, 1 + 4 * 4, 16)
    assert not any(k.startswith("heads.head.") for k in state)
    ours.load_state_dict(state, strict=False)


def test_a_pickled_module_is_named_without_running_it(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    torch.save(model, tmp_path / "whole.pt")
    torch.save(model.state_dict(), tmp_path / "state.pt")
    assert pickled_classes(tmp_path / "whole.pt")[0] == "torch.nn.modules.container.Sequential"
    assert pickled_classes(tmp_path / "state.pt") == []
    mcfg = ModelConfig(name="m", arch="simple_cnn", checkpoint=tmp_path / "whole.pt")
    with pytest.raises(ModelError, match=r"fully pickled .*Sequential.*trust_pickle: true"):
        build_configured(mcfg, 2, image_size=32)
    trusted = build_configured(mcfg.model_copy(update={"trust_pickle": True}), 2, image_size=32)
    assert trusted.complete and trusted.notes["trust_pickle"] is True


def test_user_code_errors_are_one_line(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "ok.py").write_text("import torch\nclass Net(torch.nn.Linear):\n    pass\n")
    with pytest.raises(ModelError, match="importing it failed: RuntimeError: boom"):
        get_arch(f"{tmp_path}/broken.py:Net")
    with pytest.raises(ModelError, match="no class or function 'Nett'; it defines: Net"):
        get_arch(f"{tmp_path}/ok.py:Nett")
    with pytest.raises(ModelError, match="model file not found"):
        get_arch(f"{tmp_path}/missing.py:Net")


def test_freeze_backbone_trains_the_head_only_then_restores_every_flag():
    torch.manual_seed(0)
    model = build_model("simple_cnn", 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = torch.utils.data.TensorDataset(torch.randn(8, 3, 32, 32), torch.tensor([0, 1] * 4))
    cfg = TrainConfig(epochs=1, batch_size=4, freeze="backbone", head_lr=0.01)
    train_model(model, data, torch.zeros(8).numpy(), cfg, seed=0, device=torch.device("cpu"),
                head="fc")
    after = model.state_dict()
    assert not torch.equal(after["fc.weight"], before["fc.weight"])
    changed = [k for k in before if k.startswith(("stem", "features"))
               and not torch.equal(after[k], before[k])]
    assert changed == []  # weights and batch-norm statistics of the backbone untouched
    assert all(p.requires_grad for p in model.parameters())
    with backbone_frozen(model.train(), "fc"):
        assert not model.stem[0].weight.requires_grad and not model.stem[1].training
        assert model.fc.weight.requires_grad and model.fc.training
    assert model.stem[1].training and model.stem[0].weight.requires_grad


def test_unfreeze_after_trains_the_backbone_later():
    torch.manual_seed(0)
    model = build_model("simple_cnn", 2)
    before = model.stem[0].weight.clone()
    data = torch.utils.data.TensorDataset(torch.randn(8, 3, 32, 32), torch.tensor([0, 1] * 4))
    cfg = TrainConfig(epochs=2, batch_size=4, freeze="backbone", unfreeze_after=1)
    train_model(model, data, torch.zeros(8).numpy(), cfg, seed=0, device=torch.device("cpu"),
                head="fc")
    assert not torch.equal(model.stem[0].weight, before)


def test_freeze_with_one_cycle_and_a_diverging_loss_restores_the_flags():
    torch.manual_seed(0)
    model = build_model("simple_cnn", 2)
    before = model.stem[0].weight.clone()
    images = torch.randn(48, 3, 16, 16)
    ds = torch.utils.data.TensorDataset(images, torch.tensor([0, 1] * 24))
    cfg = TrainConfig(epochs=3, batch_size=4, freeze="backbone", head_lr=0.01)
    assert cfg.epochs * 12 >= MIN_ONE_CYCLE_STEPS  # the one-cycle schedule, one max_lr a group
    train_model(model, ds, np.zeros(48), cfg, seed=0, device=torch.device("cpu"), head="fc")
    assert torch.equal(model.stem[0].weight, before)
    images[5] = float("nan")  # every sample is drawn once an epoch: epoch 1 diverges
    cfg = TrainConfig(epochs=2, batch_size=4, freeze="backbone", unfreeze_after=1)
    with pytest.raises(ModelError, match=r"models\[m\]: training diverged: .* in epoch 1 of 2"):
        train_model(model, ds, np.zeros(48), cfg, seed=0, device=torch.device("cpu"),
                    head="fc", name="m")
    assert all(p.requires_grad for p in model.parameters())  # backbone_frozen undone


def test_timm_models_build_and_get_a_token_grid_layer():
    pytest.importorskip("timm")
    from auditor.saliency.target_choice import choose_target_layer

    model = build_model("timm:deit_tiny_distilled_patch16_224", 2, image_size=64).eval()
    heads = model.get_classifier()  # distilled DeiT: (head, head_dist)
    for head in heads if isinstance(heads, tuple) else (heads,):
        torch.nn.init.normal_(head.weight)
    choice = choose_target_layer(model, "auto", torch.randn(1, 3, 64, 64))
    assert choice.name == "blocks.11.norm1" and choice.map_size == (4, 4)  # 2 tokens dropped


def test_hf_folder_needs_a_saved_model(tmp_path):
    with pytest.raises(ModelError, match="no config.json"):
        get_arch(f"hf:{tmp_path}")


def test_hf_image_classifier_from_a_local_folder(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=32, patch_size=8, num_hidden_layers=2,
                                    hidden_size=32, num_attention_heads=2,
                                    intermediate_size=64, num_labels=5)
    transformers.ViTForImageClassification(config).save_pretrained(tmp_path)
    capsys.readouterr()
    model = build_model(f"hf:{tmp_path}", 2, image_size=32).eval()
    # transformers 5's "Loading weights" bar stays off the user's terminal, and on for others
    assert "Loading weights" not in capsys.readouterr().err
    assert transformers.utils.logging.is_progress_bar_enabled()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    from auditor.saliency.target_choice import choose_target_layer

    torch.nn.init.normal_(model.model.classifier.weight)
    choice = choose_target_layer(model, "auto", torch.randn(1, 3, 32, 32))
    # the last block's first norm (transformers 4 names it vit.encoder.layer.1, 5 vit.layers.1)
    norms = [n for n, _ in model.named_modules() if n.endswith(".1.layernorm_before")]
    assert len(norms) == 1 and choice.name == norms[0]
    assert choice.map_size == (4, 4)


def test_loading_torchscript_says_nothing_about_torchscript_being_deprecated(tmp_path):
    """torch deprecates TorchScript with a FutureWarning on every ``torch.jit.load``; a user
    auditing their file would see it on the terminal. The file still loads and computes the
    same logits."""
    import warnings

    from auditor.models.torchscript import load_torchscript

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                              torch.nn.Linear(4, 2)).eval()
    x = torch.rand(2, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saving is the test's business, not the auditor's
        torch.jit.save(torch.jit.trace(net, x), str(tmp_path / "net.pt"))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loaded = load_torchscript(tmp_path / "net.pt", x)
    assert not [w for w in seen if "deprecated" in str(w.message)], \
        [str(w.message) for w in seen]
    torch.testing.assert_close(loaded(x), net(x))


def test_a_traced_vit_without_its_batch_size_assertions_computes_every_batch_size(tmp_path):
    """The converter asserts sizes read from tensors that only hold for its example batch of
    two (a traced ViT's token count, "u0 >= 16"); they are removed so one image (the layer
    probe, a last batch) can run. Removing them must not change a logit at any batch size:
    every operation still checks its own shapes."""
    import warnings

    from torchvision.models import VisionTransformer

    import auditor.models.torchscript as ts

    torch.manual_seed(0)
    net = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                            hidden_dim=16, mlp_dim=32, num_classes=3).eval()
    x = torch.rand(2, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(net, x, check_trace=False), str(tmp_path / "vit.pt"))
    removed = []
    drop = ts._drop_shape_assertions

    def counting(gm):
        removed.append(sum(n.target is torch.ops.aten._assert_scalar.default
                           for n in gm.graph.nodes))
        drop(gm)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ts, "_drop_shape_assertions", counting)
        loaded = ts.load_torchscript(tmp_path / "vit.pt", x)
    assert removed and removed[0] > 0  # the case this guards: there were assertions
    for n in (1, 2, 3, 5):
        xb = torch.rand(n, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(loaded(xb), net(xb), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(("arch", "kwargs", "needle"), [
    ("resnet18", {"num_classes": 3}, r"models\[m\]\.arch_kwargs\.num_classes: auditor sets it"),
    ("user", {"num_classes": 3}, r"models\[m\]\.arch_kwargs\.num_classes: auditor sets it"),
    ("user", {"image_size": 32}, r"models\[m\]\.arch_kwargs\.image_size: .*data\.image_size"),
    ("simple_cnn", {"depth": 3},
     r"models\[m\]\.arch_kwargs\.depth: simple_cnn takes no argument 'depth' \(it takes: width\)"),
])
def test_arch_kwargs_auditor_sets_or_the_arch_lacks_are_one_line_naming_the_key(
        tmp_path, arch, kwargs, needle):
    (tmp_path / "net.py").write_text(
        "import torch\nclass Net(torch.nn.Sequential):\n"
        "    def __init__(self, num_classes, image_size=None):\n"
        "        super().__init__(torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))\n")
    arch = f"{tmp_path}/net.py:Net" if arch == "user" else arch
    with pytest.raises(ModelError, match=needle):
        build_configured(ModelConfig(name="m", arch=arch, arch_kwargs=kwargs), 2, image_size=32)


def test_a_user_class_taking_image_size_gets_data_image_size():
    """torchvision's VisionTransformer class needs image_size: auditor passes data.image_size,
    as it does for the torchvision ViTs by name."""
    mcfg = ModelConfig(name="m", arch="torchvision.models.vision_transformer:VisionTransformer",
                       arch_kwargs={"patch_size": 4, "num_layers": 1, "num_heads": 2,
                                    "hidden_dim": 8, "mlp_dim": 16})
    model = build_configured(mcfg, 2, image_size=16).model
    assert model.image_size == 16 and model(torch.zeros(1, 3, 16, 16)).shape == (1, 2)

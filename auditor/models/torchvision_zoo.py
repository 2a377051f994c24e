"""Every torchvision classification model by name, head sized from the data, nothing downloaded.

``torchvision.models.list_models(module=torchvision.models)`` names the family. A model is built
with ``weights=None`` and ``num_classes`` of the data; pretrained weights are read only from a
local file: ``models[i].pretrained`` (a state_dict path) or ``models[i].weights`` (a weights name
such as ``DEFAULT`` or ``IMAGENET1K_V2``, looked up in torch's local hub cache, where
``torchvision`` itself stores a download). A missing file is one line naming the path to put it at.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auditor.errors import ModelError

__all__ = ["WeightsInfo", "adapt_pretrained_state", "build_torchvision", "drop_aux_heads",
           "torchvision_names", "weights_info"]

# Auxiliary classifiers only run in training mode and return tuples; audits use the main head.
_NO_AUX = {"googlenet": {"aux_logits": False, "init_weights": True},
           "inception_v3": {"aux_logits": False, "init_weights": True}}
_AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")


@functools.cache
def torchvision_names() -> tuple[str, ...]:
    """The classification models of ``torchvision.models`` (sorted)."""
    from torchvision import models

    return tuple(sorted(models.list_models(module=models)))


# The smallest input some models take (their pooling leaves nothing below it)
_MIN_SIZE = {"inception_v3": 75}


def _size_kwargs(name: str, image_size: int | None) -> dict[str, Any]:
    """Constructor arguments that fix the input size (ViT position embeddings, MaxViT grid)."""
    if image_size is None:
        return {}
    if image_size < _MIN_SIZE.get(name, 0):
        raise ModelError(f"{name} needs data.image_size >= {_MIN_SIZE[name]} (got {image_size}): "
                         "its stem pools smaller images away")
    if name.startswith("vit_"):
        patch = int(name.rsplit("_", 1)[-1])
        if image_size % patch:
            raise ModelError(f"{name} cuts images into {patch}x{patch} patches: data.image_size "
                             f"must be a multiple of {patch} (got {image_size})")
        return {"image_size": image_size}
    if name.startswith("maxvit"):
        return {"input_size": (image_size, image_size)}
    return {}


def build_torchvision(name: str, num_classes: int, *, image_size: int | None = None,
                      **kwargs: Any) -> nn.Module:
    """Build torchvision's ``name`` with random weights and a ``num_classes`` head.

    Args:
        name: one of :func:`torchvision_names`.
        num_classes: outputs of the head.
        image_size: the data's input side (sets ViT's and MaxViT's input size).
        **kwargs: ``models[i].arch_kwargs``, passed to the constructor.

    Raises:
        ModelError: a constructor argument it does not take, or an input size it cannot use.
    """
    from torchvision import models

    args = {**_NO_AUX.get(name, {}), **_size_kwargs(name, image_size), **kwargs}
    try:
        return models.get_model(name, weights=None, num_classes=num_classes, **args)
    except (TypeError, ValueError, AssertionError) as err:
        text = " ".join(str(err).split())
        if "partition size" in text and "input_size" not in kwargs and image_size:
            # MaxViT's windows: every stage's map (strides 4 to 32) must divide into them
            side = 32 * int(kwargs.get("partition_size", 7))
            raise ModelError(
                f"{name} cuts its feature maps at strides 4 to 32 into windows of "
                f"{side // 32}x{side // 32}, which {image_size} px images do not fill: set "
                f"data.image_size to a multiple of {side} ({-(-image_size // side) * side}, "
                f"say; got {image_size})") from None
        raise ModelError(f"{name}: cannot build with arch_kwargs {kwargs or {}}: {text}") \
            from None


class WeightsInfo:
    """A torchvision weights entry: where its file lives locally and its preprocessing."""

    def __init__(self, arch: str, weights: Any) -> None:
        self.arch = arch
        self.weights = weights
        self.name = f"{type(weights).__name__}.{weights.name}"
        preset = weights.transforms()
        self.crop_size = int(preset.crop_size[0])
        self.mean = [float(v) for v in preset.mean]
        self.std = [float(v) for v in preset.std]
        self.min_size = int(weights.meta.get("min_size", (1, 1))[0])

    @property
    def cache_file(self) -> Path:
        """Where ``torchvision`` keeps this download: ``$TORCH_HOME/hub/checkpoints/<file>``."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.weights.url.rsplit("/", 1)[-1]

    def local_file(self, where: str) -> Path:
        """The cached file.

        Raises:
            ModelError: not in the cache; says where to put it (nothing is downloaded).
        """
        path = self.cache_file
        if not path.is_file():
            raise ModelError(
                f"{where}: {self.name} weights not found at {path} (nothing is downloaded at run "
                f"time: fetch them once with torchvision.models.{self.arch}(weights="
                f"'{self.weights.name}') on a machine with internet and copy the file there, "
                "or give models[i].pretrained: path/to/weights.pth)")
        return path


def weights_info(arch: str, spec: str, where: str) -> WeightsInfo:
    """Look up ``spec`` (``DEFAULT``, ``IMAGENET1K_V1`` or ``ResNet18_Weights.IMAGENET1K_V1``).

    Raises:
        ModelError: ``arch`` is not a torchvision model or has no such weights (lists them).
    """
    from torchvision import models

    if arch not in torchvision_names():
        raise ModelError(f"{where}: weights names are torchvision's; {arch!r} is not a "
                         "torchvision model (give pretrained: path/to/weights.pth instead)")
    enum = models.get_model_weights(arch)
    key = spec.rpartition(".")[2]
    if key == "DEFAULT":
        return WeightsInfo(arch, enum.DEFAULT)
    try:
        return WeightsInfo(arch, enum[key])
    except KeyError:
        valid = ", ".join(["DEFAULT", *(w.name for w in enum)])
        raise ModelError(f"{where}: {arch} has no weights {spec!r}; valid: {valid}") from None


def drop_aux_heads(arch: str, state: dict[str, torch.Tensor],
                   model: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` without the auxiliary classifiers ``model`` was built without (googlenet and
    inception_v3 save them by default; they only run in training)."""
    if arch not in _NO_AUX:
        return state
    own = model.state_dict()
    return {k: v for k, v in state.items()
            if k in own or not k.removeprefix("module.").startswith(_AUX_PREFIXES)}


def adapt_pretrained_state(arch: str, state: dict[str, torch.Tensor], model: nn.Module,
                           head: str) -> dict[str, torch.Tensor]:
    """A pretrained ImageNet state_dict made to fit ``model``: head and auxiliary heads left
    out, ViT position embeddings interpolated to the model's input size."""
    skip = (f"{head}.",) + _AUX_PREFIXES if head else _AUX_PREFIXES
    state = {k: v for k, v in state.items() if not k.startswith(skip)}
    key = "encoder.pos_embedding"
    own = model.state_dict()
    if arch.startswith("vit_") and key in state and key in own \
            and state[key].shape != own[key].shape:
        from torchvision.models.vision_transformer import interpolate_embeddings

        state = interpolate_embeddings(int(model.image_size), int(model.patch_size), state)
    return state

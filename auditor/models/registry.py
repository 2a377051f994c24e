"""Architecture registry: ``@register_arch`` adds a constructor, ``build_model`` builds one.

Besides the registered names, ``models[i].arch`` resolves (registry resolvers, tried in order):
any torchvision classification model, ``timm:<name>``, ``hf:<local dir>``, ``torchscript`` (the
checkpoint file is the model) and a user's class or factory, ``"file.py:Name"`` or
``"package.module:name"`` (see :mod:`auditor.models.external`).

Every architecture is built without downloading anything: torchvision models start from random
weights (``weights=None``); pretrained backbones come from a local file given in the config
(``models[i].pretrained`` or ``models[i].weights``), loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from auditor.common.registry import Registry
from auditor.errors import AuditorError, ModelError

__all__ = ["ArchInfo", "arch_kwargs_problem", "build_model", "default_target_layer", "list_archs",
           "register_arch"]

# Arguments auditor passes itself: the head size from the data, the input side (ViT)
_RESERVED = {"num_classes": "auditor sets it from the data (the number of classes)",
             "image_size": "auditor sets it from data.image_size (given to every constructor "
                           "that takes image_size)"}


@dataclass(frozen=True)
class ArchInfo:
    """One architecture.

    ``builder(num_classes, image_size=None, **arch_kwargs)`` returns the model; ``head`` is the
    dotted name of its classification layer (``""``: found after building); ``family`` says
    which route built it (registered, torchvision, timm, hf, user, torchscript).
    """

    name: str
    builder: Callable[..., nn.Module]
    target_layer: str
    description: str
    head: str  # dotted name of the final classification layer
    family: str = "registered"


# The resolvers (torchvision names, timm:, hf:, user code) are added by auditor.models.external,
# which the package imports right after this module.
_ARCHS: Registry[ArchInfo] = Registry("architecture", error=ModelError)


def arch_registry() -> Registry[ArchInfo]:
    """The architecture registry (for modules that add resolvers)."""
    return _ARCHS


def register_arch(
    name: str, *, target_layer: str, head: str, description: str
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``builder(num_classes, image_size=None, **arch_kwargs) -> nn.Module``.

    A builder that takes only ``num_classes`` is accepted too (it gets no arch_kwargs).
    """
    return _ARCHS.decorator(
        name, lambda builder: ArchInfo(name, builder, target_layer, description, head))


def list_archs() -> list[ArchInfo]:
    """All registered architectures, sorted by name."""
    return _ARCHS.values()


def get_arch(name: str) -> ArchInfo:
    """The registered architecture ``name``.

    Raises:
        ModelError: unknown name; the message suggests the closest and lists the valid ones.
    """
    return _ARCHS.get(name)


def arch_kwargs_problem(info: ArchInfo, arch_kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """``(key, why)`` for the first ``arch_kwargs`` key the builder cannot take, else None:
    one auditor passes itself, or one a registered builder's signature does not name."""
    for key in arch_kwargs:
        if key in _RESERVED:
            return key, f"{_RESERVED[key]}; remove it"
    if info.family != "registered":
        return None  # torchvision, timm, hf and user code check their own arguments
    params = inspect.signature(info.builder).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    takes = [n for n in list(params)[1:] if n not in _RESERVED]
    for key in arch_kwargs:
        if key not in takes:
            return key, (f"{info.name} takes no argument {key!r} (it takes: "
                         f"{', '.join(takes) or 'none'})")
    return None


def build_model(arch: str, num_classes: int, *, image_size: int | None = None,
                **arch_kwargs: Any) -> nn.Module:
    """Build ``arch`` with a head of ``num_classes`` outputs (random weights).

    Args:
        arch: any name :func:`get_arch` resolves.
        num_classes: outputs of the head.
        image_size: the input side, for models whose constructor needs it (ViT).
        **arch_kwargs: passed to the constructor.

    Raises:
        ModelError: fewer than 2 classes, an ``arch_kwargs`` key the builder cannot take, or
            the constructor failing (any exception, as one line).
    """
    if num_classes < 2:
        raise ModelError(f"{arch}: a classifier needs at least 2 classes, got {num_classes}")
    info = get_arch(arch)
    problem = arch_kwargs_problem(info, arch_kwargs)
    if problem:
        raise ModelError(f"{arch}: arch_kwargs.{problem[0]}: {problem[1]}")
    try:
        if len(inspect.signature(info.builder).parameters) == 1:  # builder(num_classes) only
            return info.builder(num_classes)
        return info.builder(num_classes, image_size=image_size, **arch_kwargs)
    except AuditorError:
        raise
    except Exception as err:  # noqa: BLE001  (a constructor rejects a value: width: -1)
        text = " ".join(str(err).split())
        raise ModelError(f"{arch}: building it with arch_kwargs {arch_kwargs} failed: "
                         f"{type(err).__name__}{': ' + text if text else ''}") from None


def default_target_layer(arch: str) -> str:
    """The registry's default Grad-CAM target layer for ``arch`` (dotted module name)."""
    return get_arch(arch).target_layer


class SimpleCNN(nn.Module):
    """A small, CPU-friendly conv net: four conv blocks, global average pooling, one linear.

    The stem convolves with stride 2, so a 64x64 input costs about 17 MFLOPs; the last block
    (``features``) yields an 8x8 map of ``4 * width`` channels for Grad-CAM. GAP + linear makes
    the class activation map (``cam``) exact.
    """

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()

        def block(cin: int, cout: int, *, stride: int = 1, pool: bool = False) -> list[nn.Module]:
            layers: list[nn.Module] = [
                nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=False),
            ]
            if pool:
                layers.append(nn.MaxPool2d(2))
            return layers

        w = width
        self.stem = nn.Sequential(*block(3, w, stride=2), *block(w, w * 3 // 2, pool=True))
        self.features = nn.Sequential(*block(w * 3 // 2, w * 3, pool=True), *block(w * 3, w * 4))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w * 4, num_classes)

    def forward(self, x):  # noqa: D102
        x = self.features(self.stem(x))
        return self.fc(self.pool(x).flatten(1))


@register_arch("simple_cnn", target_layer="features", head="fc",
               description="small 4-block conv net + GAP + linear (the demo's model, CPU-friendly)")
def _simple_cnn(num_classes: int, image_size: int | None = None, width: int = 16) -> nn.Module:
    return SimpleCNN(num_classes, width=width)


def _torchvision(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, image_size: int | None = None, **kwargs: Any) -> nn.Module:
        from auditor.models.torchvision_zoo import build_torchvision

        return build_torchvision(name, num_classes, image_size=image_size, **kwargs)

    return build


for _name, _layer, _head, _what in (
        ("resnet18", "layer4", "fc", "ResNet-18"), ("resnet50", "layer4", "fc", "ResNet-50"),
        ("vgg11_bn", "features", "classifier.6", "VGG-11 with batch norm")):
    register_arch(_name, target_layer=_layer, head=_head,
                  description=f"torchvision {_what}, head sized from the data")(_torchvision(_name))

"""Architecture registry: ``@register_arch`` adds a constructor, ``build_model`` builds one.

Every architecture is built without downloading anything: torchvision models start from random
weights (``weights=None``); pretrained backbones come from a local file given in the config
(``models[i].pretrained``), loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from auditor.common.registry import Registry
from auditor.errors import ModelError

__all__ = ["ArchInfo", "build_model", "default_target_layer", "list_archs", "register_arch"]


@dataclass(frozen=True)
class ArchInfo:
    """One registered architecture."""

    name: str
    builder: Callable[[int], nn.Module]
    target_layer: str
    description: str
    head: str  # dotted name of the final classification layer


_ARCHS: Registry[ArchInfo] = Registry("architecture", error=ModelError)


def register_arch(
    name: str, *, target_layer: str, head: str, description: str
) -> Callable[[Callable[[int], nn.Module]], Callable[[int], nn.Module]]:
    """Register ``builder(num_classes) -> nn.Module`` under ``name``."""
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


def build_model(arch: str, num_classes: int) -> nn.Module:
    """Build ``arch`` with a head of ``num_classes`` outputs (random weights)."""
    if num_classes < 2:
        raise ModelError(f"{arch}: a classifier needs at least 2 classes, got {num_classes}")
    return get_arch(arch).builder(num_classes)


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
def _simple_cnn(num_classes: int) -> nn.Module:
    return SimpleCNN(num_classes)


def _torchvision_resnet(name: str, num_classes: int) -> nn.Module:
    from torchvision import models

    model = getattr(models, name)(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


@register_arch("resnet18", target_layer="layer4", head="fc",
               description="torchvision ResNet-18, head sized from the data")
def _resnet18(num_classes: int) -> nn.Module:
    return _torchvision_resnet("resnet18", num_classes)


@register_arch("resnet50", target_layer="layer4", head="fc",
               description="torchvision ResNet-50, head sized from the data")
def _resnet50(num_classes: int) -> nn.Module:
    return _torchvision_resnet("resnet50", num_classes)


@register_arch("vgg11_bn", target_layer="features", head="classifier.6",
               description="torchvision VGG-11 with batch norm, head sized from the data")
def _vgg11(num_classes: int) -> nn.Module:
    from torchvision import models

    model = models.vgg11_bn(weights=None)
    model.classifier[6] = nn.Linear(model.classifier[6].in_features, num_classes)
    return model

"""Fixtures for the saliency tests: tiny seeded models (CPU, one thread via tests/conftest.py)."""

from __future__ import annotations

import pytest
import torch
from helpers.saliency import SmallVGG, TinyGapNet


@pytest.fixture
def resnet18():
    from torchvision.models import resnet18 as build

    torch.manual_seed(0)
    return build(weights=None, num_classes=5).eval()


@pytest.fixture
def small_vgg():
    torch.manual_seed(1)
    return SmallVGG().eval()


@pytest.fixture
def tiny_gap():
    torch.manual_seed(2)
    return TinyGapNet().eval()

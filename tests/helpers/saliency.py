"""Tiny seeded models and images for the saliency tests (a uniquely named helper module,
so imports cannot collide with other test folders' conftest.py)."""

from __future__ import annotations

import torch
from torch import nn


class SmallVGG(nn.Module):
    """VGG-style: conv/ReLU(inplace) stacks, max pooling, flatten + two linear layers (no GAP).

    32x32 input -> ``features.8`` (ReLU) is 16x16x16, ``features`` (after the last pool) 8x8x16.
    """

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(16 * 8 * 8, 32), nn.ReLU(inplace=True),
                                        nn.Linear(32, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class TinyGapNet(nn.Module):
    """Two convs + GAP + linear: the smallest model with a CAM-compatible head (8x8 maps)."""

    def __init__(self, num_classes: int = 3, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``[n, 3, size, size]`` seeded images: smooth blobs plus noise, roughly unit scale."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 3, 4, 4, generator=g)
    smooth = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear",
                                             align_corners=False)
    return smooth + 0.3 * torch.randn(n, 3, size, size, generator=g)

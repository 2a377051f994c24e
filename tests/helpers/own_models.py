"""Helpers of the bring-your-own-model tests: a user's model file, configs, checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from auditor.models import build_model, state_dict_bytes

USER_MODEL = '''
import torch
from torch import nn


class MyNet(nn.Module):
    """A user's own classifier: conv blocks of `width` channels, GAP, linear."""

    def __init__(self, num_classes, width=8, depth=2):
        super().__init__()
        layers, cin = [], 3
        for _ in range(depth):
            layers += [nn.Conv2d(cin, width, 3, stride=2, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU()]
            cin = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x).mean(dim=(2, 3)))


def build(n_classes=2, width=8):
    """A factory, as in "package.module:build"."""
    return MyNet(n_classes, width=width)
'''


def write_user_model(folder: Path, name: str = "my_models.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(USER_MODEL)
    return path


def save_random_checkpoint(path: Path, arch: str, size: int, **kwargs) -> Path:
    """A random-init state_dict of ``arch`` with a two-class head (what a trained file holds)."""
    torch.manual_seed(0)
    path.write_bytes(state_dict_bytes(build_model(arch, 2, image_size=size, **kwargs)))
    return path


def tiny_config(folder: Path, models: list[dict], *, size: int = 64, **extra) -> Path:
    """Synthetic clinic data (8 train, 4 test images), Grad-CAM, one-step sanity check."""
    cfg = {"name": "own models", "output_dir": "run", "seed": 0, "device": "cpu",
           "data": {"synthetic": {"n_train": 8, "n_val": 0, "n_test": 4,
                                  "image_size": max(size, 32)},
                    "image_size": size},
           "models": models,
           "saliency": {"methods": ["gradcam"], "batch_size": 4},
           "analysis": {"n_bootstrap": 50, "sanity_layers": "full", "reliance": False},
           "report": {"formats": []}}
    for key, value in extra.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path

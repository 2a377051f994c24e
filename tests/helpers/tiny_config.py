"""The tiny synthetic config of the end-to-end tests."""

from pathlib import Path

import yaml

TINY = {
    "name": "tiny <b>audit</b>",
    "output_dir": "run",
    "seed": 0,
    "device": "cpu",
    "data": {"synthetic": {"n_train": 64, "n_val": 8, "n_test": 32, "image_size": 32},
             "image_size": 32, "normalize": "none"},
    "models": [
        {"name": "baseline", "train": {"epochs": 1, "batch_size": 16}},
        {"name": "rebalanced", "train": {"epochs": 1, "batch_size": 16, "balance": "group",
                                         "balance_by": ["hair"]}},
    ],
    "saliency": {"methods": ["gradcam", "gradcam++"], "batch_size": 16},
    "analysis": {"n_bootstrap": 100},
    "report": {"examples_per_group": 2},
}


def write_config(folder: Path, **overrides) -> Path:
    cfg = {**TINY, **overrides}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path

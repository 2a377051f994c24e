"""A run decodes its train split once for all its models and its audit split once for all
its audits (data/torch_dataset.RememberedItems, models/prepare.TrainSplit)."""

import torch
from torch.utils.data import Dataset

from auditor.config import load_config
from auditor.data.dataset import load_data, resolve_synthetic
from auditor.data.torch_dataset import RememberedItems
from auditor.models import prepare
from tests.helpers.tiny_config import write_config


class _Counting(Dataset):
    def __init__(self, n: int) -> None:
        self.n, self.loads = n, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> dict:
        self.loads += 1
        return {"image": torch.full((3, 4, 4), float(k)), "index": k}


def test_remembered_items_load_each_item_once_and_return_the_same_values():
    base = _Counting(5)
    kept = RememberedItems(base)
    first = [kept[k]["image"][0, 0, 0].item() for k in range(5)]
    second = [kept[k]["image"][0, 0, 0].item() for k in range(5)]
    assert first == second == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert base.loads == 5 and len(kept) == 5


def test_remembered_items_fit_only_within_the_budget():
    # 5 items x 3*4*4 float32 = 960 bytes (+ nothing else that is a tensor)
    assert RememberedItems.fits(_Counting(5), budget=960)
    assert not RememberedItems.fits(_Counting(5), budget=959)
    assert not RememberedItems.fits(_Counting(0))


def test_train_split_is_decoded_once_for_every_model(tmp_path, monkeypatch):
    cfg = load_config(write_config(tmp_path))
    bundle = load_data(resolve_synthetic(cfg.data, tmp_path / "data", cfg.seed), seed=cfg.seed)
    calls = []
    real = prepare.materialize

    def counting(ds, **kwargs):
        calls.append(len(ds))
        return real(ds, **kwargs)

    monkeypatch.setattr(prepare, "materialize", counting)
    split = prepare.TrainSplit(bundle)
    a, b = split.data(None, "baseline"), split.data(None, "rebalanced")
    assert a is b and calls == [len(split)] == [64]
    images, labels = a.tensors
    assert images.shape == (64, 3, 32, 32) and labels.shape == (64,)

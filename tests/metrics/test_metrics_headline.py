"""Bootstrap intervals of balanced accuracy and accuracy gap."""

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.headline import headline_intervals


def table(n_per_cell=50, acc=(0.9, 0.9, 0.5, 0.9), seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for (label, hair), a in zip([("d", "x"), ("d", "y"), ("n", "x"), ("n", "y")], acc,
                                strict=True):
        k = int(round(a * n_per_cell))
        for i in range(n_per_cell):
            rows.append({"label": label, "hair": hair, "correct": i < k})
    df = pd.DataFrame(rows)
    return df.sample(frac=1.0, random_state=int(rng.integers(1000))).reset_index(drop=True)


def test_intervals_cover_the_point_estimates():
    df = table()
    out = headline_intervals(df, ["hair"], n_boot=500, seed=1)
    # balanced accuracy: class d recall 0.9, class n recall 0.7 -> 0.8
    lo, hi = out["balanced_accuracy"]
    assert lo < 0.8 < hi and hi - lo < 0.2
    # gap: best cell 0.9, worst 0.5 -> 0.4
    lo, hi = out["accuracy_gap"]
    assert lo < 0.4 < hi and lo > 0.2


def test_seeded_and_tiny_cells_ignored():
    df = table()
    a = headline_intervals(df, ["hair"], n_boot=200, seed=3)
    b = headline_intervals(df, ["hair"], n_boot=200, seed=3)
    assert a == b
    out = headline_intervals(df, ["hair"], n_boot=200, min_group_size=1000)
    assert out["accuracy_gap"] == [None, None]


def test_too_small():
    df = table().iloc[:1]
    assert headline_intervals(df, ["hair"]) == {"balanced_accuracy": [None, None],
                                                "accuracy_gap": [None, None]}


@pytest.mark.parametrize("attrs", [[], ["hair"]])
def test_no_attributes_uses_classes(attrs):
    out = headline_intervals(table(), attrs, n_boot=100)
    assert out["accuracy_gap"][0] is not None

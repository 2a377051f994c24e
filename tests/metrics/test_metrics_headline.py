"""Bootstrap intervals of balanced accuracy, accuracy gap and equalized-odds difference."""

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.groups import group_performance
from auditor.metrics.headline import _max_spread, headline_intervals


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


def test_balanced_accuracy_interval_covers_what_tiny_classes_allow():
    """Classes a 3/3, b 2/3, c 0/3: balanced accuracy 5/9. No resample moves a class at 0% or
    100% recall, so the bootstrap alone was narrow on those sides; the interval also covers
    MOVER's: 5/9 -/+ sqrt of the summed squared distances to the Wilson bounds, over 3.
    Wilson (95%): 3/3 (0.4385, 1), 2/3 (0.2077, 0.9385), 0/3 (0, 0.5615)."""
    rows = [("a", True)] * 3 + [("b", True)] * 2 + [("b", False)] + [("c", False)] * 3
    df = pd.DataFrame(rows, columns=["label", "correct"])
    lo, hi = headline_intervals(df, [], n_boot=300, seed=0)["balanced_accuracy"]
    mean = 5 / 9
    mover_lo = mean - np.sqrt((1 - 0.4385) ** 2 + (2 / 3 - 0.2077) ** 2) / 3
    mover_hi = mean + np.sqrt((0.9385 - 2 / 3) ** 2 + 0.5615 ** 2) / 3
    assert lo <= mover_lo + 1e-3 and hi >= mover_hi - 1e-3
    assert lo == pytest.approx(0.3138, abs=1e-3) and hi == pytest.approx(0.7635, abs=1e-3)


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


@pytest.mark.parametrize(("attrs", "gap"), [([], 0.2), (["hair"], 0.4)])
def test_no_attributes_uses_classes(attrs, gap):
    """Without attributes the cells are the classes (d 0.9, n 0.7: gap 0.2); with hair they
    are label x hair (best 0.9, worst 0.5: gap 0.4; 50 per cell, so Newcombe's interval alone
    is 0.32 wide)."""
    lo, hi = headline_intervals(table(), attrs, n_boot=300, seed=2)["accuracy_gap"]
    assert lo < gap < hi and hi - lo < 0.4


def test_equalized_odds_interval_covers_the_hand_computed_difference():
    """Cells (d,x) 0.9, (d,y) 0.9, (n,x) 0.5, (n,y) 0.9 correct; a wrong answer is the other
    class. Class n: TPR 0.5 (x) vs 0.9 (y); class d: FPR 0.5 (x) vs 0.1 (y). EOD = 0.4."""
    df = table()
    df["pred"] = np.where(df["correct"], df["label"], np.where(df["label"] == "d", "n", "d"))
    point = group_performance(df, ["hair"]).equalized_odds_difference
    assert point == pytest.approx(0.4)
    out = headline_intervals(df, ["hair"], n_boot=500, seed=2)
    lo, hi = out["equalized_odds_difference"]
    assert 0.2 < lo < 0.4 < hi < 0.6
    assert headline_intervals(df, [], n_boot=100)["equalized_odds_difference"] == [None, None]
    assert "equalized_odds_difference" not in headline_intervals(table(), ["hair"], n_boot=50)


def test_max_spread_skips_spans_with_fewer_than_two_defined_rates():
    nan = np.nan
    rates = np.array([[0.1, 0.5, nan, 0.9],
                      [0.2, 0.2, 0.0, 0.7],
                      [nan, 0.3, nan, nan],
                      [1.0, 0.0, 0.5, 0.5]])
    out = _max_spread(rates, [slice(0, 2), slice(2, 4)])
    np.testing.assert_allclose(out, [0.4, 0.7, nan, 1.0])


def test_gap_between_a_0_and_a_100_percent_cell_is_not_certain():
    """0/100 against 100/100 resamples to a gap of exactly 1 every time; the interval covers
    Newcombe's score interval instead (hand-computed: Wilson 95% lower bound of 100/100 is
    1 / (1 + 1.96² / 100) = 0.96300, so the gap's lower end is 1 - √2 · 0.03700 = 0.94768)."""
    df = table(n_per_cell=100, acc=(1.0, 0.0, 1.0, 1.0))
    lo, hi = headline_intervals(df, ["hair"], n_boot=200, seed=0)["accuracy_gap"]
    assert lo == pytest.approx(0.94768, abs=1e-5) and hi == 1.0
    wide = headline_intervals(table(), ["hair"], n_boot=500, seed=1)["accuracy_gap"]
    assert wide[0] < 0.4 < wide[1]  # a bootstrap interval wider than the score one is kept


def test_equalized_odds_between_a_0_and_a_100_percent_group_is_not_certain():
    """Class d: hair x always right, hair y always wrong (called n): TPR 1.0 vs 0.0 on 50
    each, EOD 1.0 in every resample ("1.00 (1.00–1.00)"). The interval covers Newcombe's for
    that pair: 1 - √2 · (1 - 1 / (1 + 1.96² / 50)) = 0.89585."""
    df = table(n_per_cell=50, acc=(1.0, 0.0, 1.0, 1.0))
    df["pred"] = np.where(df["correct"], df["label"], np.where(df["label"] == "d", "n", "d"))
    assert group_performance(df, ["hair"]).equalized_odds_difference == pytest.approx(1.0)
    lo, hi = headline_intervals(df, ["hair"], n_boot=200, seed=0)["equalized_odds_difference"]
    w = 1 - 1 / (1 + 1.959964 ** 2 / 50)
    assert lo == pytest.approx(1 - 2 ** 0.5 * w, abs=1e-4) and hi == 1.0

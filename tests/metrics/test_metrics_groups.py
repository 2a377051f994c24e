"""Group performance against counts worked out by hand.

Cells (10 samples each): doctor/dark 9 right, doctor/blond 4 right, nurse/dark 6 right,
nurse/blond 10 right. Wrong doctors are predicted nurse and vice versa.
"""

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference

from auditor.metrics.groups import class_cells, group_cells, group_performance, worst_and_best
from auditor.metrics.stats import wilson_ci

RIGHT = {("doctor", "dark"): 9, ("doctor", "blond"): 4, ("nurse", "dark"): 6,
         ("nurse", "blond"): 10}


@pytest.fixture
def table():
    rows = []
    for (label, hair), k in RIGHT.items():
        for i in range(10):
            other = "nurse" if label == "doctor" else "doctor"
            rows.append({"id": f"{label}-{hair}-{i}", "label": label, "hair": hair,
                         "pred": label if i < k else other, "correct": i < k,
                         "site": "a" if i % 2 else "b"})
    return pd.DataFrame(rows)


def test_headline_metrics(table):
    perf = group_performance(table, ["hair"], level=0.95, min_group_size=5)
    m = perf.metrics_dict()
    assert list(m) == ["accuracy", "balanced_accuracy", "worst_group_accuracy", "worst_group",
                       "accuracy_gap", "equalized_odds_difference"]
    assert m["accuracy"] == pytest.approx(29 / 40)
    assert m["balanced_accuracy"] == pytest.approx((13 / 20 + 16 / 20) / 2)
    assert m["worst_group"] == "hair=blond & label=doctor"
    assert m["worst_group_accuracy"] == pytest.approx(0.4)
    assert m["accuracy_gap"] == pytest.approx(1.0 - 0.4)
    # TPR(doctor): dark 0.9, blond 0.4; FPR(doctor): dark 0.4, blond 0.0 -> 0.5
    assert m["equalized_odds_difference"] == pytest.approx(0.5)
    binary = equalized_odds_difference((table["label"] == "doctor").to_numpy(),
                                       (table["pred"] == "doctor").to_numpy(),
                                       sensitive_features=table["hair"])
    assert m["equalized_odds_difference"] == pytest.approx(binary)
    json.dumps(perf.to_dict(), allow_nan=False)


def test_by_group_counts_and_wilson(table):
    perf = group_performance(table, ["hair"], level=0.9, min_group_size=5)
    blond = perf.by_group_dict()["hair"]["blond"]
    assert blond["n"] == 20 and blond["accuracy"] == pytest.approx(0.7)
    assert blond["error_rate"] == pytest.approx(0.3)
    assert blond["ci"] == pytest.approx(list(wilson_ci(14, 20, 0.9)))
    assert perf.by_group_dict()["hair"]["dark"]["accuracy"] == pytest.approx(0.75)
    rates = perf.rates["hair"]["doctor"]
    assert rates["tpr"] == pytest.approx({"blond": 0.4, "dark": 0.9})
    assert rates["fpr"] == pytest.approx({"blond": 0.0, "dark": 0.4})
    assert rates["tpr_difference"] == pytest.approx(0.5)
    assert rates["tpr_ratio"] == pytest.approx(0.4 / 0.9)


def test_min_group_size_and_intersections(table):
    perf = group_performance(table, ["hair", "site"], level=0.95, min_group_size=11)
    # no (class, value) cell has 11 samples: all compete, and the flag says so
    assert not perf.worst_group_min_size_met
    assert perf.worst_group == "hair=blond & label=doctor"
    names = {g.name for g in perf.intersectional}
    assert names == set()  # hair x site cells have 10 samples, below 11
    perf = group_performance(table, ["hair", "site"], level=0.95, min_group_size=10)
    assert {g.name for g in perf.intersectional} == {
        "hair=blond & site=a", "hair=blond & site=b", "hair=dark & site=a", "hair=dark & site=b"}
    assert perf.worst_group_min_size_met
    # the groups block says which cells competed: the size, beside the flag
    extra = perf.to_dict()
    assert extra["min_group_size"] == 10 and extra["worst_group_min_size_met"] is True


def test_without_attributes_worst_class(table):
    perf = group_performance(table, [], min_group_size=5)
    assert perf.worst_group == "label=doctor"
    assert perf.worst_group_accuracy == pytest.approx(13 / 20)
    assert perf.equalized_odds_difference is None


def test_missing_attribute_values_are_a_group(table):
    table = table.copy()
    table.loc[:4, "hair"] = np.nan
    perf = group_performance(table, ["hair"], min_group_size=5)
    assert perf.by_group["hair"]["missing"].n == 5


def test_group_cells_and_worst_and_best_are_the_one_rule():
    df = pd.DataFrame({"label": ["a"] * 6 + ["b"] * 6,
                       "hair": ["x", "x", "x", "y", "y", None] * 2})
    correct = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0], dtype=bool)
    df["pred"] = np.where(correct, df["label"], np.where(df["label"] == "a", "b", "a"))
    cells = group_cells(df, ["hair"])
    assert [c.name for c in cells] == [
        "hair=missing & label=a", "hair=x & label=a", "hair=y & label=a",
        "hair=missing & label=b", "hair=x & label=b", "hair=y & label=b"]
    assert [(c.n, c.correct) for c in cells] == [(1, 0), (3, 2), (2, 1), (1, 0), (3, 3), (2, 2)]
    worst, best, met = worst_and_best(cells, 2)
    assert (worst.name, best.name, met) == ("hair=y & label=a", "hair=x & label=b", True)
    worst, _, met = worst_and_best(cells, 5)  # nobody is that large: everyone competes
    assert (worst.name, met) == ("hair=missing & label=a", False)
    assert [c.name for c in group_cells(df, [])] == ["label=a", "label=b"]



def test_class_cells_are_all_samples_then_each_class_sorted():
    cells = class_cells(np.array(["nurse", "doctor", "nurse", "doctor", "doctor"]))
    assert list(cells) == ["all samples", "class doctor", "class nurse"]
    assert cells["all samples"].tolist() == [True] * 5
    assert cells["class doctor"].tolist() == [False, True, False, True, True]
    assert cells["class nurse"].tolist() == [True, False, True, False, False]
    assert list(class_cells(np.array([1, 0]))) == ["all samples", "class 0", "class 1"]

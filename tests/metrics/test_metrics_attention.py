"""Attention blocks: means, lifts and intervals on a table whose numbers are known."""

import json

import pandas as pd
import pytest

from auditor.metrics.attention import attention_summary, cell_attention

REGIONS = ["face", "object", "background"]


@pytest.fixture
def small():
    # four samples; face mass 0.5, 0.3 (doctors) and 0.1, 0.1 (nurses); face area 0.1 each
    return pd.DataFrame({
        "id": list("abcd"), "label": ["doctor", "doctor", "nurse", "nurse"],
        "pred": ["doctor", "nurse", "nurse", "nurse"], "correct": [True, False, True, True],
        "hair": ["dark", "blond", "dark", "blond"],
        "mass_gradcam_face": [0.5, 0.3, 0.1, 0.1],
        "mass_gradcam_object": [0.3, 0.5, 0.7, 0.6],
        "mass_gradcam_background": [0.2, 0.2, 0.2, 0.3],
        "area_face": [0.1, 0.1, 0.1, 0.1],
        "area_object": [0.2, 0.3, 0.2, 0.3],
        "area_background": [0.7, 0.6, 0.7, 0.6],
        "point_gradcam_face": [True, False, False, False],
    })


def test_cell_means_and_lift(small):
    out = cell_attention(small, ["gradcam"], REGIONS, n_boot=300, seed=0)["gradcam"]
    face = out["face"]
    assert face["mass"] == pytest.approx(0.25)
    assert face["area"] == pytest.approx(0.1)
    assert face["lift"] == pytest.approx(2.5)
    assert face["n"] == 4
    assert face["ci"][0] <= 0.25 <= face["ci"][1]
    assert face["lift_ci"][0] <= 2.5 <= face["lift_ci"][1]
    assert face["pointing"] == pytest.approx(0.25)
    assert out["object"]["lift"] == pytest.approx(0.525 / 0.25)
    assert "pointing" not in out["object"]


def test_summary_blocks(small):
    s = attention_summary(small, ["gradcam"], REGIONS, attributes=["hair"], n_boot=200, seed=1)
    assert s["attention_by_class"]["gradcam"]["doctor"]["face"]["mass"] == pytest.approx(0.4)
    assert s["attention_by_class"]["gradcam"]["nurse"]["face"]["lift"] == pytest.approx(1.0)
    assert s["attention_by_group"]["gradcam"]["hair"]["blond"]["face"]["mass"] == \
        pytest.approx(0.2)
    cell = s["attention_by_class_group"]["gradcam"]["doctor"]["hair"]["dark"]["face"]
    assert cell["mass"] == pytest.approx(0.5) and cell["n"] == 1
    assert cell["ci"] == [None, None]  # one sample: no interval
    corr = s["attention_by_correctness"]["gradcam"]
    assert corr["incorrect"]["face"]["mass"] == pytest.approx(0.3)
    assert corr["correct"]["face"]["n"] == 3
    json.dumps(s, allow_nan=False)
    again = attention_summary(small, ["gradcam"], REGIONS, attributes=["hair"], n_boot=200,
                              seed=1)
    assert again == s


def test_missing_column_is_reported(small):
    with pytest.raises(ValueError, match="mass_gradcam\\+\\+_face"):
        cell_attention(small, ["gradcam++"], REGIONS)


def test_rank_accuracy_summarised_when_column_present():
    import pandas as pd

    from auditor.metrics.attention import attention_summary

    df = pd.DataFrame({
        "label": ["a", "a", "b", "b"], "correct": [True, False, True, True],
        "mass_gradcam_face": [0.5, 0.5, 0.5, 0.5], "mass_gradcam_background": [0.5] * 4,
        "area_face": [0.25] * 4, "area_background": [0.75] * 4,
        "rank_gradcam_face": [1.0, 0.5, float("nan"), 0.0],
        "rank_gradcam_background": [0.5] * 4,
    })
    out = attention_summary(df, ["gradcam"], ["face", "background"], n_boot=200)
    face = out["attention"]["gradcam"]["face"]
    assert face["rank_accuracy"] == 0.5 and face["rank_accuracy_n"] == 3
    lo, hi = face["rank_accuracy_ci"]
    assert lo <= 0.5 <= hi

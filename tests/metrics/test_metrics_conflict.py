"""The conflict gap (accuracy where the attribute goes against the class) and the spurious-cue
findings it confirms, on hand-made per-sample tables."""

import numpy as np
import pandas as pd
import pytest
from test_metrics_swap_placebo import CLASS_OF, SWAP, _findings, _table

from auditor.metrics.columns import swap_from_column
from auditor.metrics.conflict import conflict_gap
from auditor.metrics.stats import newcombe_diff_ci, wilson_ci
from auditor.metrics.verdict import model_verdict


def test_the_gap_is_aligned_minus_conflicting_accuracy():
    """98 of 100 aligned images right, 82 of 100 conflicting; 50 whose value goes with no
    class are left out whatever their answers."""
    rows = ([("cat", "cat", True)] * 98 + [("cat", "cat", False)] * 2
            + [("cat", "cup", True)] * 82 + [("cat", "cup", False)] * 18
            + [("cat", None, False)] * 50)
    df = pd.DataFrame(rows, columns=["label", swap_from_column("hair:face"), "correct"])
    g = conflict_gap(df, "hair:face", 0.95)
    assert g["aligned"] == {"k": 98, "n": 100, "rate": 0.98,
                            "ci": pytest.approx(list(wilson_ci(98, 100)))}
    assert (g["conflicting"]["k"], g["conflicting"]["n"]) == (82, 100)
    assert g["gap"] == pytest.approx(0.16)
    assert g["gap_ci"] == pytest.approx(list(newcombe_diff_ci(98, 100, 82, 100)))
    assert 0.07 < g["gap_ci"][0] < 0.16 < g["gap_ci"][1]


def test_no_column_or_an_empty_side_gives_no_gap():
    df = pd.DataFrame({"label": ["a", "b"], "correct": [True, False]})
    assert conflict_gap(df, "hair:face") is None
    df[swap_from_column("hair:face")] = ["a", "b"]  # every image aligned
    assert conflict_gap(df, "hair:face") is None


def _with_context(df):
    df[swap_from_column(SWAP)] = df["scene"].map(CLASS_OF)
    return df


def _scenes_095_seed2(cup_nature_wrong):
    """scenes-0.95 seed 2's baseline, in small: a swapped-in urban background sends 12 of 100
    urban cats back to cat... beyond the placebo (0) but under the 20% that alone is high;
    cups on nature are called cat ``cup_nature_wrong`` times (no swap involved)."""
    return _table([(("cat", "nature", 100), {}),
                   (("cat", "urban", 100), {"wrong": 12, "corrected": 12}),
                   (("cup", "nature", 100), {"wrong": cup_nature_wrong}),
                   (("cup", "urban", 100), {})])


def test_a_small_swap_effect_that_the_labels_confirm_is_high():
    """Aligned images 200 of 200 right, conflicting 158 of 200: 21 points fewer (Newcombe
    lower bound 15): the background decides part of the answers, and the swap says so."""
    (f,) = _findings(_with_context(_scenes_095_seed2(30)))
    assert f.severity == "high"
    assert f.evidence["severity_reasons"] == ["swap_beyond_placebo", "conflict_gap"]
    c = f.evidence["causal"]["conflict"]
    assert (c["aligned"]["k"], c["aligned"]["n"], c["conflicting"]["k"]) == (200, 200, 158)
    lo, hi = newcombe_diff_ci(200, 200, 158, 200)
    assert c["gap_ci"] == pytest.approx([lo, hi]) and lo > 0.10
    assert f.title.startswith(
        "A background from a sample with another scene sends 12% of predictions for class "
        "cat, scene=urban to cat (95% CI 7%–20%, n=100) against 0% with the same scene "
        "(0%–4%): under the 20% that alone makes a finding high; and images whose scene goes "
        "with another class in training are answered right 79% of the time (73%–84%, n=200) "
        f"against 100% when it goes with their own class (98%–100%, n=200): 21 points fewer, "
        f"95% CI {100 * lo:.0f}–{100 * hi:.0f}, so the scene decides part of its answers; ")
    v = model_verdict({"findings": [f.to_dict()], "n": 400, "metrics": {}})
    assert "shortcut through the background" in v["text"]


@pytest.mark.parametrize("cup_nature_wrong", [0, 8])
def test_a_gap_under_the_bar_or_no_context_leaves_it_medium(cup_nature_wrong):
    """Conflicting 188 or 180 of 200 against 200 of 200: lower bounds 3 and 6 points, under
    the 10 of gap_threshold; medium as before, with the title's "real, but under"."""
    (f,) = _findings(_with_context(_scenes_095_seed2(cup_nature_wrong)))
    assert f.severity == "medium" and f.evidence["severity_reasons"] == ["swap_beyond_placebo"]
    assert f.evidence["causal"]["conflict"]["gap_ci"][0] < 0.10
    assert "real, but under the 20% a high finding needs" in f.title
    assert "answered right" not in f.title
    # a value that goes with no class in training (null data): no gap at all
    df = _scenes_095_seed2(30)
    df[swap_from_column(SWAP)] = None
    (g,) = _findings(df)
    assert g.severity == "medium" and g.evidence["causal"]["conflict"] is None


def test_a_confirmed_swap_leads_the_title_before_masking_that_disrupts():
    """scenes-0.95 seed 2: hiding the background flips 34% of nature cups while a pasted
    background sends few; the confirmed swap is why the finding is high, so it comes first
    and the masking clause does not deny it."""
    df = _with_context(_scenes_095_seed2(30))
    cup = (df["label"] == "cup").to_numpy()
    df["flip_background"] = cup & (np.arange(len(df)) % 100 < 60)
    (f,) = _findings(df)
    assert f.severity == "high" and "conflict_gap" in f.evidence["severity_reasons"]
    assert f.title.startswith("A background from a sample with another scene sends 12%")
    assert "; hiding the background changes 60% of predictions for class cup" in f.title
    assert "not to what the background shows" not in f.title
    assert f.evidence["features"] == {"label": "cat", "scene": "urban"}


def test_masking_that_disrupts_beside_a_following_swap_does_not_deny_the_swap():
    """A swapped-in urban background sends 40 of 100 nature cats to cup (3 for the placebo),
    and hiding the background flips 99% of cups while a pasted background sends few: the
    masking clause may not say the model ignores what the background shows."""
    df = _table([(("cat", "nature", 100), {"moved": 40, "placebo_moved": 3}),
                 (("cat", "urban", 100), {}), (("cup", "nature", 100), {}),
                 (("cup", "urban", 100), {})])
    cup = (df["label"] == "cup").to_numpy()
    df["flip_background"] = cup & (np.arange(len(df)) % 100 != 0)
    (f,) = _findings(df)
    assert f.severity == "high" and "swap_follows" in f.evidence["severity_reasons"]
    assert "not to what the background shows" not in f.title
    assert "(partly the masking itself: pasting in the background of another sample" \
        in f.title

"""The same-value placebo of a context swap, on hand-made per-sample tables.

A context swap pastes a region from a sample with another attribute value; its placebo pastes
the same region from a sample with the image's own value. Both disrupt the image alike, so
only what the swap does beyond its placebo, on the same rows, is the context's doing."""

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.reliance import swap_placebo_column, swap_rates
from auditor.metrics.spurious import spurious_cue_findings

SWAP = "scene:background"
CLASS_OF = {"nature": "cat", "urban": "cup"}  # the class each scene goes with in training
OTHER = {"nature": "urban", "urban": "nature"}


def _rows(label, scene, n, *, wrong=0, corrected=0, placebo_corrected=0, moved=0,
          placebo_moved=0):
    """``n`` samples of one class x scene cell: the first ``wrong`` predicted as the class
    their scene goes with; of those, the swap (another scene) corrects ``corrected`` and the
    placebo (same scene) ``placebo_corrected``; of the right ones, the swap moves ``moved``
    and the placebo ``placebo_moved`` to the class the other scene goes with."""
    to = CLASS_OF[OTHER[scene]]
    rows = []
    for i in range(n):
        err = i < wrong
        pred = CLASS_OF[scene] if err else label
        j = i if err else i - wrong
        if err:
            after = to if j < corrected else pred
            placebo = to if j < placebo_corrected else pred
        else:
            after = to if j < moved else pred
            placebo = to if j < placebo_moved else pred
        rows.append({"label": label, "pred": pred, "correct": pred == label, "scene": scene,
                     "area_object": 0.1, "area_background": 0.9,
                     "mass_gradcam_object": 0.5, "mass_gradcam_background": 0.5,
                     f"swap_pred_{SWAP}": after, f"swap_to_{SWAP}": to,
                     swap_placebo_column(SWAP): placebo})
    return rows


def _table(cells):
    return pd.DataFrame([r for args, kw in cells for r in _rows(*args, **kw)])


def _findings(df):
    return spurious_cue_findings(df, "gradcam", ["object", "background"], ["scene"],
                                 expected_regions=["object"], n_boot=200)


def test_swap_rates_count_follows_against_the_placebo_on_the_same_rows():
    # cat on urban: 10 of 40 wrong (called cup); another scene corrects 8, the same scene 1;
    # the 30 right ones are already cat, the class nature goes with: they cannot move
    df = _table([(("cat", "urban", 40), {"wrong": 10, "corrected": 8, "placebo_corrected": 1})])
    r = swap_rates(df, SWAP)
    assert (r["n"], r["n_follow"], r["n_movable"], r["n_corrections"]) == (40, 40, 10, 10)
    assert r["follow_rate"] == pytest.approx(8 / 40) and r["placebo_rate"] == pytest.approx(1 / 40)
    assert r["placebo"] == "same_value" and r["n_placebo"] == 40 and r["to_classes"] == ["cat"]
    assert r["flip_rate"] == pytest.approx(8 / 40)
    assert r["placebo_flip_rate"] == pytest.approx(1 / 40)


def _worst_group(**kw):
    return _table([(("cat", "nature", 100), {}), (("cat", "urban", 100), kw),
                   (("cup", "nature", 100), {}), (("cup", "urban", 100), {})])


def test_errors_the_other_scene_corrects_and_the_same_scene_does_not_are_a_shortcut():
    """A worst group whose errors (35 of 100) a background of the other scene undoes (33)
    and one of its own scene does not (3): the background decides a third of its answers."""
    (f,) = _findings(_worst_group(wrong=35, corrected=33, placebo_corrected=3))
    assert (f.evidence["region"], f.severity) == ("background", "high")
    assert "swap_follows" in f.evidence["severity_reasons"]
    swap = f.evidence["causal"]["swap"]
    assert swap["features"] == {"label": "cat", "scene": "urban"}
    assert (swap["n_follow"], swap["n_movable"], swap["n_corrections"]) == (100, 35, 35)
    assert f.title.startswith(
        "Swapping in the background of a sample with another scene corrects 33% of predictions "
        "for class cat, scene=urban (95% CI 25%–43%, n=100): errors that move to cat, the "
        "class the swapped-in scene goes with in training, against 3% when the background "
        "comes from a sample with the same scene (1%–8%)")


def test_errors_any_paste_undoes_are_not_the_context():
    """The same 33 corrections, but a background of the same scene undoes 30 of them: the
    paste disrupts uncertain answers, the scene does not decide them."""
    assert _findings(_worst_group(wrong=35, corrected=33, placebo_corrected=30)) == []


def test_a_few_corrected_errors_are_too_small_a_share_of_the_group():
    """Every error corrected, none by the placebo, but 4 of 100 answers: under half the 20%
    a context must decide to count at all, however sure the correction is."""
    assert _findings(_worst_group(wrong=4, corrected=4)) == []


def test_a_real_but_small_context_effect_is_medium():
    """12 of 100 errors corrected by the other scene, none by the same scene: beyond the
    placebo and at least half the threshold, but under it: medium, and the title says so."""
    (f,) = _findings(_worst_group(wrong=12, corrected=12))
    assert f.severity == "medium" and f.evidence["severity_reasons"] == ["swap_beyond_placebo"]
    assert f.title == (
        "A background from a sample with another scene sends 12% of predictions for class cat, "
        "scene=urban to cat (95% CI 7%–20%, n=100) against 0% with the same scene (0%–4%): "
        "real, but under the 20% a high finding needs; its Grad-CAM attention does not single "
        "out the background: 50% of it falls there (90% of the image, lift 0.6, 95% CI "
        "0.6–0.6) for class cat, scene=urban (n=100).")  # the attention of the swap's own cell,
    # context: a lift at or under 1 is said not to single the region out, never as evidence


def test_right_answers_that_follow_the_other_scene_beyond_the_placebo_are_high():
    # the Waterbirds direction: 40 of 100 cats on nature called cup on an urban background,
    # 3 of 100 on another nature background
    df = _table([(("cat", "nature", 100), {"moved": 40, "placebo_moved": 3}),
                 (("cat", "urban", 100), {}), (("cup", "nature", 100), {}),
                 (("cup", "urban", 100), {})])
    (f,) = _findings(df)
    assert f.severity == "high" and "swap_follows" in f.evidence["severity_reasons"]
    assert " sends 40% of predictions for class cat, scene=nature to cup" in f.title
    assert "against 3% when the background comes from a sample with the same scene" in f.title


def test_a_swap_that_flips_no_more_than_its_placebo_is_no_evidence():
    """A paste that changes 30% of answers whatever the scene (the placebo changes the same
    30%): no finding. The same changes with a placebo that changes nothing: in a two-class
    task every change lands on the other scene's class, so the scene decides them: high."""
    df = _table([((c, s, 100), {"moved": 30, "placebo_moved": 30})
                 for c in ("cat", "cup") for s in ("nature", "urban")])
    # only the cells whose answer differs from the other scene's class can move; make the
    # flips symmetric by hand so that every cell changes 30% under both pastes
    flip = np.arange(len(df)) % 10 < 3
    other = df["pred"].map({"cat": "cup", "cup": "cat"})
    df[f"swap_pred_{SWAP}"] = np.where(flip, other, df["pred"])
    df[swap_placebo_column(SWAP)] = np.where(flip, other, df["pred"])
    assert _findings(df) == []
    df[swap_placebo_column(SWAP)] = df["pred"]
    (f,) = _findings(df)
    assert f.severity == "high" and "swap_follows" in f.evidence["severity_reasons"]


@pytest.mark.parametrize(("placebo_flips", "found"), [(4, "medium"), (40, None)])
def test_without_a_context_class_only_flips_beyond_the_placebo_count(placebo_flips, found):
    """An attribute that goes with no class (to is empty): the swap can only change answers;
    40 of 100 changed is medium evidence when the placebo changes 4, none when it changes 40."""
    df = _table([((c, s, 100), {}) for c in ("cat", "cup") for s in ("nature", "urban")])
    df[f"swap_to_{SWAP}"] = None
    flip = np.arange(len(df)) % 100 < 40
    other = df["pred"].map({"cat": "cup", "cup": "cat"})
    df[f"swap_pred_{SWAP}"] = np.where(flip, other, df["pred"])
    df[swap_placebo_column(SWAP)] = np.where(np.arange(len(df)) % 100 < placebo_flips, other,
                                             df["pred"])
    got = _findings(df)
    assert [f.severity for f in got] == ([found] if found else [])
    if found:
        assert got[0].evidence["severity_reasons"] == ["swap_flips"]
        assert "against 4% when the background comes from a sample with the same scene" \
            in got[0].title


def test_the_swap_plan_runs_a_same_value_placebo_after_each_context_swap():
    import torch

    from auditor.pipeline.reliance_pass import build_swap_plan, swap_test

    table = pd.DataFrame({"label": [0, 1] * 5, "scene": ["nature"] * 5 + ["urban"] * 5})
    plan = build_swap_plan(table, ["object", "background"], ["scene"], expected=["object"],
                           swapped=["background"], seed=0)
    assert [(s.name, s.placebo) for s in plan.swaps if not s.lead] == [
        ("object", False), ("scene:background", False), ("scene:background", True)]
    images = torch.zeros(10, 1, 4, 4)
    masks = torch.zeros(10, 2, 4, 4, dtype=torch.bool)
    masks[:, 0, :2], masks[:, 1, 2:] = True, True
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    _, donor = swap_test(model, images, masks, np.arange(10), plan, batch_number=0)
    scene = table["scene"].to_numpy()
    assert (scene[donor[:, 1]] != scene).all() and (scene[donor[:, 2]] == scene).all()
    assert (donor[:, 2] != np.arange(10)).all()


def test_a_small_but_real_swap_effect_is_said_beside_the_masking_evidence():
    """Masking the background flips 40% of cups on nature (medium), and a swapped-in urban
    background sends 14 of 100 nature cats to cup against 0 with another nature background:
    real, under the 20% a high finding needs, so it is said and stays medium."""
    df = _table([(("cat", "nature", 100), {"moved": 14}), (("cat", "urban", 100), {}),
                 (("cup", "nature", 100), {}), (("cup", "urban", 100), {})])
    cup_nature = ((df["label"] == "cup") & (df["scene"] == "nature")).to_numpy()
    df["flip_background"] = cup_nature & (np.arange(len(df)) % 5 < 2)
    # a natural background changes 25 of those 100 too: masking is not only disruption
    some = cup_nature & (np.arange(len(df)) % 4 == 0)
    df.loc[some, [f"swap_pred_{SWAP}", swap_placebo_column(SWAP)]] = "cat"
    (f,) = _findings(df)
    assert f.severity == "medium"
    assert f.evidence["severity_reasons"] == ["reliance", "swap_beyond_placebo"]
    assert f.title.startswith("Hiding the background changes 40% of predictions for class "
                              "cup, scene=nature")
    assert ("a background from a sample with another scene sends 14% of predictions for class "
            "cat, scene=nature to cup (95% CI 9%–22%, n=100) against 0% with the same scene "
            "(0%–4%): real, but under the 20% a high finding needs") in f.title


def test_masking_that_only_disrupts_is_said_but_is_no_evidence():
    """Null shapes (session 6): blurring 90% of the image sent 99% of one class's
    predictions elsewhere, while a natural background from another sample, of either
    attribute value, changed about one in ten. That was a medium spurious cue on 12 of 14
    null audits; the fill is what the model reacts to, so it is low and says so."""
    df = _table([(("cat", "nature", 100), {}), (("cat", "urban", 100), {}),
                 (("cup", "nature", 100), {}), (("cup", "urban", 100), {})])
    cup = (df["label"] == "cup").to_numpy()
    df["flip_background"] = cup & (np.arange(len(df)) % 100 != 0)  # 99 of each cup cell
    natural = cup & (np.arange(len(df)) % 10 == 0)  # 10 of each cup cell, both pastes
    df.loc[natural, [f"swap_pred_{SWAP}", swap_placebo_column(SWAP)]] = "cat"
    (f,) = _findings(df)
    assert (f.severity, f.evidence["severity_reasons"]) == ("low", ["masking_disruption"])
    nat = f.evidence["causal"]["masking"]["natural_paste"]
    assert nat["rate"] == pytest.approx(0.1) and nat["n"] == 200
    assert f.title.startswith("Hiding the background changes 99% of predictions for class cup")
    assert ("but pasting in the background of another sample changes at most 10%"
            in f.title and "reacts to the masking itself" in f.title)
    # the same flips where a natural background of the same scene changes 60% of them: what
    # the background shows matters, so masking is evidence again (medium)
    df.loc[cup & (np.arange(len(df)) % 5 < 3), swap_placebo_column(SWAP)] = "cat"
    (g,) = _findings(df)
    assert (g.severity, g.evidence["severity_reasons"]) == ("medium", ["reliance"])
    assert ("Hiding the background changes 99% of predictions for class cup (95% CI 96%–99.7%, "
            "n=200), and pasting in the background of another sample changes 60% (53%–67%)"
            in g.title)
    # Session 7, null shapes s1 seed 1: masking 60% (47%-72%, n=58), another sample's
    # background 17% (10%-29%): significantly fewer and under half: disruption
    df = _table([(("cat", "nature", 58), {}), (("cup", "nature", 58), {})])
    cup = (df["label"] == "cup").to_numpy()
    df["flip_background"] = cup & (np.arange(len(df)) % 58 < 35)
    df.loc[cup & (np.arange(len(df)) % 58 >= 48), f"swap_pred_{SWAP}"] = "cat"
    (h,) = _findings(df)
    assert h.severity == "low" and h.evidence["causal"]["masking"]["natural_paste"]["rate"] \
        == pytest.approx(10 / 58)

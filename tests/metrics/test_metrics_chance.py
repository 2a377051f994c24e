"""``chance_level`` on hand-made per-sample tables: a model no better than guessing is said
first (a collapsed mobilenet predicting "cup" for all 400 images was reported as "it ignores
the object")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.chance import chance_findings
from auditor.metrics.headline import headline_intervals
from auditor.metrics.verdict import model_verdict


def balanced_accuracy_ci(labels, correct, seed=0):
    """The point and the interval summary.json reports (what the finding is given)."""
    df = pd.DataFrame({"label": labels, "correct": correct})
    recall = df.groupby("label")["correct"].mean()
    lo, hi = headline_intervals(df, [], seed=seed)["balanced_accuracy"]
    return float(recall.mean()), lo, hi


def _chance(df: pd.DataFrame):
    bal, lo, hi = balanced_accuracy_ci(df["label"].to_numpy(), df["correct"].to_numpy())
    return chance_findings(df, balanced=bal, interval=[lo, hi])


def _table(per_class: dict[str, tuple[int, int]], wrong_as: dict[str, str]) -> pd.DataFrame:
    """``{class: (n, correct)}``; wrong answers predicted as ``wrong_as[class]``."""
    rows = []
    for cls, (n, k) in per_class.items():
        rows += [(cls, cls, True)] * k + [(cls, wrong_as[cls], False)] * (n - k)
    return pd.DataFrame(rows, columns=["label", "pred", "correct"])


def test_balanced_accuracy_is_the_mean_recall():
    df = _table({"a": (4, 3), "b": (2, 1)}, {"a": "b", "b": "a"})
    bal, lo, hi = balanced_accuracy_ci(df["label"].to_numpy(), df["correct"].to_numpy())
    assert bal == pytest.approx((3 / 4 + 1 / 2) / 2) and lo <= bal <= hi


def test_a_model_predicting_one_class_for_everything_is_at_chance():
    df = _table({"cat": (200, 0), "cup": (200, 200)}, {"cat": "cup", "cup": "cup"})
    (f,) = _chance(df)
    assert f.kind == "chance_level" and f.severity == "high"
    # the bootstrap cannot move a class at 0% or 100% recall: the interval is MOVER's, from
    # Wilson's (0, 0.0188) for 0/200 and (0.9812, 1) for 200/200: 0.5 -/+ 0.0188 / 2
    assert f.evidence["balanced_accuracy"] == 0.5
    assert f.evidence["ci"] == pytest.approx([0.4906, 0.5094], abs=1e-4)
    assert "balanced accuracy 50% (95% CI 49%–51%, n=400) against 50% for guessing among 2 " \
        "classes; it predicts cup for 100% of the images (400 of 400)" in f.title
    assert "a cue it learned in training is broken" in f.title
    assert "a run that collapsed onto one class" in f.title


def test_a_model_below_chance_asks_for_the_class_order():
    df = _table({"doctor": (150, 33), "nurse": (150, 33)}, {"doctor": "nurse", "nurse": "doctor"})
    (f,) = _chance(df)
    assert f.severity == "high" and "models[i].classes" in f.title
    assert "predicts the other classes more often than the right one" in f.title


def test_a_few_images_that_cannot_tell_it_from_guessing_are_medium():
    df = _table({"a": (10, 7), "b": (10, 7)}, {"a": "b", "b": "a"})
    (f,) = _chance(df)
    assert f.severity == "medium" and f.evidence["ci"][0] <= 0.5 < f.evidence["ci"][1]
    assert "cannot be told from guessing" in f.title


def test_a_model_that_classifies_gets_no_finding():
    assert _chance(_table({"a": (100, 90), "b": (100, 85)}, {"a": "b", "b": "a"})) == []
    assert _chance(_table({"a": (50, 50)}, {"a": "a"})) == []  # one class: no chance


def test_three_classes_compare_with_one_third():
    df = _table({"a": (100, 36), "b": (100, 30), "c": (100, 33)}, {"a": "b", "b": "c", "c": "a"})
    (f,) = _chance(df)
    assert f.evidence["chance"] == pytest.approx(1 / 3) and f.severity == "high"


def test_the_verdict_says_it_first():
    df = _table({"cat": (200, 0), "cup": (200, 200)}, {"cat": "cup", "cup": "cup"})
    findings = [f.to_dict() for f in _chance(df)]
    findings.append({"kind": "ignored_region", "severity": "high", "title": "t",
                     "evidence": {"region": "object"}})
    v = model_verdict({"findings": findings, "n": 400, "metrics": {}})
    assert v["status"] == "not_ready"
    assert v["text"].startswith("Not ready to ship: it does no better than chance (balanced "
                                "accuracy 50% (49%–51%, n=400) against 50%)")
    assert "high-severity flag" not in v["text"]


def test_the_interval_is_seeded():
    df = _table({"a": (30, 20), "b": (30, 18)}, {"a": "b", "b": "a"})
    args = (df["label"].to_numpy(), df["correct"].to_numpy())
    assert balanced_accuracy_ci(*args, seed=3) == balanced_accuracy_ci(*args, seed=3)
    assert np.isfinite(balanced_accuracy_ci(*args)).all()

"""``chance_level``: a model that does no better than guessing.

A model that predicts one class for every image (a training run that collapsed), a random or
wrongly loaded checkpoint, or one whose outputs are read in another class order than its own
still gets attention maps, swaps and group gaps, and its findings then read as if it had
learned something ("it ignores the object"). This finding says first that it has not.

Balanced accuracy (the mean of the per-class recalls) is compared with chance, ``1 / C`` for
``C`` classes, which is what any constant or random guess scores whatever the class balance.
Its interval is a stratified percentile bootstrap: each class's correct count is redrawn
binomially from its own recall (resampling the class's rows), ``n_boot`` times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.metrics.base import Finding, pct

__all__ = ["balanced_accuracy_ci", "chance_findings"]


def balanced_accuracy_ci(labels: np.ndarray, correct: np.ndarray, *, n_boot: int = 1000,
                         level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Balanced accuracy and its stratified bootstrap interval.

    Args:
        labels: ``[N]`` class of each sample.
        correct: ``[N]`` bool, the prediction was right.
        n_boot, level, seed: the bootstrap.

    Returns:
        ``(balanced accuracy, lo, hi)``.
    """
    classes = sorted(set(labels.tolist()))
    n = np.array([(labels == c).sum() for c in classes])
    k = np.array([correct[labels == c].sum() for c in classes])
    recall = k / n
    rng = np.random.default_rng([seed, 23])
    draws = rng.binomial(n[None, :], recall[None, :], size=(n_boot, len(classes))) / n
    means = draws.mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail])
    return float(recall.mean()), float(lo), float(hi)


def chance_findings(df: pd.DataFrame, *, gap_threshold: float = 0.10, level: float = 0.95,
                    n_boot: int = 1000, seed: int = 0) -> list[Finding]:
    """A ``chance_level`` finding when the model's balanced accuracy cannot be told from chance.

    High when the interval's upper end stays under chance plus ``gap_threshold`` (the model is
    at chance, or below it); medium when its lower end reaches chance (too few images, or too
    weak a model, to tell it from guessing).

    Args:
        df: per-sample table of ONE model with ``label``, ``pred`` (class names) and
            ``correct`` [N].
        gap_threshold: the smallest accuracy difference worth a finding.
        level, n_boot, seed: the interval.
    """
    labels = df["label"].astype(str).to_numpy()
    classes = sorted(set(labels.tolist()))
    if len(df) < 2 or len(classes) < 2:
        return []
    correct = df["correct"].astype(bool).to_numpy()
    bal, lo, hi = balanced_accuracy_ci(labels, correct, n_boot=n_boot, level=level, seed=seed)
    chance = 1 / len(classes)
    if hi < chance + gap_threshold:
        severity = "high"
    elif lo <= chance:
        severity = "medium"
    else:
        return []
    preds = df["pred"].astype(str).value_counts()
    top, n_top = str(preds.index[0]), int(preds.iloc[0])
    head = (f"The model does no better than chance: balanced accuracy {pct(bal)} "
            f"({level:.0%} CI {pct(lo)}–{pct(hi)}, n={len(df)}) against {pct(chance)} for "
            f"guessing among {len(classes)} classes")
    if n_top / len(df) >= 0.9:
        head += (f"; it predicts {top} for {pct(n_top / len(df))} of the images ({n_top} of "
                 f"{len(df)})")
    if severity == "high":
        why = ("it predicts the other classes more often than the right one: are its outputs "
               "read in its own class order (models[i].classes)?" if hi < chance else
               "either a cue it learned in training is broken in these images (a shortcut: "
               "its other findings name it), or it does not classify at all: then check its "
               "training (a run that collapsed onto one class), checkpoint, class order "
               "(models[i].classes) and input normalisation (data.normalize)")
        title = f"{head}. {why[0].upper()}{why[1:]}."
    else:
        title = (f"{head}: its interval reaches chance, so on these {len(df)} images it cannot "
                 "be told from guessing.")
    evidence = {"balanced_accuracy": bal, "ci": [lo, hi], "ci_level": level, "n": len(df),
                "chance": chance, "n_classes": len(classes), "top_prediction": top,
                "top_prediction_share": n_top / len(df), "gap_threshold": gap_threshold}
    return [Finding("chance_level", severity, title, evidence)]

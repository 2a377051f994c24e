"""``chance_level``: a model that does no better than guessing.

A model that predicts one class for every image (a training run that collapsed), a random or
wrongly loaded checkpoint, or one whose outputs are read in another class order than its own
still gets attention maps, swaps and group gaps, and its findings then read as if it had
learned something ("it ignores the object"). This finding says first that it has not.

Balanced accuracy (the mean of the per-class recalls) is compared with chance, ``1 / C`` for
``C`` classes, which is what any constant or random guess scores whatever the class balance.
Its interval is the one summary.json reports (``metrics_ci.balanced_accuracy``,
:func:`auditor.metrics.headline.headline_intervals`): one interval per number.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from auditor.metrics.base import Finding, pct

__all__ = ["chance_findings"]


def chance_findings(df: pd.DataFrame, *, balanced: float,
                    interval: Sequence[float | None], gap_threshold: float = 0.10,
                    level: float = 0.95) -> list[Finding]:
    """A ``chance_level`` finding when the model's balanced accuracy cannot be told from chance.

    High when the interval's upper end stays under chance plus ``gap_threshold`` (the model is
    at chance, or below it); medium when its lower end reaches chance (too few images, or too
    weak a model, to tell it from guessing).

    Args:
        df: per-sample table of ONE model with ``label`` and ``pred`` (class names) [N].
        balanced: its balanced accuracy.
        interval: ``[lo, hi]`` of ``balanced`` at ``level`` (``[None, None]``: no finding).
        gap_threshold: the smallest accuracy difference worth a finding.
        level: the interval's level.
    """
    labels = df["label"].astype(str).to_numpy()
    classes = sorted(set(labels.tolist()))
    lo, hi = interval
    if len(df) < 2 or len(classes) < 2 or lo is None or hi is None:
        return []
    bal = balanced
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

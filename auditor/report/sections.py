"""View-models of the per-model sections 3 (performance by group) and 4 (where the model looks).

Each builder takes one model's block of ``summary.json`` and its rows of ``samples.parquet`` and
returns plain dicts of strings and data URIs. Missing blocks yield a ``message`` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.metrics import columns, worst_group
from auditor.metrics.stats import wilson_ci
from auditor.report import figures
from auditor.report import fmt as f
from auditor.report.bars import stacked_segments
from auditor.report.gallery import GalleryProvider, ThumbnailBudget, pick_examples, thumbnails

#: At most this many values of one attribute get their own confusion matrix / gallery row.
MAX_GROUP_VALUES = 8
#: At most this many saliency methods get a stacked attention chart per model.
MAX_METHOD_CHARTS = 4


def wilson(k: int, n: int, level: float = 0.95) -> list[float] | None:
    """Wilson interval of ``k`` of ``n`` (:func:`auditor.metrics.stats.wilson_ci`) as a list;
    ``None`` when ``n == 0``."""
    return list(wilson_ci(k, n, level)) if n > 0 else None


def top_values(rows: pd.DataFrame, attr: str) -> list[str]:
    """Most frequent values of ``attr`` (at most :data:`MAX_GROUP_VALUES`), sorted by name."""
    if attr not in rows.columns:
        return []
    counts = rows[attr].astype(str).value_counts()
    return sorted(counts.index[:MAX_GROUP_VALUES].tolist())


def _group_rows_from_summary(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for value, g in block.items():
        g = g or {}
        out.append({"value": str(value), "n": g.get("n"), "accuracy": g.get("accuracy"),
                    "ci": g.get("ci"), "error_rate": g.get("error_rate")})
    return out


def _group_rows_from_samples(rows: pd.DataFrame, attr: str,
                             level: float) -> list[dict[str, Any]]:
    out = []
    for value in top_values(rows, attr):
        sel = rows[rows[attr].astype(str) == value]
        n, k = len(sel), int(sel["correct"].sum())
        acc = k / n if n else None
        out.append({"value": value, "n": n, "accuracy": acc, "ci": wilson(k, n, level),
                    "error_rate": None if acc is None else 1 - acc})
    return out


def _confusions(rows: pd.DataFrame, attr: str, classes: Sequence[str]) -> dict[str, np.ndarray]:
    index = {c: i for i, c in enumerate(classes)}
    mats: dict[str, np.ndarray] = {}
    for value in top_values(rows, attr):
        sel = rows[rows[attr].astype(str) == value]
        mat = np.zeros((len(classes), len(classes)), dtype=int)
        for t, p in zip(sel["label"].astype(str), sel["pred"].astype(str), strict=True):
            if t in index and p in index:
                mat[index[t], index[p]] += 1
        mats[f"{attr}={value} (n={len(sel)})"] = mat
    return mats


def performance(model: Mapping[str, Any], rows: pd.DataFrame, *, classes: Sequence[str],
                attributes: Sequence[str], color: str, level: float = 0.95) -> dict[str, Any]:
    """Section 3 for one model: headline metrics, per-group tables, CI bars, confusion matrices.

    Args:
        model: The model's block of ``summary.json``.
        rows: The model's rows of ``samples.parquet``.
        classes: Class names.
        attributes: Attribute (subgroup) column names.
        color: The model's colour.
        level: Confidence level of the intervals computed here.
    """
    metrics = model.get("metrics") or {}
    boot = model.get("metrics_ci") or {}
    by_group = model.get("by_group") or {}
    n = len(rows)
    k = int(rows["correct"].sum()) if "correct" in rows.columns else 0
    acc = metrics.get("accuracy", k / n if n else None)
    worst = str(metrics.get("worst_group", ""))
    worst_ci, worst_n = None, None
    if "=" in worst:
        attr, _, value = worst.partition("=")
        g = (by_group.get(attr) or {}).get(value) or {}
        detail = model.get("groups") or model.get("performance_detail") or {}
        for cell in [*(detail.get("cells") or []), *(detail.get("intersectional") or [])]:
            if not g and isinstance(cell, Mapping) and cell.get("group") == worst:
                g = cell
        worst_ci, worst_n = g.get("ci"), g.get("n")
    headline = [
        {"label": "Accuracy", "value": f.pct(acc),
         "ci": f.pct_ci(wilson(k, n, level)) if n else f.DASH, "n": f.count(n) if n else f.DASH},
        {"label": "Balanced accuracy", "value": f.pct(metrics.get("balanced_accuracy")),
         "ci": f.pct_ci(boot.get("balanced_accuracy")), "n": f.count(n) if n else f.DASH},
        {"label": f"Worst-group accuracy ({worst or 'group unknown'})",
         "value": f.pct(metrics.get("worst_group_accuracy")), "ci": f.pct_ci(worst_ci),
         "n": f.count(worst_n)},
        {"label": "Accuracy gap (best − worst group)", "value": f.pct(metrics.get("accuracy_gap")),
         "ci": f.pct_ci(boot.get("accuracy_gap")), "n": f.count(n) if n else f.DASH},
        {"label": "Equalized-odds difference",
         "value": f.num(metrics.get("equalized_odds_difference")),
         "ci": f.num_ci(boot.get("equalized_odds_difference")),
         "n": f.count(n) if n and metrics.get("equalized_odds_difference") is not None
         else f.DASH},
    ]
    groups = []
    for attr in attributes:
        if attr in by_group:
            grows, source = _group_rows_from_summary(by_group[attr]), "summary.json"
        elif attr in rows.columns and "correct" in rows.columns:
            grows, source = _group_rows_from_samples(rows, attr, level), "samples.parquet"
        else:
            continue
        if not grows:
            continue
        cis = [f.ci_pair(g["ci"]) or (np.nan, np.nan) for g in grows]
        chart = figures.bar_ci(
            [f"{attr}={g['value']}" for g in grows],
            [g["accuracy"] if f.is_num(g["accuracy"]) else 0.0 for g in grows],
            [c[0] for c in cis], [c[1] for c in cis], colors=[color] * len(grows),
            ylabel="accuracy", reference=acc if f.is_num(acc) else None,
            reference_label="overall")
        mats = _confusions(rows, attr, classes) if {"label", "pred"} <= set(rows.columns) else {}
        groups.append({
            "attribute": attr, "source": source,
            "rows": [{"value": g["value"], "n": f.count(g["n"]), "accuracy": f.pct(g["accuracy"]),
                      "ci": f.pct_ci(g["ci"]), "error_rate": f.pct(g["error_rate"])}
                     for g in grows],
            "chart": chart,
            "chart_alt": (f"Bar chart of accuracy by {attr} with {100 * level:g}% confidence "
                          "intervals: "
                          + "; ".join(f"{g['value']} {f.pct(g['accuracy'])} (n={f.count(g['n'])})"
                                      for g in grows)),
            "cells": _cell_table(model, attr, classes),
            "confusion": figures.confusion_grid(mats, classes) if mats and classes else None,
            "confusion_alt": f"Confusion matrices of true versus predicted class for each {attr} "
                             "value, with counts and row percentages.",
        })
    return {"headline": headline, "groups": groups,
            "message": None if groups else "No per-group results: the data has no attributes."}


def _cell_table(model: Mapping[str, Any], attr: str, classes: Sequence[str]
                ) -> dict[str, Any] | None:
    """Accuracy of each class within each value of ``attr`` (the cells worst-group accuracy
    is taken over), from ``model["groups"]["cells"]``: ``{"columns", "rows": [{"label",
    "cells": [{"text", "worst"}]}], "note"}``, None without cells. ``worst`` marks the worst
    group and the competing cells tied with it (a cell under ``min_group_size`` does not
    compete, whatever its accuracy); ``note`` ends the caption: which cells compete and how
    many are bold."""
    cells = {}
    for c in (model.get("groups") or {}).get("cells") or []:
        feats = c.get("features") if isinstance(c, Mapping) else None
        if isinstance(feats, Mapping) and set(feats) == {"label", attr}:
            cells[(str(feats["label"]), str(feats[attr]))] = c
    if not cells:
        return None
    metrics = model.get("metrics") or {}
    worst = metrics.get("worst_group_accuracy")
    competing = worst_group.competing(model)
    compete = {id(c) for c in competing}
    values = sorted({v for _, v in cells})
    labels = [str(c) for c in classes if any(k[0] == str(c) for k in cells)]
    labels += sorted({k[0] for k in cells} - set(labels))
    rows, bold = [], 0
    for label in labels:
        row = []
        for value in values:
            c = cells.get((label, value))
            if c is None:
                row.append({"text": f.DASH, "worst": False})
                continue
            is_worst = worst is not None and id(c) in compete and c.get("accuracy") == worst
            bold += is_worst
            row.append({"text": f"{f.pct(c.get('accuracy'))} ({f.pct_ci(c.get('ci'))}, "
                                f"n={f.count(c.get('n'))})", "worst": is_worst})
        rows.append({"label": label, "cells": row})
    size = (model.get("groups") or {}).get("min_group_size")
    known = isinstance(size, int) and not isinstance(size, bool)
    rule = (f"cells of at least {size} samples compete" if known
            else "cells of at least the configured minimum size compete")
    if known and not any(isinstance(c.get("n"), int) and c["n"] >= size for c in competing):
        rule = f"no cell has {size} samples, so every cell competes"
    marked = ("no cell here is the worst group" if bold == 0 else "the worst is in bold"
              if bold == 1 else f"the {bold} cells tied for worst are in bold")
    return {"columns": values, "rows": rows, "note": f"{rule}; {marked}"}


def _mean_mass(rows: pd.DataFrame, method: str, regions: Sequence[str]) -> dict[str, float]:
    cols = {r: columns.mass_column(method, r) for r in regions}
    return {r: float(rows[c].mean()) if len(rows) else 0.0 for r, c in cols.items()
            if c in rows.columns}


def where_it_looks(model_name: str, rows: pd.DataFrame, *, methods: Sequence[str],
                   regions: Sequence[str], classes: Sequence[str], attributes: Sequence[str],
                   region_colors: Mapping[str, str], provider: GalleryProvider | None,
                   examples_per_group: int, budget: ThumbnailBudget) -> dict[str, Any]:
    """Section 4 for one model: stacked region-mass bars (HTML) and right/wrong overlay
    galleries.

    Args:
        model_name: The model's name (key of its saliency maps).
        rows: The model's rows of ``samples.parquet``.
        methods: Saliency methods with mass columns; the first one is used for galleries.
        regions: Region names (stack order).
        classes: Class names.
        attributes: Attribute column names.
        region_colors: Region -> colour.
        provider: Images and maps, or None (no galleries).
        examples_per_group: Thumbnails per gallery cell.
        budget: This model's share of the report-wide thumbnail budget.
    """
    if rows.empty or not methods:
        return {"message": "No attention masses for this model (no saliency results).",
                "charts": [], "galleries": []}
    charts = []
    for method in methods[:MAX_METHOD_CHARTS]:
        labels, masses = [], []
        for cls in classes:
            sel = rows[rows["label"].astype(str) == cls]
            labels.append(f"class {cls} (n={len(sel)})")
            masses.append(_mean_mass(sel, method, regions))
        for attr in attributes:
            for value in top_values(rows, attr):
                sel = rows[rows[attr].astype(str) == value]
                labels.append(f"{attr}={value} (n={len(sel)})")
                masses.append(_mean_mass(sel, method, regions))
        if "correct" in rows.columns:
            for flag, word in ((True, "correct"), (False, "wrong")):
                sel = rows[rows["correct"] == flag]
                labels.append(f"{word} answers (n={len(sel)})")
                masses.append(_mean_mass(sel, method, regions))
        cols = [c for r in regions if (c := columns.mass_column(method, r)) in rows.columns]
        empty = int((rows[cols].fillna(0).sum(axis=1) < 0.5).sum()) if cols else 0
        charts.append({
            "method": method,
            "empty": (f"{empty} of {len(rows)} {method} maps were empty (zero everywhere), so "
                      "their rows of bars add up to less than 100%.") if empty else None,
            "title": f"{model_name} · {method}: mean attention share",
            "rows": [{"label": lab, "segments": stacked_segments(m, regions, region_colors)}
                     for lab, m in zip(labels, masses, strict=True)],
            "alt": f"Stacked bars of the mean share of {method} attention per region for each "
                   "class, subgroup and for right and wrong answers: "
                   + "; ".join(f"{lab}: " + ", ".join(f"{r} {f.pct(v, 0)}" for r, v in m.items())
                               for lab, m in zip(labels, masses, strict=True)),
        })
    galleries: list[dict[str, Any]] = []
    method = methods[0]
    if provider is not None and examples_per_group > 0 and "correct" in rows.columns:
        for attr in attributes:
            for cls in classes:
                for value in top_values(rows, attr):
                    sel = rows[(rows["label"].astype(str) == cls)
                               & (rows[attr].astype(str) == value)]
                    right, wrong = sel[sel["correct"]], sel[~sel["correct"].astype(bool)]
                    gallery = {"title": f"class {cls} · {attr}={value}",
                               "n": f.count(len(sel)), "n_right": f.count(len(right)),
                               "n_wrong": f.count(len(wrong))}
                    for key, part in (("right", right), ("wrong", wrong)):
                        gallery[key] = thumbnails(
                            provider, model_name, method,
                            pick_examples(part, examples_per_group, mistakes=key == "wrong"),
                            budget)
                        # an empty column says why: none in the cell, or none drawn
                        gallery[f"{key}_empty"] = (
                            f"No {key} answers in this cell." if part.empty else
                            f"{f.count(len(part))} {key} answers, none drawn: the report's "
                            "thumbnail budget was spent (see the note above).")
                    galleries.append(gallery)
    return {"message": None, "charts": charts, "galleries": galleries, "method": method,
            "gallery_note": _gallery_note(provider, examples_per_group, budget)}


def _gallery_note(provider: GalleryProvider | None, k: int, budget: ThumbnailBudget) -> str:
    if provider is None:
        return "No images or maps were available, so no heatmap galleries are shown."
    if k <= 0:
        return "Galleries are turned off (report.examples_per_group is 0)."
    note = (f"Up to {k} examples per cell: wrong answers are the most confident mistakes; "
            "right answers are spread over the confidence range.")
    if budget.refused:
        note += (f" {budget.refused} further thumbnails were left out to keep the report small; "
                 "every sample is listed in samples.parquet.")
    return note

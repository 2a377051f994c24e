"""View-models of the per-model sections 5 (spurious cues), 6 (clusters) and 7 (sanity check)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from auditor.common.thresholds import LIFT_THRESHOLD
from auditor.report import figures
from auditor.report import fmt as f
from auditor.report.gallery import GalleryProvider, ThumbnailBudget, pick_typical, thumbnails
from auditor.report.palette import cluster_color

#: Clusters that get a gallery of typical members.
MAX_CLUSTER_GALLERIES = 6


def region_role(region: str, expected: Sequence[str], spurious: Sequence[str]) -> str:
    """``'expected'``, ``'spurious'`` or a dash, from the config's analysis section."""
    if region in expected:
        return "expected"
    if region in spurious:
        return "spurious"
    return "—"


def _brackets(pair: tuple[float, float] | None, value: Any) -> bool:
    return bool(pair) and f.is_num(value) and pair[0] - 1e-9 <= value <= pair[1] + 1e-9


def _cis(block: Mapping[str, Any]) -> tuple[tuple[float, float] | None,
                                            tuple[float, float] | None]:
    """(mass CI, lift CI) of a region entry.

    Entries carry ``ci`` (of the mass) and ``lift_ci``; older or foreign summaries carry one
    ``ci``, assigned to whichever of lift and mass it brackets.
    """
    ci, lift_ci = f.ci_pair(block.get("ci")), f.ci_pair(block.get("lift_ci"))
    if "lift_ci" in block:
        return ci, lift_ci
    if _brackets(ci, block.get("lift")):
        return None, ci
    return (ci if _brackets(ci, block.get("mass")) else None), None


def _lift_cell(block: Mapping[str, Any]) -> str:
    """``'2.61 (1.98–3.40)'``: the lift with its interval when there is one."""
    lift_ci = _cis(block)[1]
    if lift_ci:
        return f"{f.num(block.get('lift'))} ({f.num_ci(lift_ci)})"
    return f.num(block.get("lift"))


def _region_table(block: Mapping[str, Any], regions: Sequence[str], expected: Sequence[str],
                  spurious: Sequence[str], n: int | None, lift_threshold: float
                  ) -> list[dict[str, str]]:
    out = []
    for region in regions:
        b = block.get(region)
        if not isinstance(b, Mapping):
            continue
        lift, mass = b.get("lift"), b.get("mass")
        mpair, lpair = _cis(b)
        mass_ci, lift_ci = f.pct_ci(mpair), f.num_ci(lpair)
        hot = bool(lpair) and region in spurious and lpair[0] > lift_threshold
        out.append({"region": region, "role": region_role(region, expected, spurious),
                    "mass": f.pct(mass), "mass_ci": mass_ci, "area": f.pct(b.get("area")),
                    "lift": f.num(lift), "lift_ci": lift_ci,
                    "n": f.count(b.get("n", n)), "hot": hot,
                    "pointing": _with_ci(b.get("pointing"), b.get("pointing_ci")),
                    "rank": _with_ci(b.get("rank_accuracy"), b.get("rank_accuracy_ci"))})
    return out


def _with_ci(value: Any, ci: Any) -> str:
    """``'64.0% (60.1–67.8%)'``; a dash when the value is missing."""
    if not f.is_num(value):
        return f.DASH
    interval = f.pct_ci(ci)
    return f"{f.pct(value)} ({interval})" if interval != f.DASH else f.pct(value)


def _swap_rows(model: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per swap x class x attribute value (and per swap overall)."""
    rows = []
    for name, entry in (model.get("swaps") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        if name == "object":
            what = "expected region from another class"
        elif entry.get("attribute"):
            what = f"{entry.get('region')} from another {entry['attribute']}"
        else:  # summaries written before swaps carried their attribute
            what = "{1} from another {0}".format(*name.split(":", 1))
        for group, r in _cells(entry):
            rows.append({"swap": what, "group": group,
                         "flip": _with_ci(r.get("flip_rate"), r.get("ci")),
                         "n": f.count(r.get("n")),
                         "follow": _with_ci(r.get("follow_rate"), r.get("follow_ci")),
                         "n_follow": f.count(r.get("n_follow")),
                         "placebo": (_with_ci(r.get("placebo_rate"), r.get("placebo_ci"))
                                     if r.get("placebo") == "same_value" else f.DASH)})
    for region, entry in (model.get("leads") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        for group, r in _cells(entry):
            rows.append({"swap": f"{region} from any other image (lead paste)", "group": group,
                         "flip": _with_ci(r.get("flip_rate"), r.get("ci")),
                         "n": f.count(r.get("n")),
                         "follow": _with_ci(r.get("follow_rate"), r.get("follow_ci")),
                         "n_follow": f.count(r.get("n_follow")),
                         "placebo": _with_ci(r.get("hole_rate"), r.get("hole_ci"))})
    return rows


def _cells(entry: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """A swap's or lead paste's rates: overall, then per class x attribute value."""
    cells = [("all", entry)]
    for attr, by_cls in (entry.get("by_cell") or {}).items():
        for cls, by_val in (by_cls or {}).items():
            cells += [(f"class {cls}, {attr}={v}", r) for v, r in (by_val or {}).items()]
    return [(group, r or {}) for group, r in cells]


def spurious_cues(model: Mapping[str, Any], *, n: int, regions: Sequence[str],
                  expected: Sequence[str], spurious: Sequence[str],
                  lift_threshold: float = LIFT_THRESHOLD) -> dict[str, Any]:
    """Section 5 for one model: lift tables with CIs, by group and correctness, reliance test
    (masking and counterfactual swaps).

    Args:
        model: The model's block of ``summary.json``.
        n: Number of audited samples of this model.
        regions: Region names.
        expected: Regions the decision should come from (from the config).
        spurious: Regions that should not decide the class.
        lift_threshold: ``analysis.lift_threshold``: a spurious row whose lift interval lies
            above it is marked, as the spurious-cue finding reads it.
    """
    lifts = []
    for method, block in (model.get("attention") or {}).items():
        rows = _region_table(block or {}, regions, expected, spurious, n, lift_threshold)
        lifts.append({"method": method, "rows": rows,
                      "mass_ci": any(r["mass_ci"] != f.DASH for r in rows),
                      "lift_ci": any(r["lift_ci"] != f.DASH for r in rows),
                      "localisation": any(r["pointing"] != f.DASH or r["rank"] != f.DASH
                                          for r in rows)})
    by_group = []
    for method, attrs in (model.get("attention_by_group") or {}).items():
        rows = []
        for attr, values in (attrs or {}).items():
            for value, block in (values or {}).items():
                block = block or {}
                ns = [b.get("n") for b in block.values() if isinstance(b, Mapping)]
                rows.append({"group": f"{attr}={value}",
                             "n": f.count(next((x for x in ns if f.is_num(x)), None)),
                             "cells": [_lift_cell(block.get(r) or {}) for r in regions]})
        by_group.append({"method": method, "rows": rows})
    by_correct = []
    for method, parts in (model.get("attention_by_correctness") or {}).items():
        rows = []
        for part, block in (parts or {}).items():
            block = block or {}
            ns = [b.get("n") for b in block.values() if isinstance(b, Mapping)]
            rows.append({"group": f"{part} answers",
                         "n": f.count(next((x for x in ns if f.is_num(x)), None)),
                         "cells": [_lift_cell(block.get(r) or {}) for r in regions]})
        by_correct.append({"method": method, "rows": rows})
    reliance = model.get("reliance")
    rel_rows, rel_groups = [], []
    if isinstance(reliance, Mapping):
        for region, r in reliance.items():
            r = r or {}
            rel_rows.append({"region": region, "flip_rate": f.pct(r.get("flip_rate")),
                             "ci": f.pct_ci(r.get("ci")), "n": f.count(r.get("n")),
                             "conf_drop": f.num(r.get("conf_drop"), 3)})
            for attr, values in (r.get("by_group") or {}).items():
                for value, g in (values or {}).items():
                    g = g or {}
                    rel_groups.append({"region": region, "group": f"{attr}={value}",
                                       "flip_rate": f.pct(g.get("flip_rate")),
                                       "ci": f.pct_ci(g.get("ci")), "n": f.count(g.get("n"))})
    return {
        "lifts": lifts, "by_group": by_group, "by_correct": by_correct,
        "lift_message": None if lifts else "No attention results for this model.",
        "reliance": rel_rows, "reliance_groups": rel_groups, "swaps": _swap_rows(model),
        "lift_threshold": f.num(lift_threshold),
        "reliance_message": None if rel_rows else (
            "Reliance test not run: no region-masking results for this model."),
        "findings": [x for x in (model.get("findings") or [])
                     if x.get("kind") in ("spurious_cue", "ignored_region")],
    }


def clusters(model_name: str, model: Mapping[str, Any], rows: pd.DataFrame, *,
             regions: Sequence[str], method: str | None, provider: GalleryProvider | None,
             examples_per_group: int, budget: ThumbnailBudget) -> dict[str, Any]:
    """Section 6 for one model: cluster table, typical members, t-SNE scatter, slices.

    Args:
        model_name: The model's name.
        model: The model's block of ``summary.json``.
        rows: The model's rows of ``samples.parquet``.
        regions: Region names.
        method: Saliency method used for thumbnails (None: no galleries).
        provider: Images and maps, or None.
        examples_per_group: Thumbnails per cluster.
        budget: This model's cluster share of the thumbnail budget.
    """
    raw = model.get("clusters")
    tsne = _projection(model)
    coords = None
    if tsne and all(k in tsne for k in ("x", "y", "id")):
        coords = {str(i): (float(x), float(y))
                  for i, x, y in zip(tsne["id"], tsne["x"], tsne["y"], strict=False)}
    table, galleries, colors = [], [], {"not clustered": cluster_color(-1, 0)}
    for order, c in enumerate(raw or []):
        cid = c.get("id")
        colors[f"cluster {cid}"] = cluster_color(int(cid) if f.is_num(cid) else 0, order)
        enriched = c.get("enriched") or {}
        table.append({
            "id": str(cid), "color": colors[f"cluster {cid}"], "size": f.count(c.get("size")),
            "error_rate": f.pct(c.get("error_rate")), "error_ci": f.pct_ci(c.get("error_rate_ci")),
            "n_nearby": f.count(c.get("n_nearby")), "confusion": _confusion(c),
            "enriched": ", ".join(f"{k}={v}" for k, v in enriched.items()) or f.DASH,
            "mass": [f.pct((c.get("mean_mass") or {}).get(r), 0) for r in regions]})
        if (provider is not None and method and order < MAX_CLUSTER_GALLERIES
                and examples_per_group > 0 and "id" in rows.columns):
            listed = [str(i) for i in c.get("members") or []]
            if listed:  # the clustering's own typical members, nearest the centre first
                rank = {sid: k for k, sid in enumerate(listed)}
                members = rows[rows["id"].astype(str).isin(rank)]
                picked = (members.assign(_rank=members["id"].astype(str).map(rank))
                          .sort_values("_rank").head(examples_per_group).drop(columns="_rank"))
            elif "cluster" in rows.columns:
                members = rows[rows["cluster"] == cid]
                picked = pick_typical(members, examples_per_group, coords)
            else:
                members = picked = rows.iloc[:0]
            thumbs = thumbnails(provider, model_name, method, picked, budget)
            galleries.append({"title": f"cluster {cid}: {c.get('confusion', '')}",
                              "n": f.count(c.get("size", len(members))), "thumbs": thumbs})
    scatter = None
    if coords:
        labels = [f"cluster {int(c)}" if f.is_num(c) and int(c) >= 0 else "not clustered"
                  for c in tsne.get("cluster", [-1] * len(tsne["x"]))]
        scatter = {"src": figures.tsne_scatter(tsne["x"], tsne["y"], labels, colors),
                   "alt": f"t-SNE scatter of {len(labels)} embeddings of {model_name}, "
                          f"coloured by cluster ({len(table)} clusters; grey = not clustered).",
                   "caption": ("Each point is one misclassified sample"
                               if "cluster_projection" in model and "tsne" not in model
                               else "Each point is one audited sample")
                   + _subset(len(labels), raw) + "; grey points belong to no cluster."}
    slices = [s for s in model.get("slices") or [] if isinstance(s, Mapping)]
    keys: list[str] = []
    for s in slices:
        keys += [k for k in s if k not in keys and k not in _SLICE_HIDDEN]
    if raw is None:
        message = "Misclassification clustering not run for this model."
    elif not raw:
        message = "No misclassification cluster cleared its threshold."
    else:
        message = None
    left = len(raw or []) - MAX_CLUSTER_GALLERIES
    gallery_note = (f"Typical members are shown for the {MAX_CLUSTER_GALLERIES} largest "
                    f"clusters; the other {left} are in the table and the scatter."
                    if galleries and left > 0 else None)
    return {"message": message, "table": table, "galleries": galleries, "scatter": scatter,
            "gallery_note": gallery_note, "method": method,
            "slice_keys": [_SLICE_HEADERS.get(k, f.humanize(k)) for k in keys],
            "slices": [[_slice_cell(k, s.get(k)) for k in keys] for s in slices]}


_SLICE_HIDDEN = ("features",)
_SLICE_HEADERS = {"ci": "error rate CI", "p": "p", "p_adj": "p (adjusted)", "n": "n",
                  "reference": "compared with", "excess": "excess (points)",
                  "excess_ci": "excess CI (points)"}


def _confusion(c: Mapping[str, Any]) -> str:
    """A cluster's commonest confusion, with its share of the cluster when others mix in."""
    text, share = str(c.get("confusion", "")), c.get("confusion_share")
    return text if not f.is_num(share) or share >= 0.995 else f"{text} ({f.pct(share, 0)})"


def _slice_reference(ref: Mapping[str, Any]) -> str:
    """``label=doctor, other hair: 5% (n=60)``: the rest of the slice's parent."""
    feats = ref.get("features") or {}
    where = ", ".join(f"{k}={v}" for k, v in feats.items())
    other = f"other {'class' if ref.get('other') == 'label' else ref.get('other')}"
    return (f"{where + ', ' if where else ''}{other}: {f.pct(ref.get('error_rate'))} "
            f"(n={f.count(ref.get('n'))})")


def _slice_cell(key: str, value: Any) -> str:
    if key == "reference" and isinstance(value, Mapping):
        return _slice_reference(value)
    if key == "excess":
        return f"{100 * value:+.0f}" if f.is_num(value) else f.DASH
    if key == "excess_ci":
        pair = f.ci_pair(value)
        return f"{100 * pair[0]:+.0f} to {100 * pair[1]:+.0f}" if pair else f.DASH
    if key.endswith("error_rate") or key in ("accuracy", "share"):
        return f.pct(value)
    if key == "ci":
        return f.pct_ci(value)
    if key in ("p", "p_adj", "p_value"):
        return f.pvalue(value)
    return f.auto(value)


def _subset(shown: int, clusters: Any) -> str:
    """" (a random 2,000 of 25,013)" when the scatter holds fewer errors than the clusters."""
    sizes = [c.get("size") for c in clusters or [] if isinstance(c, Mapping)]
    total = sum(int(s) for s in sizes if f.is_num(s))
    return f" (a random {f.count(shown)} of {f.count(total)})" if 0 < shown < total else ""


def _projection(model: Mapping[str, Any]) -> dict[str, list] | None:
    """The 2-D embedding as ``{x, y, cluster, id}`` lists, from ``tsne`` or ``cluster_projection``.

    ``tsne`` is a dict of lists; ``cluster_projection`` a list of ``{id, x, y, cluster}`` dicts.
    """
    tsne = model.get("tsne")
    if isinstance(tsne, Mapping) and all(k in tsne for k in ("x", "y", "id")):
        return dict(tsne)
    proj = model.get("cluster_projection")
    if isinstance(proj, list) and proj and all(isinstance(p, Mapping) for p in proj):
        return {"x": [p.get("x", 0.0) for p in proj], "y": [p.get("y", 0.0) for p in proj],
                "id": [str(p.get("id", "")) for p in proj],
                "cluster": [p.get("cluster", -1) for p in proj]}
    return None


def sanity(model: Mapping[str, Any]) -> dict[str, Any]:
    """Section 7 for one model: the model-parameter randomisation test (Adebayo et al., 2018)."""
    s = model.get("sanity")
    if not isinstance(s, Mapping):
        return {"message": "Saliency sanity check not run for this model.", "rows": []}
    passed = bool(s.get("passed"))
    empty = s.get("spearman") is None and not passed
    verdict = (
        "The maps change when the model's weights are randomised (at some step of the "
        "cascade below, their rank correlation with the trained model's maps falls under the "
        "threshold), so they reflect what the model learned." if passed else
        "Every map checked is empty (all zero), so there was nothing to compare: the maps "
        "show nothing of this model's reasoning (see the empty-map flag)." if empty else
        "The maps barely change when the model's weights are randomised (at every step of "
        "the cascade below, their rank correlation with the trained model's maps stays at or "
        "above the threshold), so they may show image structure rather than the model's "
        "reasoning. Treat sections 4–6 with caution.")
    rows = f.items({k: v for k, v in s.items() if k != "passed"})
    low = s.get("lowest")
    if isinstance(low, Mapping) and low.get("spearman") is not None:
        ci = low.get("ci") or [None, None]
        rows.append(("lowest spearman (what passed reads)",
                     f"{f.num(low['spearman'], 3)} after randomising down to {low.get('layer')} "
                     f"({f.num_ci(ci, 2)}, n={low.get('n')})"))
    layers = [x for x in s.get("per_layer") or [] if isinstance(x, Mapping)]
    keys = [k for k in (layers[0] if layers else {}) if k != "layer"]
    return {"message": None, "passed": passed,
            "label": "PASSED" if passed else "INCONCLUSIVE" if empty else "FAILED",
            "verdict": verdict, "rows": rows,
            "layer_headers": ["layer randomised (top down)", *(f.humanize(k) for k in keys)],
            "layers": [[str(x.get("layer", "")), *(f.num(x.get(k), 3) for k in keys)]
                       for x in layers]}

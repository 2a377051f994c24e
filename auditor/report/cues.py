"""View-model of the per-model section "Cues nobody annotated".

Average attention maps (with the mean image of each cell), off-region hotspots (where, how
much attention, what masking them does, example images) and discovered concepts (presence,
importance, association, patch gallery), from the model's ``average_maps``, ``hotspots`` and
``concepts`` blocks of summary.json. Missing blocks yield a sentence saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import DataError
from auditor.metrics.hotspots import analysis_cells, place
from auditor.metrics.severity import significant
from auditor.report import cue_figures
from auditor.report import fmt as f
from auditor.report.figures import array_to_uri
from auditor.report.gallery import GalleryProvider, ThumbnailBudget, thumbnails

#: Images averaged into one cell's mean image (evenly spaced over the cell; 24 aligned images
#: show a fixed token as clearly as 48, at half the reads).
MEAN_IMAGES = 24
#: Concept patches shown per concept.
PATCHES = 6


def _mean_image(provider: GalleryProvider, ids: Sequence[str]) -> np.ndarray | None:
    if not ids:
        return None
    pick = [ids[int(i)] for i in np.linspace(0, len(ids) - 1, min(len(ids), MEAN_IMAGES))]
    acc, n = None, 0
    for sid in pick:
        try:
            img = np.asarray(provider.image(sid), dtype=np.float64)
        except (KeyError, OSError, ValueError, DataError):  # moved, broken, outside
            continue
        if acc is not None and img.shape != acc.shape:
            continue
        acc = img if acc is None else acc + img
        n += 1
    return None if acc is None else np.clip(acc / n, 0, 255).astype(np.uint8)


def _maps_figure(block: Mapping[str, Any], rows: pd.DataFrame, attributes: Sequence[str],
                 hotspots: Sequence[Mapping[str, Any]], provider: GalleryProvider | None
                 ) -> dict[str, Any] | None:
    cells = block.get("cells") or []
    if provider is None or not cells or rows.empty:
        return None
    members = analysis_cells(rows, attributes)
    ids = rows["id"].astype(str).to_numpy()
    panels = []
    for cell in cells:
        mean = np.asarray(cell.get("map") or [], dtype=float)
        member = members.get(cell["cell"])
        if mean.ndim != 2 or member is None or not cell.get("n"):
            continue
        image = _mean_image(provider, list(ids[member]))
        if image is not None:
            panels.append((f"{cell['cell']} (n={cell['n']})", image, mean))
    if not panels:
        return None
    outlines = [(h["name"], np.asarray(h["mask"], dtype=bool)) for h in hotspots
                if np.asarray(h.get("mask") or []).ndim == 2]
    drawn, vmax = cue_figures.average_map_panels(panels, outlines)
    return {"panels": drawn, "vmax": f.num(vmax, 1),
            "outlined": ", ".join(n for n, _ in outlines)}


def _hotspot_rows(model_name: str, hotspots: Sequence[Mapping[str, Any]], method: str,
                  rows: pd.DataFrame, provider: GalleryProvider | None, budget: ThumbnailBudget,
                  k: int) -> list[dict[str, Any]]:
    out = []
    for h in hotspots:
        att = (h.get("attention") or {}).get(method) or {}
        rel = h.get("reliance") or {}
        paste = h.get("paste") or {}
        examples = []
        if provider is not None and k > 0 and not rows.empty:
            by_id = rows.set_index(rows["id"].astype(str), drop=False)
            chosen = [i for i in h.get("examples") or [] if i in by_id.index][:k]
            examples = thumbnails(provider, model_name, method, by_id.loc[chosen], budget)
        groups = []
        for attr, values in (h.get("attention_by_group") or {}).items():
            for value, entry in values.items():
                e = entry.get(method) or {}
                groups.append(f"{attr}={value}: {f.pct(e.get('mass'))} "
                              f"({f.pct_ci(e.get('ci'))}, n={f.count(e.get('n'))})")
        out.append({
            "name": h["name"], "where": place(h["box"]), "cell": h.get("cell", f.DASH),
            "area": f.pct(att.get("area")), "mass": f.pct(att.get("mass")),
            "mass_ci": f.pct_ci(att.get("ci")), "lift": f.num(att.get("lift")),
            "lift_ci": f.num_ci(att.get("lift_ci")), "n": f.count(att.get("n")),
            "flip": f.pct(rel.get("flip_rate")), "flip_ci": f.pct_ci(rel.get("ci")),
            "flip_n": f.count(rel.get("n")), "conf_drop": f.num(rel.get("conf_drop")),
            "paste": (f"{f.pct(paste.get('follow_rate'))} ({f.pct_ci(paste.get('follow_ci'))}, "
                      f"n={f.count(paste.get('n_follow'))}) in {paste.get('cell')}; placebo "
                      f"{f.pct(paste.get('placebo_flip_rate'))} (n="
                      f"{f.count(paste.get('n_placebo'))})") if paste else f.DASH,
            "groups": "; ".join(groups) or f.DASH, "examples": examples})
    return out


def _concept_rows(block: Mapping[str, Any], provider: GalleryProvider | None
                  ) -> list[dict[str, Any]]:
    grid = block.get("grid") or [0, 0]
    out = []
    for item in block.get("items") or []:
        imp = item.get("importance") or {}
        imp_txt = [f"{cls}: {f.pct(v.get('flip_rate'))} change ({f.pct_ci(v.get('ci'))}, "
                   f"n={f.count(v.get('n'))}); probability {_signed(v.get('prob_drop'))}"
                   for cls, v in imp.items()] or [f.DASH]
        # the one-sided tests look for over-representation: a concept rarer in a group (odds
        # ratio under 1) is no association with it, however it ranks
        tests = [t for t in item.get("tests") or [] if f.is_num(t.get("p_adj"))
                 and f.is_num(t.get("odds_ratio")) and t["odds_ratio"] > 1]
        assoc = f.DASH if not item.get("tests") else (
            "none: present no more often in any subgroup or among any class's errors than "
            "outside it")
        if tests:
            t = tests[0]
            what = (f"errors on class {t['class']}" if t["what"] == "errors"
                    else f"{t['attribute']}={t['value']}")
            assoc = (f"{what}: present in {f.pct(t.get('rate_in'))} (n={f.count(t.get('n_in'))})"
                     f" vs {f.pct(t.get('rate_out'))} (n={f.count(t.get('n_out'))}), "
                     f"odds ratio {f.num(t.get('odds_ratio'))}, corrected p "
                     f"{f.pvalue(t.get('p_adj'))}")
            if not significant(t.get("p_adj")):  # the strongest, but not evidence of anything
                assoc = f"none significant (strongest: {assoc})"
        patches = []
        if provider is not None and grid[0]:
            for t in (item.get("top") or [])[:PATCHES]:
                try:
                    img = provider.image(str(t["id"]))
                except (KeyError, OSError, ValueError, DataError):  # moved, broken, outside
                    continue
                patches.append({"src": array_to_uri(cue_figures.patch(img, t["row"], t["col"],
                                                                      grid)),
                                "id": str(t["id"]),
                                "alt": f"patch of {t['id']} where concept {item['concept']} "
                                       f"is strongest (grid cell {t['row']},{t['col']})"})
        out.append({"id": item["concept"], "present": f.pct(item.get("rate")),
                    "present_ci": f.pct_ci(item.get("ci")), "n": f.count(item.get("n")),
                    "importance": imp_txt, "association": assoc, "patches": patches})
    return out


def unannotated_cues(model_name: str, model: Mapping[str, Any], rows: pd.DataFrame, *,
                     attributes: Sequence[str], annotated: bool,
                     provider: GalleryProvider | None, budget: ThumbnailBudget,
                     examples: int) -> dict[str, Any]:
    """The section for one model.

    Args:
        model_name: the model (key of its maps).
        model: its block of summary.json.
        rows: its rows of samples.parquet.
        attributes: attribute columns.
        annotated: whether the data has annotated regions.
        provider: images and maps (None: no figures or galleries).
        budget: thumbnail budget for hotspot examples.
        examples: example images per hotspot.
    """
    maps = model.get("average_maps")
    hotspots = [h for h in model.get("hotspots") or [] if isinstance(h, Mapping)]
    concepts = model.get("concepts") if isinstance(model.get("concepts"), Mapping) else None
    if maps is None and concepts is None:
        return {"message": "This run has no unannotated-cue results (average maps, hotspots, "
                           "concepts)."}
    method = (maps or {}).get("method") or ""
    where = "outside every annotated region" if annotated else \
        "anywhere (the data has no annotated regions)"
    n_con = (concepts or {}).get("n", 0)
    off = annotated and not hotspots and not n_con  # analysis.cues auto (or off) on this data
    return {
        "message": None, "method": method,
        "maps": _maps_figure(maps or {}, rows, attributes, hotspots, provider),
        "maps_message": None if provider is not None else
        "No images were available, so the average maps are not drawn (they are in "
        "summary.json and cues/<model>.npz).",
        "hotspots": _hotspot_rows(model_name, hotspots, method, rows, provider, budget,
                                  examples),
        "hotspot_message": None if hotspots else
        ("Hotspots and concepts were not searched for: on data with annotated regions "
         "analysis.cues: auto computes the average maps only (set analysis.cues: on to search "
         "them; see the README, 'Cues nobody annotated')." if off else
         f"No hotspot: no area {where} drew consistent attention (lift at least the threshold "
         "in any class, subgroup or right/wrong cell)."),
        "hotspot_where": where,
        "concepts": _concept_rows(concepts or {}, provider),
        "concept_message": None if n_con else
        ("Not searched (see above)." if off else
         "Concept discovery is off (analysis.concepts.n is 0) or found no concept."),
        "concept_note": _concept_note(concepts or {}),
    }


def _concept_note(block: Mapping[str, Any]) -> str:
    if not block.get("n"):
        return ""
    grid = "x".join(str(g) for g in block.get("grid") or [])
    return (f"{block['n']} concepts fit on {block.get('fit_images')} images' target-layer "
            f"activations ({grid} positions each); presence measured on "
            f"{block.get('n_images', 'all')} images, importance on "
            f"{block.get('importance_images')} of them.")


def _signed(drop: Any) -> str:
    """A mean probability drop as the signed change it is (``-0.12``)."""
    return f"{-float(drop):+.2f}" if f.is_num(drop) else f.DASH

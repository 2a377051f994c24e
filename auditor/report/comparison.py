"""View-model of section 9: the models side by side (:func:`comparison_view`) and each paired
comparison (``summary.json`` ``comparisons[i]``, :func:`pair_view`).

Every value carries its interval and count, as section 3 shows it; every delta its interval,
its count and its test: McNemar on per-sample correctness, Wilcoxon signed-rank on per-sample
region mass, and the shift of each sample's top region (highest lift) from one model to the
other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.report import fmt as f
from auditor.report.bars import grouped_chart

__all__ = ["comparison_view", "pair_view"]

MAX_TRANSITIONS = 6


def pair_view(c: Mapping[str, Any]) -> dict[str, Any]:
    """Tables for one comparison entry (robust to missing blocks)."""
    base, cand = str(c.get("baseline", "")), str(c.get("candidate", ""))
    acc = c.get("accuracy") or {}
    wg = c.get("worst_group") or {}
    mc = c.get("mcnemar") or {}
    headline = [
        ["accuracy", f.pct(acc.get("baseline")), f.pct(acc.get("candidate")),
         f.pp(acc.get("delta")), f.pp_ci(acc.get("ci")), f.count(acc.get("n"))],
        ["worst-group accuracy",
         f"{f.pct((wg.get('baseline') or {}).get('accuracy'))} "
         f"({(wg.get('baseline') or {}).get('group', f.DASH)})",
         f"{f.pct((wg.get('candidate') or {}).get('accuracy'))} "
         f"({(wg.get('candidate') or {}).get('group', f.DASH)})",
         f.pp(wg.get("delta")), f.pp_ci(wg.get("ci")),
         f.count((wg.get("candidate") or {}).get("n"))],
    ]
    mcnemar = None
    if mc:
        mcnemar = (f"McNemar test on per-sample correctness: {f.count(mc.get('c'))} samples "
                   f"fixed by {cand}, {f.count(mc.get('b'))} broken, "
                   f"{f.p_clause(c.get('mcnemar_p'))} ({mc.get('method', 'exact')}).")
    elif c.get("mcnemar_p") is not None:
        mcnemar = ("McNemar test on per-sample correctness: "
                   f"{f.p_clause(c.get('mcnemar_p'))}.")
    groups = []
    for attr, values in (c.get("by_group") or {}).items():
        for value, g in (values or {}).items():
            groups.append([f"{attr}={value}", f.count(g.get("n")), f.pct(g.get("baseline")),
                           f.pct(g.get("candidate")), f.pp(g.get("delta")), f.pp_ci(g.get("ci"))])
    attention = []
    for method, regions in (c.get("attention") or {}).items():
        for region, a in (regions or {}).items():
            attention.append([method, region, f.pct(a.get("baseline")),
                              f.pct(a.get("candidate")), f.pp(a.get("delta")),
                              f.pp_ci(a.get("ci")), f.pvalue(a.get("wilcoxon_p")),
                              f.count(a.get("n"))])
    top = c.get("top_region") or {}
    transitions = []
    n_top = top.get("n") or 0
    for name, count in list((top.get("transitions") or {}).items())[:MAX_TRANSITIONS]:
        examples = (top.get("examples") or {}).get(name) or []
        transitions.append([name.replace("->", " → "), f.count(count),
                            f.pct(count / n_top) if n_top else f.DASH,
                            ", ".join(str(e) for e in examples[:3])])
    top_sentence = None
    if top:
        by = "highest lift" if top.get("by") == "lift" else "most mass"
        top_sentence = (f"The top region ({by}, {top.get('method', '')}) changed for "
                        f"{f.pct(top.get('changed_share'))} of {f.count(n_top)} samples.")
    return {
        "baseline": base, "candidate": cand, "headline": headline, "mcnemar": mcnemar,
        "groups": groups, "attention": attention, "transitions": transitions,
        "top_sentence": top_sentence, "level": f.pct(c.get("level", 0.95), 0),
    }


#: Section 3's headline rows (``performance(...)["headline"]``) shown side by side, with the
#: summary key of their value and the comparison entry holding their paired interval.
_METRICS = (("accuracy", "accuracy", "accuracy"),
            ("balanced accuracy", "balanced_accuracy", "balanced_accuracy"),
            ("worst group accuracy", "worst_group_accuracy", "worst_group"),
            ("accuracy gap", "accuracy_gap", None))


def _pair(summary: Mapping[str, Any], base: str, cand: str) -> Mapping[str, Any]:
    """The ``comparisons`` entry of ``cand`` against ``base`` ({} when there is none)."""
    return next((c for c in summary.get("comparisons") or [] if isinstance(c, Mapping)
                 and c.get("baseline") == base and c.get("candidate") == cand), {})


def _delta(first: Any, last: Any, ci: Any) -> str:
    """``'+37.2 pp (+33.2 to +41.5 pp)'``: last minus first, with the paired interval when
    there is one."""
    if not (f.is_num(first) and f.is_num(last)):
        return f.DASH
    text = f.pp(float(last) - float(first))
    return f"{text} ({f.pp_ci(ci)})" if f.ci_pair(ci) else text


def comparison_view(summary: Mapping[str, Any], models: Mapping[str, Any],
                    regions: Sequence[str], method: str | None, colors: Mapping[str, str],
                    perf: Mapping[str, dict]) -> dict[str, Any]:
    """Section 9: the headline metrics and attention mass of every model side by side (each
    with its interval and count), the difference last − first with its paired interval, a
    chart of mass per region, and :func:`pair_view` of each comparison. ``perf``: section 3's
    view of each model (its ``headline`` rows)."""
    names = list(models)
    if len(names) < 2 and not summary.get("comparisons"):
        return {"message": "Only one model was audited, so there is nothing to compare. List "
                "several models in the config, or run `audit compare RUN_A RUN_B`.",
                "models": names}
    pair = _pair(summary, names[0], names[-1]) if len(names) > 1 else {}
    rows = []
    for i, (label, key, paired) in enumerate(_METRICS):
        vals = [(models[n].get("metrics") or {}).get(key) for n in names]
        heads = [perf[n]["headline"][i] for n in names]
        rows.append([label, *(f"{h['value']} ({h['ci']}, n={h['n']})" for h in heads),
                     _delta(vals[0], vals[-1], (pair.get(paired) or {}).get("ci")
                            if paired else None)])
    rows.append(["worst group", *(str((models[n].get("metrics") or {}).get(
        "worst_group", f.DASH)) for n in names), f.DASH])
    mass = {n: ((models[n].get("attention") or {}).get(method) or {}) if method else {}
            for n in names}
    series = {n: [(mass[n].get(r) or {}).get("mass", float("nan")) for r in regions]
              for n in names}
    for i, r in enumerate(regions if method else []):
        cells = [f"{f.pct(a.get('mass'))} ({f.pct_ci(a.get('ci'))}, n={f.count(a.get('n'))})"
                 for a in ((mass[n].get(r) or {}) for n in names)]
        paired = (((pair.get("attention") or {}).get(method) or {}).get(r) or {}).get("ci")
        rows.append([f"{method} mass on {r}", *cells,
                     _delta(series[names[0]][i], series[names[-1]][i], paired)])
    chart = None
    if method and any(f.is_num(v) for vals in series.values() for v in vals):
        alt = "; ".join(f"{n}: " + ", ".join(f"{r} {f.pct(v, 0)}" for r, v in
                                             zip(regions, series[n], strict=True)) for n in names)
        chart = grouped_chart(regions, series, colors, title=f"{method} attention mass per region",
                              alt=f"{method} attention mass per region for each model: {alt}")
    pairs = [pair_view(c) for c in summary.get("comparisons") or [] if isinstance(c, Mapping)]
    return {"message": None, "models": names, "rows": rows, "chart": chart, "pairs": pairs,
            "delta_header": f"Δ {names[-1]} − {names[0]}" if len(names) > 1 else "Δ",
            "pairs_message": None if pairs else "No pairwise comparison results (McNemar) in "
                                                 "the summary."}

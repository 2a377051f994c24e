"""View-model of one paired comparison (``summary.json`` ``comparisons[i]``): tables only.

Every delta is shown with its interval, its count and its test: McNemar on per-sample
correctness, Wilcoxon signed-rank on per-sample region mass, and the shift of each sample's
top region (highest lift) from one model to the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.report import fmt as f

__all__ = ["pair_view"]

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

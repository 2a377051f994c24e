"""View-model and rendering of a run comparison (``templates/compare.html.j2``).

The comparison page is part of the report layer: the same number formatters
(:mod:`auditor.report.fmt`), the same charts (:func:`auditor.report.bars.grouped_chart`),
the same jinja environment (:func:`auditor.report.html.environment`) and the same PDF path
(:func:`auditor.report.pdf.render_pdf`) as ``report.html``.
:func:`build_compare_context` turns a :class:`~auditor.metrics.compare_result.CompareResult`
into plain dicts of preformatted strings (the template does no arithmetic).
"""

from __future__ import annotations

import jinja2

from auditor.errors import ReportError
from auditor.metrics.compare_result import CompareResult
from auditor.metrics.stats import MCNEMAR_EXACT_BELOW
from auditor.report import fmt as f
from auditor.report.bars import grouped_chart
from auditor.report.html import environment
from auditor.report.palette import model_colors

__all__ = ["build_compare_context", "mass_charts", "render_compare_html", "strong"]

TEMPLATE = "compare.html.j2"


def mass_charts(attention: dict, labels: tuple[str, str]) -> list[dict]:
    """One grouped-bar chart per method: mean attention mass per region, baseline vs candidate.

    Args:
        attention: ``Comparison.attention`` (``{method: {region: {"baseline", "candidate"}}}``).
        labels: legend names of the baseline and the candidate.

    Returns:
        ``[{"method", "chart"}]``, ``chart`` as :func:`auditor.report.bars.grouped_chart`.
    """
    colors = model_colors(list(labels))
    charts = []
    for method, per_region in attention.items():
        regions = list(per_region)
        base = [per_region[r]["baseline"] for r in regions]
        cand = [per_region[r]["candidate"] for r in regions]
        alt = (f"Mean attention mass per region with {method}, {labels[0]} then {labels[1]}: "
               + ", ".join(f"{r} {f.num(b)} to {f.num(c)}"
                           for r, b, c in zip(regions, base, cand, strict=True)) + ".")
        charts.append({"method": method, "chart": grouped_chart(
            regions, {labels[0]: base, labels[1]: cand}, colors,
            title=f"{method}: mean attention mass per region", alt=alt)})
    return charts


def build_compare_context(result: CompareResult, *, title: str | None = None) -> dict:
    """The template's view-model: plain dicts and strings only.

    Args:
        result: the comparison.
        title: page title (default: "<run A> vs <run B>").

    Returns:
        A dict with ``title``, ``runs``, ``headline``, ``changed`` (what changed between the
        two models' findings, or None), ``groups``, ``comparable``,
        ``not_comparable``, ``attention``, ``top_region``, ``charts`` and ``notes``.
    """
    c = result.comparison
    a, b = result.run_a, result.run_b
    acc, mc, wg = c.accuracy, c.mcnemar, c.worst_group
    alpha = 1 - c.level
    headline = [
        {"metric": "Accuracy", "detail": "", "baseline": f.pct(acc["baseline"]),
         "candidate": f.pct(acc["candidate"]), "delta": f.pp(acc["delta"]),
         "ci": f.pp_ci(acc["ci"]), "n": f.count(c.n),
         "strong": strong(acc["ci"], mc.p, alpha)},
        {"metric": "Balanced accuracy", "detail": "mean per-class recall",
         "baseline": f.pct(c.balanced_accuracy["baseline"]),
         "candidate": f.pct(c.balanced_accuracy["candidate"]),
         "delta": f.pp(c.balanced_accuracy["delta"]),
         "ci": f.pp_ci(c.balanced_accuracy.get("ci")), "n": f.count(c.n),
         "strong": f.excludes_zero(c.balanced_accuracy.get("ci"))},
        {"metric": "Worst-group accuracy",
         "detail": (f"baseline: {_cell(wg['baseline'])}; candidate: {_cell(wg['candidate'])}; "
                    f"cells of label \u00d7 attribute value with n \u2265 {wg['min_support']}"),
         "baseline": f.pct((wg["baseline"] or {}).get("accuracy")),
         "candidate": f.pct((wg["candidate"] or {}).get("accuracy")),
         "delta": f.pp(wg["delta"]), "ci": f.pp_ci(wg.get("ci")),
         "n": f"{f.count((wg['baseline'] or {}).get('n'))} → "
              f"{f.count((wg['candidate'] or {}).get('n'))}",
         "strong": f.excludes_zero(wg.get("ci"))},
    ]
    groups = [
        {"attribute": attr, "value": value, "n": f.count(g["n"]), "baseline": f.pct(g["baseline"]),
         "candidate": f.pct(g["candidate"]), "delta": f.pp(g["delta"]), "ci": f.pp_ci(g["ci"]),
         "strong": f.excludes_zero(g["ci"])}
        for attr, values in c.by_group.items() for value, g in values.items()
    ]
    attention = [
        {"method": method, "region": region, "n": f.count(m["n"]),
         "baseline": f.pct(m["baseline"]), "candidate": f.pct(m["candidate"]),
         "delta": f.pp(m["delta"]), "ci": f.pp_ci(m["ci"]), "p": f.pvalue(m["wilcoxon_p"]),
         "strong": strong(m["ci"], m["wilcoxon_p"], alpha)}
        for method, regions in c.attention.items() for region, m in regions.items()
    ]
    top = c.top_region
    top_ctx = {
        "method": top.get("method", ""),
        "by": "highest lift" if top.get("by") == "lift" else "most mass",
        "n": f.count(top.get("n", 0)),
        "n_changed": f.count(top.get("n_changed", 0)),
        "share": f.pct(top.get("changed_share")),
        "transitions": [
            {"name": k.replace("->", " \u2192 "), "count": f.count(v),
             "examples": ", ".join(top["examples"].get(k, []))}
            for k, v in top.get("transitions", {}).items()
        ],
    }
    return {
        "title": title or f"{a.name} vs {b.name}",
        "level": f.pct(c.level, 0),
        "alpha": f"{round(alpha, 6):g}",
        "runs": [
            {"side": "A (baseline)", "name": a.name, "model": a.model, "path": str(a.path),
             "created": a.created or "", "setup": _setup_text(a.setup)},
            {"side": "B (candidate)", "name": b.name, "model": b.model, "path": str(b.path),
             "created": b.created or "", "setup": _setup_text(b.setup)},
        ],
        "labels": {"baseline": a.label, "candidate": b.label},
        "dataset": {"split": result.audit_split or "(not recorded)", "n": f.count(c.n),
                    "classes": ", ".join(result.classes),
                    "regions": ", ".join(result.regions),
                    "attributes": ", ".join(result.attributes) or "(none)"},
        "headline": headline,
        "changed": result.headline,
        "mcnemar": {"b": f.count(mc.b), "c": f.count(mc.c), "method": mc.method,
                    "p": f.p_clause(mc.p), "statistic": f.num(mc.statistic),
                    "exact_below": str(MCNEMAR_EXACT_BELOW)},
        "groups": groups,
        "comparable": result.attention_comparable,
        "not_comparable": list(result.not_comparable),
        "attention": attention,
        "top_region": top_ctx,
        "charts": mass_charts(c.attention, (a.label, b.label)),
        "notes": list(c.notes),
        "seed": str(c.seed),
        "n_boot": f.count(c.n_boot),
    }


def strong(ci: object, p: object = None, alpha: float = 0.05) -> bool:
    """A delta shown in bold: its interval excludes zero and, where a test sits beside it
    (McNemar for accuracy, Wilcoxon for attention mass), the test's p is under ``alpha``
    (1 − the interval's level). The interval is of the mean difference, Wilcoxon's test of
    the typical one: a few samples that move a lot shift the mean while most do not move
    ("Δ −1.3 pp, −2.4 to −0.4 pp, Wilcoxon p 0.758"); the two disagreeing is no change to
    mark."""
    if not f.excludes_zero(ci):
        return False
    return p is None or (f.is_num(p) and float(p) < alpha)


def _cell(cell: dict | None) -> str:
    return f.DASH if cell is None else f"{cell['group']} (n={f.count(cell['n'])})"


def _setup_text(setup: dict) -> str:
    """``simple_cnn, layer features, 64 px`` from a run side's setup."""
    parts = [str(setup["arch"])] if setup.get("arch") else []
    if setup.get("target_layer"):
        parts.append(f"layer {setup['target_layer']}")
    if setup.get("input_size"):
        parts.append(f"{setup['input_size']} px")
    return ", ".join(parts) or f.DASH


def render_compare_html(result: CompareResult, *, title: str | None = None) -> str:
    """Render the self-contained comparison page.

    Args:
        result: the comparison.
        title: page title (default: "<run A> vs <run B>").

    Returns:
        The HTML document (inline CSS, charts as data URIs, no external URL).

    Raises:
        ReportError: the template cannot be found or rendered.
    """
    try:
        template = environment().get_template(TEMPLATE)
        return template.render(**build_compare_context(result, title=title))
    except jinja2.TemplateError as err:
        raise ReportError(f"cannot render {TEMPLATE}: {err}") from err

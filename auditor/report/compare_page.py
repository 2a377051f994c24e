"""View-model and rendering of a run comparison (``templates/compare.html.j2``).

:func:`build_compare_context` turns a :class:`~auditor.pipeline.compare_runs.CompareResult` into
plain dicts of preformatted strings (the template does no arithmetic), with the per-region mass
chart as a PNG data URI; :func:`render_compare_html` renders it with jinja2 (autoescape on);
:func:`render_compare_pdf` prints the page with weasyprint.
"""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING

import jinja2
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from auditor.errors import ReportError
from auditor.report.html import environment
from auditor.report.pdf import render_pdf

if TYPE_CHECKING:
    from auditor.pipeline.compare_runs import CompareResult

__all__ = ["build_compare_context", "render_compare_html", "render_compare_pdf"]

TEMPLATE = "compare.html.j2"
BASELINE_COLOUR = "#0072B2"
CANDIDATE_COLOUR = "#D55E00"
CHART_DPI = 90


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def _pp(x: float | None) -> str:
    """A difference of two rates in percentage points, signed."""
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:+.1f} pp"


def _ci_pp(ci: list) -> str:
    lo, hi = ci
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"[{100 * lo:+.1f}, {100 * hi:+.1f}] pp"


def _ci_num(ci: list) -> str:
    lo, hi = ci
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "n/a"
    return f"[{lo:+.3f}, {hi:+.3f}]"


def _p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _excludes_zero(ci: list) -> bool:
    lo, hi = ci
    return lo is not None and hi is not None and not (lo <= 0 <= hi)


def mass_chart(attention: dict, labels: tuple[str, str]) -> tuple[str, str]:
    """Grouped bars of mean attention mass per region, baseline vs candidate, per method.

    Args:
        attention: ``Comparison.attention`` (``{method: {region: {"baseline", "candidate"}}}``).
        labels: legend names of the baseline and the candidate.

    Returns:
        ``(data_uri, alt_text)``.
    """
    methods = list(attention)
    fig = Figure(figsize=(3.2 * len(methods) + 0.4, 2.6), dpi=CHART_DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(methods), squeeze=False, sharey=True)[0]
    alt = []
    for ax, method in zip(axes, methods, strict=True):
        regions = list(attention[method])
        base = [attention[method][r]["baseline"] for r in regions]
        cand = [attention[method][r]["candidate"] for r in regions]
        xs = range(len(regions))
        ax.bar([x - 0.2 for x in xs], base, 0.4, color=BASELINE_COLOUR, label=labels[0])
        ax.bar([x + 0.2 for x in xs], cand, 0.4, color=CANDIDATE_COLOUR, label=labels[1])
        ax.set_xticks(list(xs), regions, fontsize=8)
        ax.set_title(method, fontsize=9)
        ax.set_ylim(0, 1)
        ax.spines[["top", "right"]].set_visible(False)
        alt.append(
            f"{method}: "
            + ", ".join(f"{r} {_num(b, 2)} to {_num(c, 2)}" for r, b, c in zip(
                regions, base, cand, strict=True))
        )
    axes[0].set_ylabel("mean attention mass", fontsize=8)
    axes[-1].legend(fontsize=7, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white",
                metadata={"Software": None})
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    text = (f"Mean attention mass per region, {labels[0]} then {labels[1]}. "
            + "; ".join(alt) + ".")
    return uri, text


def build_compare_context(result: CompareResult, *, title: str | None = None) -> dict:
    """The template's view-model: plain dicts and strings only.

    Args:
        result: the comparison.
        title: page title (default: "<run A> vs <run B>").

    Returns:
        A dict with ``title``, ``runs``, ``headline``, ``groups``, ``attention``, ``top_region``,
        ``chart`` and ``notes``.
    """
    c = result.comparison
    a, b = result.run_a, result.run_b
    pct_level = f"{100 * c.level:g}%"
    acc, mc = c.accuracy, c.mcnemar
    wg = c.worst_group
    headline = [
        {"metric": "Accuracy", "detail": "", "baseline": _pct(acc["baseline"]),
         "candidate": _pct(acc["candidate"]), "delta": _pp(acc["delta"]),
         "ci": _ci_pp(acc["ci"]), "n": str(c.n), "strong": _excludes_zero(acc["ci"])},
        {"metric": "Balanced accuracy", "detail": "mean per-class recall",
         "baseline": _pct(c.balanced_accuracy["baseline"]),
         "candidate": _pct(c.balanced_accuracy["candidate"]),
         "delta": _pp(c.balanced_accuracy["delta"]), "ci": "", "n": str(c.n), "strong": False},
        {"metric": "Worst-group accuracy",
         "detail": (f"baseline: {_wg(wg['baseline'])}; candidate: {_wg(wg['candidate'])}; "
                    f"cells of label \u00d7 attribute value with n \u2265 {wg['min_support']}"),
         "baseline": _pct(wg["baseline"]["accuracy"]) if wg["baseline"] else "n/a",
         "candidate": _pct(wg["candidate"]["accuracy"]) if wg["candidate"] else "n/a",
         "delta": _pp(wg["delta"]), "ci": "", "n": "", "strong": False},
    ]
    groups = []
    for attr, values in c.by_group.items():
        for value, g in values.items():
            groups.append({
                "attribute": attr, "value": value, "n": str(g["n"]),
                "baseline": _pct(g["baseline"]), "candidate": _pct(g["candidate"]),
                "delta": _pp(g["delta"]), "ci": _ci_pp(g["ci"]),
                "strong": _excludes_zero(g["ci"]),
            })
    attention = []
    for method, regions in c.attention.items():
        for region, m in regions.items():
            attention.append({
                "method": method, "region": region, "n": str(m["n"]),
                "baseline": _num(m["baseline"]), "candidate": _num(m["candidate"]),
                "delta": f"{m['delta']:+.3f}" if not math.isnan(m["delta"]) else "n/a",
                "ci": _ci_num(m["ci"]), "p": _p(m["wilcoxon_p"]),
                "strong": _excludes_zero(m["ci"]),
            })
    top = c.top_region
    top_ctx = {
        "method": top.get("method", ""),
        "n": str(top.get("n", 0)),
        "n_changed": str(top.get("n_changed", 0)),
        "share": _pct(top.get("changed_share", float("nan"))),
        "transitions": [
            {"name": k.replace("->", " \u2192 "), "count": str(v),
             "examples": ", ".join(top["examples"].get(k, []))}
            for k, v in top.get("transitions", {}).items()
        ],
    }
    chart_uri, chart_alt = mass_chart(c.attention, (a.label, b.label))
    return {
        "title": title or f"{a.name} vs {b.name}",
        "level": pct_level,
        "runs": [
            {"side": "A (baseline)", "name": a.name, "model": a.model, "path": str(a.path),
             "created": a.created or ""},
            {"side": "B (candidate)", "name": b.name, "model": b.model, "path": str(b.path),
             "created": b.created or ""},
        ],
        "labels": {"baseline": a.label, "candidate": b.label},
        "dataset": {"split": result.audit_split or "(not recorded)", "n": str(c.n),
                    "classes": ", ".join(result.classes),
                    "regions": ", ".join(result.regions),
                    "attributes": ", ".join(result.attributes) or "(none)"},
        "headline": headline,
        "mcnemar": {"b": str(mc.b), "c": str(mc.c), "method": mc.method,
                    "p": ("p < 0.001" if mc.p < 0.001 else f"p = {mc.p:.3f}"),
                    "statistic": _num(mc.statistic, 2)},
        "groups": groups,
        "attention": attention,
        "top_region": top_ctx,
        "chart": {"uri": chart_uri, "alt": chart_alt},
        "notes": list(c.notes),
        "seed": str(c.seed),
        "n_boot": str(c.n_boot),
    }


def _wg(cell: dict | None) -> str:
    return "none eligible" if cell is None else f"{cell['group']} (n={cell['n']})"


def render_compare_html(result: CompareResult, *, title: str | None = None) -> str:
    """Render the self-contained comparison page.

    Args:
        result: the comparison.
        title: page title (default: "<run A> vs <run B>").

    Returns:
        The HTML document (inline CSS, chart as data URI, no external URL).

    Raises:
        ReportError: the template cannot be found or rendered.
    """
    try:
        template = environment().get_template(TEMPLATE)
        return template.render(**build_compare_context(result, title=title))
    except jinja2.TemplateError as err:
        raise ReportError(f"cannot render {TEMPLATE}: {err}") from err


def render_compare_pdf(html: str) -> bytes:
    """Print the comparison page to PDF (the report's PDF path: data URIs only).

    Args:
        html: the page from :func:`render_compare_html`.

    Returns:
        The PDF bytes.
    """
    return render_pdf(html)

"""The report's view-model: ``summary.json`` + ``samples.parquet`` -> plain dicts and data URIs.

:func:`build_context` is the only place that reads results; the templates only read the
:class:`ReportContext` it returns (strings, numbers, lists, dicts, ``data:`` URIs). Every optional
block of the summary may be missing: its section then says so in a sentence.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import yaml

from auditor.common.thresholds import LIFT_THRESHOLD
from auditor.metrics.columns import mass_methods
from auditor.metrics.verdict import model_verdict
from auditor.report import evidence, figures, sections
from auditor.report import fmt as f
from auditor.report.comparison import comparison_view
from auditor.report.cues import unannotated_cues
from auditor.report.gallery import (
    HTML_BUDGET_BYTES,
    MAX_THUMBNAILS,
    GalleryProvider,
    ThumbnailBudget,
)
from auditor.report.glossary import DEFINITIONS, MEANING, NO_REGIONS
from auditor.report.long_names import shorten_long_names
from auditor.report.model_rows import model_rows
from auditor.report.palette import SEVERITY, SEVERITY_ORDER, model_colors, region_colors

log = logging.getLogger(__name__)

#: Columns of ``samples.parquet`` the per-sample sections need.
SAMPLE_COLUMNS = frozenset({"model", "id", "label", "pred", "confidence", "correct"})

#: Skipped files listed in the report (the rest are counted).
MAX_SKIPPED_ROWS = 200

SECTIONS: tuple[tuple[str, str], ...] = (
    ("verdict", "1. Verdict"),
    ("dataset", "2. Dataset overview"),
    ("performance", "3. Performance by group"),
    ("attention", "4. Where the model looks"),
    ("spurious", "5. Spurious-cue evidence"),
    ("cues", "6. Cues nobody annotated"),
    ("clusters", "7. Misclassification clusters"),
    ("sanity", "8. Saliency sanity check"),
    ("comparison", "9. Model comparison"),
    ("methods", "10. Methods appendix"),
)

@dataclasses.dataclass
class ReportContext:
    """Everything the templates read. Plain data only (str, numbers, lists, dicts)."""

    title: str
    created: str
    auditor_version: str
    toc: list[dict[str, Any]]
    legend: list[dict[str, str]]
    verdict: dict[str, Any]
    dataset: dict[str, Any]
    models: list[dict[str, Any]]
    comparison: dict[str, Any]
    methods: dict[str, Any]
    colorbar: str
    size_note: str
    ci_label: str

    def as_dict(self) -> dict[str, Any]:
        """The context as a plain dict (what the templates receive)."""
        return dataclasses.asdict(self)


def _slug(text: str, i: int) -> str:
    return f"m{i}-" + (re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "model")


def _analysis(config_yaml: str, regions: Sequence[str]
              ) -> tuple[list[str], list[str], float, float]:
    """Expected and spurious regions, CI level, lift threshold of the config's analysis."""
    try:
        cfg = yaml.safe_load(config_yaml) or {}
    except yaml.YAMLError:
        cfg = {}
    analysis = cfg.get("analysis") if isinstance(cfg, Mapping) else None
    analysis = analysis if isinstance(analysis, Mapping) else {}
    expected = [str(r) for r in analysis.get("expected_regions") or []]
    spurious = analysis.get("spurious_regions")
    spurious = [str(r) for r in spurious] if spurious else [r for r in regions
                                                            if r not in expected]
    level = analysis.get("ci_level", 0.95)
    level = float(level) if f.is_num(level) and 0.5 < float(level) < 1 else 0.95
    lift = analysis.get("lift_threshold", LIFT_THRESHOLD)
    lift = float(lift) if f.is_num(lift) and float(lift) > 0 else LIFT_THRESHOLD
    return expected, spurious, level, lift


def _flag(model: str, finding: Mapping[str, Any]) -> dict[str, Any]:
    sev = str(finding.get("severity", "low")).lower()
    fill, text, label = SEVERITY.get(sev, SEVERITY["low"])
    ev = finding.get("evidence") if isinstance(finding.get("evidence"), Mapping) else {}
    return {"model": model, "severity": sev, "label": label, "fill": fill, "text": text,
            "kind": f.humanize(finding.get("kind", "finding")),
            "sentence": f.sentence(finding.get("title") or f.humanize(finding.get("kind", ""))),
            "meaning": MEANING.get(str(finding.get("kind")), ""),
            "evidence": f.items(ev)}


_STATUS = {"not_ready": ("high", "NOT READY"), "review": ("medium", "REVIEW"),
           "ok": ("low", "NO SERIOUS FLAGS")}


def _verdict(models: Mapping[str, Any], perf: Mapping[str, dict],
             headline_text: str | None = None) -> dict[str, Any]:
    flags = [_flag(name, x) for name, m in models.items() for x in (m.get("findings") or [])]
    flags.sort(key=lambda x: (SEVERITY_ORDER.get(x["severity"], 3), x["model"]))
    counts = {s: sum(1 for x in flags if x["severity"] == s) for s in SEVERITY}
    if counts["high"]:
        who = sorted({x["model"] for x in flags if x["severity"] == "high"})
        headline, tone = (f"Not ready to ship: {counts['high']} high-severity flag"
                          f"{'s' if counts['high'] > 1 else ''} ({', '.join(who)})."), "high"
    elif counts["medium"]:
        headline, tone = (f"Review before shipping: {counts['medium']} medium-severity flag"
                          f"{'s' if counts['medium'] > 1 else ''}, no high-severity ones."), \
            "medium"
    else:
        headline, tone = ("No serious flags: no high- or medium-severity evidence cleared its "
                          "threshold."), "low"
    verdicts = {name: (m.get("verdict") if isinstance(m.get("verdict"), Mapping)
                       else model_verdict(m)) for name, m in models.items()}
    if len(models) == 1:
        headline = str(next(iter(verdicts.values())).get("text") or headline)
    elif headline_text:
        headline = str(headline_text)
    cards = []
    for name, m in models.items():
        metrics = m.get("metrics") or {}
        s = m.get("sanity") if isinstance(m.get("sanity"), Mapping) else None
        sev, label = _STATUS.get(str(verdicts[name].get("status")), _STATUS["review"])
        cards.append({
            "verdict": str(verdicts[name].get("text", "")), "status": label,
            "next": [str(x) for x in verdicts[name].get("next") or []],
            "status_fill": SEVERITY[sev][0], "status_text": SEVERITY[sev][1],
            "name": name, "accuracy": perf[name]["headline"][0]["value"],
            "accuracy_ci": perf[name]["headline"][0]["ci"], "n": perf[name]["headline"][0]["n"],
            "worst": f.pct(metrics.get("worst_group_accuracy")),
            "worst_ci": perf[name]["headline"][2]["ci"], "worst_n": perf[name]["headline"][2]["n"],
            "worst_group": str(metrics.get("worst_group", f.DASH)),
            "flags": {s_: sum(1 for x in flags if x["model"] == name and x["severity"] == s_)
                      for s_ in SEVERITY},
            "sanity": "not run" if s is None else "passed" if s.get("passed") else
            "inconclusive (empty maps)" if s.get("spearman") is None else "FAILED"})
    fill, text, badge = SEVERITY[tone]
    if len(models) > 1 and headline_text:  # what changed between models: no alarm colour
        fill, text, badge = *SEVERITY["low"][:2], "WHAT CHANGED"
    return {"headline": headline, "tone": tone, "fill": fill, "text": text, "badge": badge,
            "flags": flags, "counts": counts, "cards": cards}


def _counts_table(dataset: Mapping[str, Any], samples: pd.DataFrame,
                  attributes: Sequence[str]) -> dict[str, Any] | None:
    records = dataset.get("counts")
    source = "all splits (summary.json)"
    if not records:
        if samples.empty or not {"id", "label"} <= set(samples.columns):
            return None
        uniq = samples.drop_duplicates("id")
        keys = [c for c in ["split", "label", *attributes] if c in uniq.columns]
        records = uniq.groupby(keys, dropna=False).size().reset_index(name="n").to_dict("records")
        source = "audited samples only (samples.parquet)"
    df = pd.DataFrame(records)
    if "n" not in df.columns or "label" not in df.columns:
        return None
    index = [c for c in ("split", "label") if c in df.columns]
    cols = [a for a in attributes if a in df.columns]
    headers = [*(f.humanize(i) for i in index)]
    values: list[tuple[str, str]] = []
    for a in cols:
        for v in sorted(df[a].astype(str).unique()):
            values.append((a, v))
            headers.append(f"{a}={v}")
    headers.append("total")
    rows = []
    for key, grp in df.groupby(index, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = [str(k) for k in key]
        total = int(grp["n"].sum())
        for a, v in values:
            k = int(grp.loc[grp[a].astype(str) == v, "n"].sum())
            cells.append(f"{f.count(k)} ({f.pct(k / total if total else None, 0)})")
        cells.append(f.count(total))
        rows.append(cells)
    return {"headers": headers, "rows": rows, "source": source}


def _dataset(summary: Mapping[str, Any], samples: pd.DataFrame, regions: Sequence[str],
             colors: Mapping[str, str]) -> dict[str, Any]:
    d = summary.get("dataset") or {}
    attributes = [str(a) for a in d.get("attributes") or []]
    skipped = [{"id": str(s.get("id", "")), "reason": str(s.get("reason", ""))}
               for s in (d.get("skipped") or [])]
    coverage = d.get("coverage") if isinstance(d.get("coverage"), Mapping) else None
    splits = d.get("splits") if isinstance(d.get("splits"), Mapping) else {}
    total = sum(int(v) for v in splits.values() if f.is_num(v))  # coverage is over all splits
    return {
        "n_samples": f.count(d.get("n_samples")), "n_skipped": f.count(d.get("n_skipped",
                                                                             len(skipped))),
        "classes": [str(c) for c in d.get("classes") or []], "attributes": attributes,
        "regions": list(regions),
        "counts": _counts_table(d, samples, attributes),
        "coverage": None if coverage is None else [
            {"region": r, "share": f.pct(v), "color": colors.get(r, "#A0A0A0"),
             "count": (f"{round(float(v) * total):,} of {total:,}" if total and f.is_num(v)
                       else "")}
            for r, v in coverage.items()],
        "skipped": skipped[:MAX_SKIPPED_ROWS],
        "skipped_more": max(0, len(skipped) - MAX_SKIPPED_ROWS),
        "warnings": [str(w) for w in d.get("warnings") or []],
    }


def _methods(summary: Mapping[str, Any], config_yaml: str, ci_label: str) -> dict[str, Any]:
    env = summary.get("environment") if isinstance(summary.get("environment"), Mapping) else {}
    rows = [("auditor version", str(summary.get("auditor_version", f.DASH))),
            ("created", str(summary.get("created", f.DASH))),
            ("schema", str(summary.get("schema", f.DASH)))]
    rows += [(f.humanize(k), f.auto(v)) for k, v in env.items()
             if not (k == "auditor_version" and v == summary.get("auditor_version"))]
    return {"config_yaml": config_yaml or "(no resolved config was provided)",
            "environment": rows, "models": model_rows(summary),
            "definitions": [(term, text.format(level=ci_label)) for term, text in DEFINITIONS],
            "env_message": None if env else "No environment block in the summary."}


def build_context(summary: dict, samples: pd.DataFrame, gallery: GalleryProvider | None, *,
                  config_yaml: str, examples_per_group: int) -> ReportContext:
    """Turn the run's results into the report's view-model.

    Args:
        summary: The ``summary.json`` dict (schema ``auditor.summary/1``; optional blocks may be
            missing).
        samples: The ``samples.parquet`` table (one row per model and sample).
        gallery: Images and low-resolution maps by sample id, or None for no galleries.
        config_yaml: The resolved config as YAML text (shown verbatim in the appendix).
        examples_per_group: Thumbnails per gallery cell (``report.examples_per_group``).

    Returns:
        The :class:`ReportContext`. At most :data:`~auditor.report.gallery.MAX_THUMBNAILS`
        thumbnails in all, so the HTML stays under
        :data:`~auditor.report.gallery.HTML_BUDGET_BYTES`.
    """
    samples = samples if samples is not None else pd.DataFrame()
    summary, samples = shorten_long_names(summary, samples)
    d = summary.get("dataset") or {}
    models: dict[str, Any] = {str(k): (v if isinstance(v, Mapping) else {})
                              for k, v in (summary.get("models") or {}).items()}
    classes = [str(c) for c in d.get("classes") or []]
    attributes = [str(a) for a in d.get("attributes") or []]
    regions = [str(r) for r in d.get("regions") or []]
    rcolors, mcolors = region_colors(regions), model_colors(list(models))
    expected, spurious, level, lift_threshold = _analysis(config_yaml, regions)
    annotated = any(r != "background" for r in regions)
    ci_label = f"{100 * level:g}%"
    samples = samples if samples is not None else pd.DataFrame()
    missing = sorted(SAMPLE_COLUMNS - set(samples.columns))
    if missing and not samples.empty:
        log.warning("samples table lacks columns %s; per-sample sections are left empty",
                    ", ".join(missing))
    if missing:
        samples = pd.DataFrame(columns=sorted(SAMPLE_COLUMNS))
    if "correct" in samples.columns:
        samples = samples.assign(correct=samples["correct"].fillna(False).astype(bool))
    share = MAX_THUMBNAILS // max(len(models), 1)
    per_model, perf = [], {}
    first_method = None
    for i, (name, m) in enumerate(models.items()):
        if "model" in samples.columns:
            rows = samples[samples["model"].astype(str) == name]
        else:
            rows = samples
        have = mass_methods(rows.columns, regions)
        methods = [x for x in (m.get("attention") or {}) if x in have]
        methods = methods or have or list(m.get("attention") or {})
        first_method = first_method or (methods[0] if methods else None)
        perf[name] = sections.performance(m, rows, classes=classes, attributes=attributes,
                                          color=mcolors[name], level=level)
        cue_budget = ThumbnailBudget(share // 6)  # hotspot examples; the rest goes to section 4
        cues = unannotated_cues(name, m, rows, attributes=attributes, annotated=annotated,
                                provider=gallery, budget=cue_budget,
                                examples=min(examples_per_group, 4))
        looks = sections.where_it_looks(
            name, rows, methods=[x for x in methods if x in have],
            regions=regions, classes=classes, attributes=attributes, region_colors=rcolors,
            provider=gallery, examples_per_group=examples_per_group,
            budget=ThumbnailBudget(share * 2 // 3 - cue_budget.used))
        per_model.append({
            "name": name, "slug": _slug(name, i), "color": mcolors[name],
            "n": f.count(len(rows)), "performance": perf[name], "looks": looks,
            "spurious": evidence.spurious_cues(m, n=len(rows), regions=regions,
                                               expected=expected, spurious=spurious,
                                               lift_threshold=lift_threshold),
            "clusters": evidence.clusters(
                name, m, rows, regions=regions, method=methods[0] if methods else None,
                provider=gallery, examples_per_group=examples_per_group,
                budget=ThumbnailBudget(share - share * 2 // 3)),
            "cues": cues,
            "sanity": evidence.sanity(m)})
        looks["regions_note"] = None
        if not annotated:
            looks.update(regions_note=NO_REGIONS, charts=[])
            # the data was loaded without annotations (not a summary lacking the block)
            per_model[-1]["spurious"].update(lift_message=NO_REGIONS, no_regions=bool(regions))
    toc = []
    for anchor, title in SECTIONS:
        children = []
        if anchor in ("performance", "attention", "spurious", "cues", "clusters", "sanity"):
            children = [{"anchor": f"{anchor}-{pm['slug']}", "title": pm["name"]}
                        for pm in per_model]
        toc.append({"anchor": anchor, "title": title, "children": children})
    return ReportContext(
        title=str(summary.get("name") or "Audit report"),
        created=str(summary.get("created", "")),
        auditor_version=str(summary.get("auditor_version", "")),
        toc=toc,
        legend=[{"region": r, "color": rcolors[r],
                 "role": evidence.region_role(r, expected, spurious)} for r in regions],
        verdict=_verdict(models, perf, summary.get("headline")),
        dataset=_dataset(summary, samples, regions, rcolors),
        models=per_model,
        comparison=comparison_view(summary, models, regions, first_method, mcolors, perf),
        methods=_methods(summary, config_yaml, ci_label),
        colorbar=figures.colorbar_uri(),
        size_note=(f"Galleries are capped at {examples_per_group} examples per cell and "
                   f"{MAX_THUMBNAILS} thumbnails in all, keeping this file under "
                   f"{HTML_BUDGET_BYTES // 1_000_000} MB."),
        ci_label=ci_label,
    )

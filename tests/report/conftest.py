"""Report test fixtures: a fake two-model run, rendered once per session."""

from __future__ import annotations

import pytest
from helpers import report_run as fake


@pytest.fixture(scope="session")
def fake_run():
    """``(summary, samples, gallery, config_yaml)`` of a small fake two-model audit."""
    return fake.make_run(n=120, seed=0)


@pytest.fixture(scope="session")
def rendered(fake_run, tmp_path_factory):
    """The fake run's context, HTML text and paths of report.html / report.pdf on disk."""
    from auditor.report import build_context, render_html, render_pdf

    summary, samples, gallery, cfg = fake_run
    ctx = build_context(summary, samples, gallery, config_yaml=cfg, examples_per_group=3)
    html = render_html(ctx)
    out = tmp_path_factory.mktemp("report")
    (out / "report.html").write_text(html, encoding="utf-8")
    pdf = render_pdf(html)
    (out / "report.pdf").write_bytes(pdf)
    return {"ctx": ctx, "html": html, "pdf": pdf, "html_path": out / "report.html",
            "pdf_path": out / "report.pdf", "dir": out}

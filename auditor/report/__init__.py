"""The report: view-model -> jinja2 templates -> self-contained HTML -> weasyprint PDF.

Typical use (the pipeline)::

    ctx = build_context(summary, samples, gallery, config_yaml=text, examples_per_group=6)
    html = render_html(ctx)
    pdf = render_pdf(html)
"""

from auditor.report.context import ReportContext, build_context
from auditor.report.gallery import (
    HTML_BUDGET_BYTES,
    MAX_THUMBNAILS,
    GalleryProvider,
    InMemoryGallery,
)
from auditor.report.html import render_html, templates_dir
from auditor.report.pdf import render_pdf

__all__ = [
    "HTML_BUDGET_BYTES",
    "MAX_THUMBNAILS",
    "GalleryProvider",
    "InMemoryGallery",
    "ReportContext",
    "build_context",
    "render_html",
    "render_pdf",
    "templates_dir",
]

"""The report: view-model -> jinja2 templates -> self-contained HTML -> weasyprint PDF.

Typical use (the pipeline)::

    ctx = build_context(summary, samples, gallery, config_yaml=text, examples_per_group=6)
    html = render_html(ctx)
    pdf = render_pdf(html)
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public names and their modules, loaded on first use: ``audit compare`` imports
#: :mod:`auditor.report.compare_page` without the whole report view-model.
_HOME = {
    "HTML_BUDGET_BYTES": "gallery", "MAX_THUMBNAILS": "gallery", "GalleryProvider": "gallery",
    "InMemoryGallery": "gallery", "ReportContext": "context", "build_context": "context",
    "render_html": "html", "templates_dir": "html", "render_pdf": "pdf",
}

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


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"auditor.report.{_HOME[name]}"), name)
    raise AttributeError(f"module 'auditor.report' has no attribute {name!r}")

"""Print the HTML report to PDF with weasyprint (print CSS: running header, page numbers)."""

from __future__ import annotations

import logging

from auditor.errors import ReportError

log = logging.getLogger(__name__)


def render_pdf(html: str, *, base_url: str | None = None) -> bytes:
    """Lay out ``html`` for print and return the PDF bytes.

    Args:
        html: The document from :func:`~auditor.report.html.render_html` (self-contained).
        base_url: Base for relative URLs; the report has none, so None is fine.

    Returns:
        The PDF file's bytes.
    """
    from weasyprint import HTML  # heavy import (pango/cairo), only when a PDF is wanted

    log.debug("rendering PDF from %d characters of HTML", len(html))
    try:
        return HTML(string=hold_arrows(html), base_url=base_url,
                    url_fetcher=_data_only_fetcher()).write_pdf()
    except (OSError, ValueError) as err:
        raise ReportError(f"PDF rendering failed: {err}") from err


#: U+2060 WORD JOINER: no line break on either side, and nothing to see or print.
WORD_JOINER = "\u2060"


def hold_arrows(html: str) -> str:
    """``html`` with each escaped ``->`` of a confusion ("square-&gt;triangle") held together
    for print: the PDF broke lines after its hyphen ("100% of all square-" / ">triangle
    errors"). A word joiner between ``-`` and ``>`` forbids that break and prints nothing; the
    HTML report and summary.json keep their text as it is. (Text in the page is escaped, so its
    arrows read ``-&gt;``; markup never does.)"""
    return html.replace("-&gt;", f"-{WORD_JOINER}&gt;")


def _data_only_fetcher() -> object:
    """A weasyprint URL fetcher that serves ``data:`` URIs and refuses everything else."""
    try:  # weasyprint >= 68: fetcher objects
        from weasyprint.urls import URLFetcher

        return URLFetcher(allowed_protocols=["data"])
    except ImportError:  # older weasyprint: fetcher functions
        from weasyprint.urls import default_url_fetcher

        def fetch(url: str, *args: object, **kwargs: object) -> dict:
            if not url.startswith("data:"):
                raise ValueError(f"report must be self-contained; refused to fetch {url}")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch

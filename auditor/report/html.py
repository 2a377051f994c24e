"""Render the report view-model to one self-contained HTML file (jinja2, autoescape on)."""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import markupsafe

from auditor.errors import ReportError, neutralise_bidi

if TYPE_CHECKING:  # the compare page renders through here without the report's context
    from auditor.report.context import ReportContext

TEMPLATE = "report.html.j2"

#: A table of more rows than this may break across PDF pages (class ``long``); a shorter one
#: moves to the next page whole, so a few rows are never left behind.
LONG_ROWS = 12


def templates_dir() -> Path:
    """The templates folder: ``<repo>/templates`` from a source checkout, else the wheel's copy.

    Returns:
        A directory containing ``report.html.j2`` and its CSS.
    """
    source = Path(__file__).resolve().parents[2] / "templates"
    if (source / TEMPLATE).is_file():
        return source
    installed = Path(str(importlib.resources.files("auditor") / "templates"))
    if (installed / TEMPLATE).is_file():
        return installed
    raise ReportError(f"report templates not found in {source} or {installed}")


def environment() -> jinja2.Environment:
    """A jinja2 environment over :func:`templates_dir` with autoescaping for every template."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,  # every template, whatever its extension (.j2 included)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_neutral,  # labels come from data: no bidi control may reorder the page
    )
    env.filters["code_spans"] = code_spans
    env.globals["long_rows"] = LONG_ROWS
    return env


_TICKED = re.compile(r"`([^`]+)`")


def code_spans(text: object) -> markupsafe.Markup:
    """``'run `audit compare`'`` -> escaped text with each backticked span in ``<code>``
    (escaping comes first, so a span from the data cannot carry markup)."""
    escaped = str(markupsafe.escape(str(text)))
    return markupsafe.Markup(_TICKED.sub(r"<code>\1</code>", escaped))


def _neutral(value: object) -> object:
    """Every ``{{ value }}`` with its bidirectional control characters made visible."""
    if isinstance(value, markupsafe.Markup):
        return markupsafe.Markup(neutralise_bidi(str(value)))
    return neutralise_bidi(value) if isinstance(value, str) else value


def render_html(ctx: ReportContext) -> str:
    """Render the whole report.

    Args:
        ctx: The view-model from :func:`~auditor.report.context.build_context`.

    Returns:
        The HTML document: CSS inline, images as data URIs, no scripts, no external URLs.
    """
    try:
        template = environment().get_template(TEMPLATE)
        return template.render(**ctx.as_dict())
    except jinja2.TemplateError as err:
        raise ReportError(f"report template {TEMPLATE} failed: {err}") from err

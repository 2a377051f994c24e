"""PDF rendering: self-contained, refuses the network, carries the print furniture."""

from __future__ import annotations

import pytest

from auditor.report.pdf import _data_only_fetcher, render_pdf


def test_pdf_bytes_are_a_pdf(rendered):
    assert rendered["pdf"].startswith(b"%PDF-")
    assert len(rendered["pdf"]) > 20_000


def test_fetcher_serves_data_uris_and_refuses_the_network():
    fetcher = _data_only_fetcher()
    fetch = getattr(fetcher, "fetch", fetcher)
    with pytest.raises(ValueError):
        fetch("http://127.0.0.1:9/x.png")
    with pytest.raises(ValueError):
        fetch("file:///etc/passwd")
    fetch("data:text/plain;base64,aGk=")  # does not raise


def test_external_image_is_not_fetched_and_render_still_succeeds():
    html = ('<html><body><h1 class="run-title">t</h1>'
            '<img src="http://127.0.0.1:9/x.png" alt="remote"></body></html>')
    assert render_pdf(html).startswith(b"%PDF-")

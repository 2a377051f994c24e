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


def _page_texts(html: str) -> list[str]:
    """The text on each laid-out page, without the running header and footer."""
    from weasyprint import HTML

    def walk(box, out):
        if type(box).__name__ == "MarginBox":
            return
        if type(box).__name__ == "TextBox":
            out.append(box.text)
        for child in getattr(box, "children", None) or []:
            walk(child, out)

    pages = []
    for page in HTML(string=html).render().pages:
        words: list[str] = []
        walk(page._page_box, words)
        pages.append(" ".join(words))
    return pages


def _print_page(body: str) -> str:
    from auditor.report.html import templates_dir

    css = (templates_dir() / "print.css").read_text()
    return f"<html><head><style>{css}</style></head><body>{body}</body></html>"


def test_a_long_table_starts_under_its_heading_and_a_short_one_moves_whole():
    filler = "<p>" + "filler words here " * 420 + "</p>"  # most of the first page
    rows = "".join(f"<tr><td>row{i}</td><td>x</td></tr>" for i in range(60))
    long = (f'{filler}<h4>Counterfactual swaps</h4><div class="table-wrap long"><table>'
            f"<thead><tr><th>Swap</th><th>n</th></tr></thead><tbody>{rows}</tbody></table></div>")
    pages = _page_texts(_print_page(long))
    first = next(i for i, t in enumerate(pages) if "Counterfactual swaps" in t)
    assert "row0" in pages[first]  # the heading is not left alone at the foot of a page
    assert sum("Swap" in t for t in pages) >= 2  # the header row repeats on the next page
    short = "".join(f"<tr><td>short{i}</td></tr>" for i in range(6))
    pages = _page_texts(_print_page(
        f'{filler}<p>{"more " * 150}</p><div class="table-wrap"><table><tbody>{short}'
        f"</tbody></table></div>"))
    assert [i for i, t in enumerate(pages) if "short0" in t] == \
        [i for i, t in enumerate(pages) if "short5" in t]  # never split


def test_tables_past_long_rows_are_marked_long():
    from auditor.report.html import LONG_ROWS, environment

    table = environment().get_template("macros.html.j2").module.table
    assert 'class="table-wrap long"' in str(table(["a"], [[i] for i in range(LONG_ROWS + 1)]))
    assert 'class="table-wrap"' in str(table(["a"], [[i] for i in range(LONG_ROWS)]))


def test_a_confusion_arrow_is_never_split_across_lines():
    """repro/4's report.pdf broke "100% of all square-" / ">triangle errors": print breaks lines
    after a hyphen. The PDF holds each escaped arrow together; the HTML keeps its text."""
    from auditor.report.pdf import hold_arrows

    for width in (60, 75, 105):  # the arrow falls at the end of a line at some width
        html = _print_page(f'<p style="width: {width}px; font-size: 12px">100% of all '
                           "square-&gt;triangle errors</p>")
        text = " ".join(_page_texts(hold_arrows(html)))
        assert "square-\u2060>triangle" in text, text
    assert hold_arrows("<p>a-&gt;b</p><!-- x -->") == "<p>a-\u2060&gt;b</p><!-- x -->"

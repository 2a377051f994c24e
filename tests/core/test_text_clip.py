"""auditor.common.text.clip: the one way texts are shortened for display."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.common.text import clip


def test_short_texts_are_left_whole():
    assert clip("abc", 3) == "abc" and clip(12, 5) == "12"


def test_the_end_or_the_middle_is_cut():
    assert clip("abcdefghij", 6) == "abcde…"
    assert clip("/data/run-one/a.png", 11, middle=True) == "/data…a.png"


@given(st.text(), st.integers(2, 80), st.booleans())
def test_a_clipped_text_has_its_limit_and_keeps_its_ends(text, limit, middle):
    out = clip(text, limit, middle=middle)
    if len(text) <= limit:
        assert out == text
        return
    assert len(out) == limit
    cut = (limit - 1) // 2 if middle else limit - 1
    assert out[cut] == "…" and text.startswith(out[:cut]) and text.endswith(out[cut + 1:])


def test_span_uses_a_minus_sign_and_to_when_an_end_is_negative():
    from auditor.common.text import span

    assert span("12", "24") == "12–24"
    assert span("-2", "59") == "\u22122 to 59"
    assert span("-0.39", "-0.21") == "\u22120.39 to \u22120.21"
    assert span("-0", "5") == "0–5" and span("-0.0%", "3.0%") == "0.0%–3.0%"

"""The HTML: templates from hand-built view-models, escaping, self-containment, alt text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd

from auditor.report import build_context, render_html, templates_dir
from auditor.report.html import environment

SECTION_IDS = ["verdict", "dataset", "performance", "attention", "spurious", "clusters",
               "sanity", "comparison", "methods"]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict] = []
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.imgs.append(a)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])


def _parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


def _macros():
    return environment().get_template("macros.html.j2").module


def test_templates_dir_holds_the_report_templates():
    d = templates_dir()
    assert (d / "report.html.j2").is_file() and (d / "print.css").is_file()


def test_table_macro_from_a_hand_built_view_model():
    out = str(_macros().table(["Group", "n"], [["hair=dark", "109"], ["<b>x</b>", "3"]],
                              caption="Accuracy"))
    assert '<div class="table-wrap">' in out and "<caption>Accuracy</caption>" in out
    assert '<th scope="row">hair=dark</th><td>109</td>' in out
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out


def test_thumbs_macro_marks_wrong_answers_and_keeps_alt_text():
    thumb = {"src": "data:image/png;base64,AAAA", "alt": "gradcam heatmap over sample 7",
             "correct": "no", "true": "doctor", "pred": "nurse", "conf": "0.93"}
    out = str(_macros().thumbs([thumb], "none"))
    assert 'class="thumb wrong"' in out
    assert 'alt="gradcam heatmap over sample 7"' in out
    assert "true doctor" in out and "pred nurse · 0.93" in out
    assert "none" in str(_macros().thumbs([], "none"))


def test_badge_macro_always_carries_a_text_label():
    out = str(_macros().badge("HIGH", "#A50F15", "#FFFFFF"))
    assert ">HIGH</span>" in out and "background-color: #A50F15" in out


def test_class_and_model_names_are_escaped(fake_run):
    summary, samples, gallery, cfg = fake_run
    evil = "<script>alert(1)</script>"
    s = {**summary, "name": 'x"><img src=x onerror=alert(1)>',
         "dataset": {**summary["dataset"], "classes": [evil, "nurse"],
                     "warnings": ["<b>bold</b> warning"]},
         "models": {evil: {"findings": [{"kind": "group_gap", "severity": "high",
                                         "title": "gap for <i>x</i>", "evidence": {"n": 3}}]}}}
    rows = samples[samples["model"] == "baseline"].assign(
        model=evil, label=lambda d: d["label"].replace("doctor", evil))
    html = render_html(build_context(s, rows, gallery, config_yaml="a: '<script>'",
                                     examples_per_group=1))
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "onerror=alert(1)>" not in html
    assert "<b>bold</b>" not in html and "<i>x</i>" not in html


def test_no_external_urls_and_no_scripts(rendered):
    html = rendered["html"]
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    refs += re.findall(r"""url\(\s*["']?([^"')]*)""", html, flags=re.I)
    assert refs, "expected images and anchors"
    for ref in refs:
        assert not re.match(r"^(https?:)?//", ref.strip(), flags=re.I), ref
        assert ref.startswith(("data:image/png;base64,", "#")), ref[:40]
    assert not re.search(r"https?://", html.split("<pre class=\"config\">")[0])
    assert "script" not in _parse(html).tags


def test_every_image_has_alt_text(rendered):
    imgs = _parse(rendered["html"]).imgs
    assert len(imgs) > 20
    assert all((img.get("alt") or "").strip() for img in imgs)


def test_sections_and_table_of_contents_anchors_resolve(rendered):
    parsed = _parse(rendered["html"])
    assert all(s in parsed.ids for s in SECTION_IDS)
    anchors = [h[1:] for h in parsed.hrefs if h.startswith("#")]
    assert set(SECTION_IDS) <= set(anchors)
    assert all(a in parsed.ids for a in anchors)
    assert "performance-m1-rebalanced" in parsed.ids


def test_report_shows_numbers_behind_the_claims(rendered):
    html = rendered["html"]
    assert "{{" not in html and "{%" not in html  # no template syntax leaked into the text
    assert not re.search(r">[^<]*\b(None|nan)\b", html)  # missing values show as dashes
    assert "error bars are 95% CIs" in html
    assert "Not ready to ship" in html
    assert html.index('id="verdict"') < html.index('id="dataset"') < html.index('id="methods"')
    assert "McNemar test on per-sample correctness" in html and "p = 0.002" in html
    assert "Lift 95% CI" in html and "Flip rate" in html
    assert "seed" in html and "sha256:9f2c4e" in html
    assert "test/broken_001.png" in html and "cannot decode image" in html
    assert '<meta name="viewport"' in html and 'media="screen and (max-width: 600px)"' in html


def test_single_model_report_says_there_is_nothing_to_compare(fake_run):
    summary, samples, _, cfg = fake_run
    one = {**summary, "models": {"baseline": summary["models"]["baseline"]},
           "comparisons": []}
    html = render_html(build_context(one, pd.DataFrame(), None, config_yaml=cfg,
                                     examples_per_group=0))
    assert "Only one model was audited" in html
    assert "No images or maps were available" not in html  # no mass columns -> no section 4
    assert "No attention masses for this model" in html


def test_cluster_scatter_caption_says_when_it_shows_a_subset():
    """The scatter holds at most 2,000 errors (t-SNE cost); its caption then says how many of
    how many, and says nothing extra when it holds them all."""
    import pandas as pd

    from auditor.report.evidence import clusters
    from auditor.report.gallery import ThumbnailBudget

    model = {"clusters": [{"id": 0, "size": 3}, {"id": 1, "size": 2}],
             "cluster_projection": [{"id": f"s{i}", "x": float(i), "y": 0.0, "cluster": i % 2}
                                    for i in range(4)]}
    kw = {"regions": [], "method": None, "provider": None, "examples_per_group": 0,
          "budget": ThumbnailBudget(0)}
    caption = clusters("m", model, pd.DataFrame(), **kw)["scatter"]["caption"]
    assert caption.startswith("Each point is one misclassified sample (a random 4 of 5);")
    model["cluster_projection"].append({"id": "s4", "x": 4.0, "y": 0.0, "cluster": 0})
    caption = clusters("m", model, pd.DataFrame(), **kw)["scatter"]["caption"]
    assert caption == "Each point is one misclassified sample; grey points belong to no cluster."


def test_next_steps_show_under_the_verdict_with_code_spans_escaped(fake_run):
    summary, samples, gallery, _ = fake_run
    evil = "<b>hair</b>"
    shortcut = {"kind": "spurious_cue", "severity": "high", "title": "t", "evidence": {
        "region": "face", "severity_reasons": ["swap_follows"],
        "causal": {"swap": {"attribute": evil, "features": {"label": "nurse"}}}}}
    block = {**summary["models"]["baseline"], "findings": [shortcut], "verdict": None}
    s = {**summary, "models": {"baseline": block}}
    html = render_html(build_context(s, samples[samples["model"] == "baseline"], gallery,
                                     config_yaml="", examples_per_group=1))
    assert "<strong>What to do</strong>" in html
    assert ("<code>audit rebalance CONFIG --by &lt;b&gt;hair&lt;/b&gt; --out FILE</code>"
            in html)
    assert "<b>hair</b>" not in html and "`" not in html.split('<pre class="config">')[0]

"""HTML bar charts (report/bars.py): widths, labels and clipping on hand-made values."""

from auditor.report.bars import SEGMENT_LABEL_MIN, grouped_chart, stacked_segments
from auditor.report.palette import BACKGROUND

COLORS = {"face": "#E69F00", "object": "#0072B2", "background": "#999999"}


def test_stacked_row_widths_labels_and_text_colour():
    segs = stacked_segments({"face": 0.25, "object": 0.05, "background": 0.7},
                            ["face", "object", "background"], COLORS)
    assert [s["width"] for s in segs] == ["25.00%", "5.00%", "70.00%"]
    assert [s["pct"] for s in segs] == ["25%", "5%", "70%"]
    # a segment narrower than SEGMENT_LABEL_MIN carries no text inside
    assert [s["show"] for s in segs] == [True, 0.05 >= SEGMENT_LABEL_MIN, True]
    assert segs[1]["text"] == "#FFFFFF" and segs[2]["text"] == "#1A1A1A"


def test_stacked_row_never_exceeds_100_percent_and_treats_missing_as_zero():
    segs = stacked_segments({"face": 0.7, "object": float("nan"), "background": 0.6},
                            ["face", "object", "background"], COLORS)
    # 0.7 + 0.6 > 1: the last segment is cut to what is left; NaN and missing are 0
    assert [s["width"] for s in segs] == ["70.00%", "0.00%", "30.00%"]
    segs = stacked_segments({}, ["face"], {})
    assert segs[0]["width"] == "0.00%" and segs[0]["color"] == BACKGROUND


def test_grouped_chart_one_bar_per_series_per_category():
    chart = grouped_chart(["face", "object"], {"before": [0.34, 0.02],
                                               "after": [0.08, float("nan")]},
                          {"before": "#0072B2", "after": "#D55E00"}, title="t", alt="a")
    assert [g["label"] for g in chart["groups"]] == ["face", "object"]
    face, obj = chart["groups"]
    assert [(b["name"], b["width"], b["value"]) for b in face["bars"]] == [
        ("before", "34.00%", "34%"), ("after", "8.00%", "8%")]
    assert obj["bars"][1]["width"] == "0.00%" and obj["bars"][1]["value"] == "–"
    assert chart["legend"] == [{"name": "before", "color": "#0072B2"},
                               {"name": "after", "color": "#D55E00"}]

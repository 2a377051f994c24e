"""Colours: one per region and model, colour-blind-safe, AA contrast for every badge."""

from auditor.report.palette import (
    BACKGROUND,
    OKABE_ITO,
    SEVERITY,
    contrast_ratio,
    model_colors,
    region_colors,
)


def test_background_region_is_neutral_grey_and_others_distinct():
    colors = region_colors(["face", "hair", "object", "background"])
    assert colors["background"] == BACKGROUND
    named = [colors[r] for r in ("face", "hair", "object")]
    assert len(set(named)) == 3
    assert all(c in OKABE_ITO for c in named)


def test_colours_follow_report_order_and_background_takes_no_slot():
    colors = region_colors(["background", "face", "object"])
    assert colors == {"background": BACKGROUND, "face": OKABE_ITO[0], "object": OKABE_ITO[1]}
    models = model_colors(["baseline", "rebalanced", "dfr"])
    assert len(set(models.values())) == 3
    assert model_colors(["baseline"])["baseline"] == models["baseline"]  # first model, same hue


def test_severity_badges_meet_wcag_aa_contrast():
    for sev, (fill, text, label) in SEVERITY.items():
        assert label == sev.upper()
        assert contrast_ratio(text, fill) >= 4.5, sev


def test_body_text_colours_meet_wcag_aa_on_white():
    for colour in ("#1a1a1a", "#4d4d4d", "#0b57a4", "#a50f15", "#333333"):
        assert contrast_ratio(colour.upper(), "#FFFFFF") >= 4.5, colour
    assert round(contrast_ratio("#000000", "#FFFFFF"), 1) == 21.0


def test_labels_inside_coloured_bars_meet_aa_contrast():
    from auditor.report.palette import text_on

    for fill in (*OKABE_ITO, BACKGROUND):
        assert contrast_ratio(text_on(fill), fill) >= 4.5, fill

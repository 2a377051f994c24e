"""Number formatting and evidence flattening used all over the report."""

from auditor.report import fmt as f
from auditor.report.evidence import sanity
from auditor.report.sections import performance


def test_rates_and_intervals_format_with_dashes_for_missing():
    assert f.pct(0.8234) == "82.3%" and f.pct(None) == "–" and f.pct(float("nan")) == "–"
    assert f.pct_ci([0.78, 0.86]) == "78.0–86.0%" and f.pct_ci([0.1]) == "–"
    assert f.num(-0.0001, 3) == "0.000" and f.num(-0.5) == "-0.50"
    assert f.pvalue(0.0004) == "<0.001" and f.pvalue(0.0213) == "0.021"
    assert f.sentence("gap for hair=dark") == "Gap for hair=dark."


def test_evidence_items_keep_numbers_and_drop_nested_records():
    ev = {"method": "gradcam", "spearman": 0.6788, "ci": [0.1, 0.2], "passed": False,
          "per_layer": [{"layer": "fc", "spearman": 0.0}], "features": {"hair": "dark"},
          "deep": {"a": {"b": 1}}}
    got = dict(f.items(ev))
    assert got == {"method": "gradcam", "spearman": "0.679", "CI": "[0.1, 0.2]", "passed": "no",
                   "features": "hair=dark"}


def test_flatten_walks_nested_deltas():
    delta = {"accuracy": 0.07, "attention": {"gradcam": {"face": -0.4}}, "list": [1, 2, 3]}
    assert f.flatten(delta) == [("accuracy", 0.07), ("attention gradcam face", -0.4)]


def test_sanity_lists_per_layer_similarities():
    s = sanity({"sanity": {"method": "gradcam", "spearman": 0.68, "passed": False,
                           "per_layer": [{"layer": "fc", "spearman": 0.0, "ssim": 0.001},
                                         {"layer": "stem.0", "spearman": 0.68, "ssim": 0.35}]}})
    assert s["label"] == "FAILED" and "caution" in s["verdict"]
    assert s["layers"] == [["fc", "0.000", "0.001"], ["stem.0", "0.680", "0.350"]]
    assert "per layer" not in dict(s["rows"])


def test_intersectional_worst_group_gets_its_interval_and_count():
    import pandas as pd

    model = {"metrics": {"accuracy": 0.5, "worst_group": "hair=blond & label=doctor",
                         "worst_group_accuracy": 0.0},
             "performance_detail": {"cells": [{"group": "hair=blond & label=doctor", "n": 8,
                                               "accuracy": 0.0, "ci": [0.0, 0.3244]}]}}
    rows = pd.DataFrame({"correct": [True, False]})
    worst = performance(model, rows, classes=[], attributes=[], color="#000000")["headline"][2]
    assert worst["ci"] == "0.0–32.4%" and worst["n"] == "8"


def test_one_number_stored_two_ways_prints_the_same():
    """A 4-class compare showed accuracy '+22.8 pp' beside balanced accuracy '+22.7 pp', both
    0.2275 (one stored as 0.22749999999999998): float noise no longer tips the rounding."""
    from auditor.metrics.base import pct as title_pct
    from auditor.report import fmt

    noisy = 0.22749999999999998
    assert fmt.pp(noisy) == fmt.pp(0.2275) == "+22.8 pp"
    assert fmt.pct(noisy) == fmt.pct(0.2275) == "22.8%"
    assert fmt.pp_ci([noisy, 0.3]) == fmt.pp_ci([0.2275, 0.3])
    assert fmt.pct_ci([noisy, 0.3]) == fmt.pct_ci([0.2275, 0.3])
    assert title_pct(0.13499999999999998) == title_pct(0.135) == "14%"


def test_a_gallery_column_left_empty_by_the_budget_does_not_say_the_cell_is_empty():
    """A 4-class report (an outside review) said "No right answers in this cell" under a
    cell of 25 right and 0 wrong: the thumbnail budget was spent on the classes before it."""
    import numpy as np
    import pandas as pd

    from auditor.report.gallery import ThumbnailBudget
    from auditor.report.sections import where_it_looks

    class Provider:
        def image(self, sample_id):
            return np.zeros((8, 8, 3), np.uint8)

        def saliency(self, model, sample_id, method):
            return np.ones((2, 2), np.float32)

    rows = pd.DataFrame({"id": [f"s{i}" for i in range(8)], "label": ["a"] * 4 + ["b"] * 4,
                         "pred": ["a", "a", "a", "b", "b", "b", "b", "b"], "hair": "dark",
                         "confidence": 0.9, "mass_gradcam_face": 0.5,
                         "mass_gradcam_background": 0.5})
    rows["correct"] = rows["label"] == rows["pred"]
    looks = where_it_looks("m", rows, methods=["gradcam"], regions=["face", "background"],
                           classes=["a", "b"], attributes=["hair"],
                           region_colors={"face": "#000000", "background": "#ffffff"},
                           provider=Provider(), examples_per_group=2,
                           budget=ThumbnailBudget(total=3))
    a, b = looks["galleries"]
    assert len(a["right"]) == 2 and len(a["wrong"]) == 1  # the budget of 3, spent on class a
    assert b["right"] == [] and b["right_empty"].startswith("4 right answers, none drawn")
    assert b["wrong_empty"] == "No wrong answers in this cell."
    assert "thumbnails were left out" in looks["gallery_note"]


def test_clusters_keep_distinct_colours_past_the_seven_okabe_ito_ones():
    """A 4-class run's 8 clusters: clusters 0 and 7 shared one orange in the table and the
    scatter."""
    from auditor.report.palette import BACKGROUND, cluster_color

    colours = [cluster_color(k, k) for k in range(15)]
    assert len(set(colours)) == 15 and BACKGROUND not in colours
    assert cluster_color(-1, 3) == BACKGROUND


def test_section_3_shows_each_class_within_each_value_with_the_worst_in_bold():
    import pandas as pd

    def cell(label, hair, acc, n):
        return {"group": f"hair={hair} & label={label}", "features": {"label": label, "hair": hair},
                "n": n, "accuracy": acc, "ci": [acc / 2, (1 + acc) / 2]}

    model = {"metrics": {"accuracy": 0.5, "worst_group": "hair=dark & label=nurse",
                         "worst_group_accuracy": 0.1},
             "by_group": {"hair": {"blond": {"n": 20, "accuracy": 0.5, "ci": [0.3, 0.7]}}},
             "groups": {"cells": [cell("nurse", "dark", 0.1, 10), cell("doctor", "blond", 0.8, 10),
                                  cell("doctor", "dark", 0.1, 10),
                                  {"group": "x", "features": {"label": "nurse", "hair": "blond",
                                                              "skin": "a"}, "accuracy": 0.0}]}}
    rows = pd.DataFrame({"correct": [True, False], "hair": ["blond", "dark"],
                         "label": ["doctor", "nurse"], "pred": ["doctor", "doctor"]})
    table = performance(model, rows, classes=["nurse", "doctor"], attributes=["hair"],
                        color="#000000")["groups"][0]["cells"]
    assert table["columns"] == ["blond", "dark"]
    assert [r["label"] for r in table["rows"]] == ["nurse", "doctor"]  # the classes' order
    nurse, doctor = ([c["text"] for c in r["cells"]] for r in table["rows"])
    assert nurse == ["–", "10.0% (5.0–55.0%, n=10)"]  # no nurse x blond cell (the 3-way one
    assert doctor == ["80.0% (40.0–90.0%, n=10)", "10.0% (5.0–55.0%, n=10)"]  # is left out)
    assert [[c["worst"] for c in r["cells"]] for r in table["rows"]] == \
        [[False, True], [False, True]]  # the worst group and the cell tied with it


def test_intervals_with_a_negative_end_read_with_a_minus_sign_and_to():
    """"(-0.39–-0.21, n=32)" for the saliency check's lowest correlation (a review)."""
    assert f.num_ci([-0.39, -0.21]) == "\u22120.39 to \u22120.21"
    assert f.num_ci([0.2, 0.3]) == "0.20–0.30"
    assert f.pct_ci([-0.02, 0.59]) == "\u22122.0 to 59.0%"


def test_section_3_bolds_only_competing_worst_cells_and_counts_them_in_the_caption():
    """Four shapes (a review): cells under min_group_size (cross & patch=blue, n=7, with
    min_group_size 10) were bold at the worst accuracy though they do not compete, and the
    caption said "the worst is in bold" over 9 bold cells."""
    import pandas as pd

    def cell(label, patch, acc, n):
        return {"group": f"label={label} & patch={patch}",
                "features": {"label": label, "patch": patch}, "n": n, "accuracy": acc,
                "ci": [acc / 2, (1 + acc) / 2]}

    cells = [cell("circle", "blue", 0.0, 40), cell("circle", "red", 0.0, 30),
             cell("cross", "blue", 0.0, 7), cell("cross", "red", 0.9, 12)]
    model = {"metrics": {"accuracy": 0.5, "worst_group": "label=circle & patch=blue",
                         "worst_group_accuracy": 0.0},
             "by_group": {"patch": {"blue": {"n": 47, "accuracy": 0.1, "ci": [0.0, 0.2]}}},
             "groups": {"cells": cells, "min_group_size": 10}}
    rows = pd.DataFrame({"correct": [True], "patch": ["blue"], "label": ["circle"],
                         "pred": ["circle"]})

    def table(m):
        return performance(m, rows, classes=["circle", "cross"], attributes=["patch"],
                           color="#000000")["groups"][0]["cells"]

    t = table(model)
    assert [[c["worst"] for c in r["cells"]] for r in t["rows"]] == \
        [[True, True], [False, False]]  # cross & blue (n=7) does not compete
    assert t["note"] == ("cells of at least 10 samples compete; the 2 cells tied for worst "
                         "are in bold")
    t = table({**model, "groups": {"cells": cells[:1] + cells[2:], "min_group_size": 10}})
    assert t["note"] == "cells of at least 10 samples compete; the worst is in bold"
    small = [cell("circle", "blue", 0.0, 4), cell("cross", "blue", 0.0, 3)]
    t = table({**model, "groups": {"cells": small, "min_group_size": 10}})
    assert t["note"] == ("no cell has 10 samples, so every cell competes; the 2 cells tied "
                         "for worst are in bold")

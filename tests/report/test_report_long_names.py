"""A class label of 10,000 characters: shown shortened everywhere in the report (it appeared
129 times and kept weasyprint busy for over 10 minutes; 2,000 characters took 122 s)."""

from __future__ import annotations

import pandas as pd

from auditor.report.long_names import MAX_NAME, shorten_long_names

LONG = "nurse " + "x" * 10_000
OTHER = "nurse " + "x" * 9_000 + "y"  # same first characters: must stay apart


def _run():
    summary = {"dataset": {"classes": ["doctor", LONG, OTHER], "attributes": ["hair"],
                           "counts": [{"split": "test", "label": LONG, "hair": "z" * 500,
                                       "n": 3}]},
               "models": {"m": {"findings": [{"title": f"Class {LONG} is misclassified",
                                              "evidence": {"group": f"label={LONG}"}}],
                                "by_group": {"hair": {"z" * 500: {"n": 3}}}}}}
    samples = pd.DataFrame({"id": ["a", "b", "c"], "label": [LONG, "doctor", OTHER],
                            "pred": ["doctor", LONG, LONG], "hair": ["z" * 500, "d", "d"]})
    return summary, samples


def test_long_names_are_short_everywhere_and_stay_apart():
    summary, samples = _run()
    short, rows = shorten_long_names(summary, samples)
    text = repr(short) + samples.to_csv()
    assert "x" * 100 not in repr(short) and "z" * 100 not in repr(short)
    assert "x" * 100 not in rows.to_csv() and "z" * 100 not in rows.to_csv()
    assert "[10006 characters" in short["models"]["m"]["findings"][0]["title"]
    long_short, other_short = short["dataset"]["classes"][1:]
    assert long_short != other_short and max(map(len, (long_short, other_short))) < 100
    assert rows["label"].tolist()[0] == rows["pred"].tolist()[1] == long_short  # consistent
    assert all(len(k) <= 100 for k in short["models"]["m"]["by_group"]["hair"])
    assert LONG in text  # the caller's summary is left as it was (summary.json keeps it)


def test_short_names_leave_everything_as_it_is():
    summary = {"dataset": {"classes": ["doctor", "n" * MAX_NAME], "attributes": []}}
    samples = pd.DataFrame({"label": ["doctor"], "pred": ["doctor"]})
    out, rows = shorten_long_names(summary, samples)
    assert out is summary and rows is samples

"""Section 6's view-model: what the concept table says of a concept's associations."""

import pandas as pd

from auditor.report.cues import unannotated_cues
from auditor.report.gallery import ThumbnailBudget


def _concepts(p_adj, odds_ratio=2.7, rate_out=0.98):
    test = {"what": "attribute", "attribute": "hair", "value": "blond", "rate_in": 0.993,
            "n_in": 134, "rate_out": rate_out, "n_out": 122, "odds_ratio": odds_ratio,
            "p_adj": p_adj}
    return {"n": 1, "grid": [8, 8], "items": [{"concept": 1, "rate": 0.996, "ci": [0.98, 1.0],
                                               "n": 256, "importance": {}, "tests": [test],
                                               "top": []}]}


def _association(p_adj, **kw):
    model = {"concepts": _concepts(p_adj, **kw), "hotspots": []}
    view = unannotated_cues("m", model, pd.DataFrame({"id": []}), attributes=["hair"],
                            annotated=True, provider=None, budget=ThumbnailBudget(),
                            examples=0)
    (row,) = view["concepts"]
    return row["association"]


def test_a_strongest_association_that_is_not_significant_says_so():
    text = _association(1.0)
    assert text.startswith("none significant (strongest: hair=blond: present in 99.3% (n=134) "
                           "vs 98.0% (n=122)")
    assert _association(1e-6).startswith("hair=blond: present in 99.3%")


def test_a_depletion_is_not_an_association():
    """A null set (a review): "Strongest association: patch=blue: present in 22.0% … vs 37.9%,
    odds ratio 0.48". The one-sided test looks for over-representation only; a concept that
    is rarer in a group is no association with it."""
    text = _association(1.0, odds_ratio=0.48, rate_out=1.0)
    assert "patch" not in text and "hair=blond" not in text and "strongest" not in text
    assert text == ("none: present no more often in any subgroup or among any class's errors "
                    "than outside it")

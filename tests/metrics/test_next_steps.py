"""The verdict's next steps, on hand-made summary blocks: each kind of evidence gets the step
that acts on it, a step already covered by another is not repeated, at most three."""

from auditor.metrics.next_steps import MAX_STEPS
from auditor.metrics.verdict import comparison_headline, model_verdict


def _f(kind, severity="high", **evidence):
    return {"kind": kind, "severity": severity, "title": "t", "evidence": evidence}


def _shortcut(region="face", attribute="hair"):
    swap = {"swap": f"{attribute}:{region}", "attribute": attribute,
            "features": {"label": "nurse"}, "follow_rate": 0.9, "follow_ci": [0.8, 0.95],
            "n_follow": 100} if attribute else None
    masking = {"features": {"label": "nurse"}, "rate": 0.9, "ci": [0.8, 0.95], "n": 100}
    return _f("spurious_cue", region=region, features={"label": "nurse"},
              severity_reasons=["swap_follows" if attribute else "reliance"],
              causal={"swap": swap, "masking": masking})


def _gap(attribute="hair"):
    return _f("group_gap", worst_group={
        "group": f"{attribute}=dark & label=nurse",
        "features": {"label": "nurse", attribute: "dark"},
        "n": 150, "accuracy": 0.74, "ci": [0.66, 0.80]})


def _steps(*findings, n=600):
    return model_verdict({"findings": list(findings), "n": n,
                          "metrics": {"accuracy": 0.9}})["next"]


def test_a_shortcut_asks_to_rebalance_by_its_attribute_and_covers_its_group_gap():
    steps = _steps(_shortcut(), _gap(), _f("chance_level"))
    assert len(steps) == 1  # the gap is on hair, the chance level is the shortcut's doing
    assert "`audit rebalance CONFIG --by hair --out FILE`" in steps[0]
    assert "`balance_by: [hair]`" in steps[0] and "`audit compare`" in steps[0]
    other = _steps(_shortcut(), _gap("skin"))  # a gap on another attribute stays
    assert len(other) == 2 and "class nurse, skin=dark" in other[1]
    assert "74% accurate, 66%–80%, n=150" in other[1]


def test_a_shortcut_without_an_attribute_asks_for_disagreeing_images():
    steps = _steps(_shortcut("background", attribute=None))
    assert steps == ["Add training images where the background and the class disagree (or "
                     "blur the background in them); retrain, then check the change with "
                     "`audit compare`."]


def test_chance_and_ignored_region_without_a_shortcut_ask_what_the_model_reads():
    steps = _steps(_f("chance_level"), _f("ignored_region", region="object"))
    assert steps[0].startswith("Check that the audit images are labelled and prepared")
    assert steps[1].startswith("Find out what the model reads instead of the object")
    hot = _f("hotspot", where="top left corner (x 0-10%)")
    with_area = _steps(_f("chance_level"), _f("ignored_region", region="object"), hot)
    assert len(with_area) == 1 and "area at the top left corner" in with_area[0]


def test_at_most_three_steps_the_sanity_check_first():
    steps = _steps(_f("unreliable_saliency"), _shortcut("face"), _shortcut("hat", "skin"),
                   _f("hotspot", where="bottom edge"))
    assert len(steps) == MAX_STEPS
    assert steps[0].startswith("Do not act on the attention numbers yet")
    assert "the face" in steps[1] and "the hat" in steps[2]


def test_empty_maps_are_not_called_a_failed_sanity_check():
    """The empty-maps finding is unreliable_saliency too; its step named 'the saliency sanity
    check failed (section 8)' on a run where that check never ran."""
    empty = {"kind": "unreliable_saliency", "severity": "high", "title": "t",
             "evidence": {"method": "gradcam", "test": "empty_maps"}}
    (step,) = _steps(empty)
    assert "sanity check" not in step and "maps are empty (all zero)" in step
    assert "sanity check failed" in _steps(_f("unreliable_saliency"))[0]


def test_medium_only_clean_and_small_audits():
    assert _steps(_f("disparity", "medium"), _f("slice", "medium"))[0].startswith(
        "Read the 2 medium-severity flags")
    assert _steps()[0].startswith("Nothing to fix from this audit")
    assert _steps(n=20)[0].startswith("Audit more images")


def test_headline_gives_the_accuracy_change_with_wilson_intervals():
    def block(acc):
        return {"findings": [], "n": 100, "metrics": {
            "accuracy": acc, "worst_group_accuracy": acc, "worst_group": "g"},
            "groups": {"cells": [{"group": "g", "n": 100, "accuracy": acc, "ci": [0.1, 0.2]}]}}
    text = comparison_headline({"a": block(0.5), "b": block(0.9)}, "a")
    # Wilson 95%: 50/100 -> 40.4%-59.6%, 90/100 -> 82.6%-94.5% (hand-computed)
    assert "; accuracy 50% (40%–60%, n=100) → 90% (83%–94%, n=100), worst-group accuracy" in text


def test_a_shortcut_the_balanced_training_kept_asks_for_new_images_not_rebalancing():
    """The digits model trained group-balanced by scene still took the background shortcut:
    'rebalance it by scene' was the step it had already taken."""
    v = model_verdict({"findings": [_shortcut("background", "scene")], "n": 400,
                       "metrics": {"accuracy": 0.5}}, balanced_by=["scene"])
    assert len(v["next"]) == 1 and "audit rebalance" not in v["next"][0]
    assert v["next"][0].startswith("Add training images where the background and the class "
                                   "disagree: the model was trained on data balanced by scene")
    other = model_verdict({"findings": [_shortcut("background", "scene")], "n": 400,
                           "metrics": {"accuracy": 0.5}}, balanced_by=["hair"])
    assert "--by scene" in other["next"][0]


def test_balanced_attributes_reads_counts_and_sampling_weights():
    import pandas as pd

    from auditor.metrics.groups import balanced_attributes

    rows = pd.DataFrame({"label": ["a"] * 4 + ["b"] * 4,
                         "hair": ["x", "x", "x", "y", "x", "y", "y", "y"],
                         "site": ["p", "q"] * 4})
    # hair: cells a/x 3, a/y 1, b/x 1, b/y 3 -> not balanced; site: every cell 2 -> balanced
    assert balanced_attributes(rows, ["hair", "site"]) == ["site"]
    # weights 1/3 on the large cells, 1 on the small: every hair cell weighs 1
    weighted = rows.assign(weight=[1 / 3, 1 / 3, 1 / 3, 1, 1, 1 / 3, 1 / 3, 1 / 3])
    assert balanced_attributes(weighted, ["hair"]) == ["hair"]
    assert balanced_attributes(rows.assign(one="v"), ["one", "absent"]) == []  # one value
    missing = rows[~((rows["label"] == "b") & (rows["hair"] == "x"))]  # an empty cell
    assert balanced_attributes(missing, ["hair"]) == []


def test_trained_balanced_by_reads_the_training_config_and_the_train_split():
    from types import SimpleNamespace

    import pandas as pd

    from auditor.config import ModelConfig
    from auditor.pipeline.model_summary import trained_balanced_by

    train = pd.DataFrame({"label": ["a", "a", "b", "b"], "hair": ["x", "x", "x", "y"],
                          "site": ["p", "q", "p", "q"], "split": "train"})
    bundle = SimpleNamespace(table=train, attributes=["hair", "site"])

    def model(**train_cfg):
        return ModelConfig(name="m", train={"epochs": 1, **train_cfg})

    assert trained_balanced_by(model(), bundle) == ["site"]  # the data is balanced by site
    assert trained_balanced_by(model(balance="group", balance_by=["hair"]), bundle) == \
        ["hair", "site"]
    assert trained_balanced_by(model(loss="group_weighted", balance_by=["hair"]), bundle) == \
        ["hair", "site"]
    assert trained_balanced_by(model(epochs=0), bundle) == []  # not trained here: unknown

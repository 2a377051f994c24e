"""What to do next about one model: at most three steps, the most pressing first.

A pure function on a model's summary block and what :func:`auditor.metrics.verdict.model_verdict`
has already read from it (its shortcuts, ignored regions and hotspot places), so the verdict,
the report and the CLI give the same steps. Each step names the evidence it answers and a
command or config key that acts on it:

* a shortcut through a region -> break the link between that region and the class in the
  training data (rebalance by the attribute the swap evidence used; when the training data
  was balanced by it already, add images where region and class disagree), retrain, compare;
* an unannotated area the decisions depend on -> look at its images; if it is not the object,
  crop or cover it in training;
* a model at chance with no shortcut to explain it -> check how the audit images are prepared
  and labelled;
* an ignored expected region with nothing else to explain it -> find what the model reads;
* a group gap or an error cluster whose attribute no step above covers -> more training
  images of the worst group (oversampling only repeats the few there are), or look at the
  cluster's images;
* unreliable maps -> do not act on the attention numbers until the maps pass;
* medium flags only -> read them; no flag -> say what the audit did not test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.metrics.base import describe_group, pct

__all__ = ["MAX_STEPS", "next_steps"]

#: Steps given at most (the report lists every flag below them).
MAX_STEPS = 3


def _highs(block: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [f for f in block.get("findings") or []
            if f.get("kind") == kind and f.get("severity") == "high"]


def _attribute(finding: Mapping[str, Any]) -> str | None:
    """The attribute a shortcut finding's evidence turns on: the swap's, else the first
    non-label feature of its cell."""
    ev = finding.get("evidence") or {}
    swap = (ev.get("causal") or {}).get("swap") or {}
    if swap.get("attribute"):
        return str(swap["attribute"])
    for feats in (ev.get("features"), ((ev.get("causal") or {}).get("masking") or {})
                  .get("features")):
        for key in feats or {}:
            if key != "label":
                return str(key)
    return None


def _shortcut_step(region: str, attribute: str | None, balanced_by: Sequence[str]) -> str:
    if attribute and attribute in balanced_by:  # rebalancing was done: it repeats too few
        return (f"Add training images where the {region} and the class disagree: the model "
                f"was trained on data balanced by {attribute} and still takes the shortcut, "
                f"because balancing repeats the few such images there are (or paste the "
                f"{region} of images of other classes in, as the swap test does); retrain, "
                f"then check the change with `audit compare`.")
    if attribute:
        return (f"Break the link between the {region} and the class in the training data: "
                f"rebalance it by {attribute} (`audit rebalance CONFIG --by {attribute} --out "
                f"FILE`, or `train.balance: group` with `balance_by: [{attribute}]` when "
                f"auditor trains the model), or add images where the {region} and the class "
                f"disagree; retrain, then check the change with `audit compare`.")
    return (f"Add training images where the {region} and the class disagree (or blur the "
            f"{region} in them); retrain, then check the change with `audit compare`.")


def _gap_step(finding: Mapping[str, Any]) -> tuple[str | None, str]:
    worst = (finding.get("evidence") or {}).get("worst_group") or {}
    feats = dict(worst.get("features") or {})
    attribute = next((str(k) for k in feats if k != "label"), None)
    acc, ci = worst.get("accuracy"), worst.get("ci") or [None, None]
    at = (f" ({pct(acc)} accurate, {pct(ci[0])}–{pct(ci[1])}, n={worst.get('n')})"
          if acc is not None and None not in ci else "")
    who = describe_group(feats) if feats else str(worst.get("group") or "the worst group")
    return attribute, (f"Add training images of {who}, the group it fails most{at}: "
                       f"oversampling only repeats the few there are. Retrain, then check "
                       f"the change with `audit compare`.")


def _cluster_step(finding: Mapping[str, Any]) -> tuple[str | None, str]:
    ev = finding.get("evidence") or {}
    top = ev.get("top_enrichment") or {}
    attribute = top.get("attribute")
    what = (f", enriched for {attribute}={top.get('value')}" if attribute else "")
    return (str(attribute) if attribute else None,
            f"Look at the images of the error cluster of {ev.get('size')}{what} in section 7 "
            f"for what they have in common, and add training images like them.")


def next_steps(block: Mapping[str, Any], *, status: str,
               shortcuts: Mapping[str, Mapping[str, Any]], ignored: Sequence[str],
               areas: Sequence[str], balanced_by: Sequence[str] = ()) -> list[str]:
    """At most :data:`MAX_STEPS` steps for the model of ``block`` (a ``models[NAME]`` block
    of summary.json). ``status``, ``shortcuts`` (region -> its high finding), ``ignored``
    and ``areas`` (where its high hotspots lie) are what its verdict found; ``balanced_by``
    the attributes its training data was already balanced by (rebalancing by one again is
    no step). See the module docstring for the rules."""
    steps: list[str] = []
    covered: set[str] = set()
    unreliable = _highs(block, "unreliable_saliency")
    if any((f.get("evidence") or {}).get("test") != "empty_maps" for f in unreliable):
        steps.append("Do not act on the attention numbers yet: the saliency sanity check "
                     "failed (section 8), so the maps may not show what the model uses; try "
                     "another `saliency.target_layer` or method.")
    elif unreliable:  # the maps are empty: the check may not even have run
        steps.append("Do not act on the attention numbers yet: the saliency maps are empty "
                     "(all zero) for most images, so they show nowhere the model looks; try "
                     "another `saliency.target_layer` or method (layercam, scorecam).")
    for region, finding in shortcuts.items():
        attribute = _attribute(finding)
        covered.add(attribute or "")
        steps.append(_shortcut_step(region, attribute, balanced_by))
    for place in areas:
        steps.append(f"Look at the images of the area at the {place} (section 6): if it is not "
                     f"part of the object (a mark, a border, text), crop or cover it in the "
                     f"training images; retrain, then check with `audit compare`.")
    explained = bool(shortcuts or areas)
    if _highs(block, "chance_level") and not explained:
        steps.append("Check that the audit images are labelled and prepared as in training "
                     "(`classes` in output order, `data.normalize`, `data.image_size`); if "
                     "they are, the model has learned a cue that these images break.")
    if ignored and not explained:
        steps.append(f"Find out what the model reads instead of the {' and the '.join(ignored)}"
                     f": its maps are in section 4, and `analysis.cues: on` searches for areas "
                     f"and features nobody annotated.")
    for kind, make in (("group_gap", _gap_step), ("misclassification_cluster", _cluster_step)):
        for finding in _highs(block, kind)[:1]:
            attribute, step = make(finding)
            if attribute not in covered:
                covered.add(attribute or "")
                steps.append(step)
    if not steps and status == "review":
        m = sum(1 for f in block.get("findings") or [] if f.get("severity") == "medium")
        steps.append(f"Read the {m} medium-severity flag{'s' if m > 1 else ''}: real effects "
                     f"under the bar for high; decide whether they matter where the model will "
                     f"be used." if m else
                     "Audit more images: a few hundred give intervals of about ±5 points.")
    if not steps and status == "ok":
        steps.append("Nothing to fix from this audit. It tested only the attributes and regions "
                     "in the data: a shortcut through anything else would not show here.")
    return steps[:MAX_STEPS]

"""One verdict per model, and a headline of what changed between models.

Pure functions on the ``models[NAME]`` blocks of summary.json (findings, metrics, reliance,
swaps), so the report and the CLI read the same sentences from summary.json:

* :func:`model_verdict` — ``{"status", "text", "counts", "shortcuts", "ignored", "unannotated",
  "next"}``: ``status`` is ``not_ready`` (a high-severity finding), ``review`` (a medium
  one, or no flag on fewer than :data:`MIN_CLEARED` audited images) or ``ok``;
  ``shortcuts`` lists the spurious regions with causal evidence, ``ignored`` the expected
  regions the model does not read, ``unannotated`` where the areas nobody annotated that its
  decisions depend on lie (its high ``hotspot`` findings: masking or pasting them moves its
  predictions), ``next`` at most three steps to take (:mod:`auditor.metrics.next_steps`).
* :func:`comparison_headline` — one sentence per candidate model against the baseline: which
  shortcut it removes, weakens (a medium finding on the region remains), keeps or
  introduces, with the causal number and the worst-group accuracy before and after
  ("rebalanced removes the face shortcut: swapping in the face sends 88% (…) → 4% (…) of
  predictions to the class it goes with; worst-group accuracy 6% (…) → 81% (…)"), every rate
  with its Wilson interval and count. High hotspots are matched across models by where they
  lie (boxes overlapping by at least half of the smaller one): a model keeps, weakens or drops
  its dependence on such an area, or comes to depend on a new one.

The worst group's part of both (its cell, ties among the competing cells, the change between
two models) is :mod:`auditor.metrics.worst_group`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.common.thresholds import RELIANCE_THRESHOLD
from auditor.metrics.base import describe_group, pct
from auditor.metrics.next_steps import next_steps
from auditor.metrics.stats import wilson_ci
from auditor.metrics.worst_group import rate as _rate
from auditor.metrics.worst_group import worst as _worst
from auditor.metrics.worst_group import worst_change as _worst_change
from auditor.metrics.worst_group import worst_name as _worst_name

__all__ = ["MIN_CLEARED", "comparison_headline", "model_verdict"]

_CAUSAL = ("swap_follows", "swap_flips", "reliance", "lead_follows", "conflict_gap")


def _accuracy(block: Mapping[str, Any], level: float) -> str:
    """Accuracy with its Wilson interval over the model's audited images."""
    acc, n = (block.get("metrics") or {}).get("accuracy"), block.get("n")
    if acc is None or not n:
        return _rate(acc, None, n)
    return _rate(acc, wilson_ci(round(acc * int(n)), int(n), level), int(n))


def _shortcuts(block: Mapping[str, Any], severities=("high",)) -> dict[str, Mapping[str, Any]]:
    """Spurious regions with causal evidence -> their finding (the first per region)."""
    out: dict[str, Mapping[str, Any]] = {}
    for f in block.get("findings") or []:
        ev = f.get("evidence") or {}
        if (f.get("kind") == "spurious_cue" and f.get("severity") in severities
                and any(r in _CAUSAL for r in ev.get("severity_reasons") or [])):
            out.setdefault(str(ev.get("region")), f)
    return out


def _ignored(block: Mapping[str, Any]) -> list[str]:
    return sorted({str((f.get("evidence") or {}).get("region")) for f in block.get("findings")
                   or [] if f.get("kind") == "ignored_region" and f.get("severity") == "high"})


def _hotspots(block: Mapping[str, Any], severities=("high",)) -> list[Mapping[str, Any]]:
    """The model's ``hotspot`` findings of these severities (a high one rests on causal
    evidence: masking or pasting the area moves its predictions)."""
    return [f for f in block.get("findings") or []
            if f.get("kind") == "hotspot" and f.get("severity") in severities]


def _place(f: Mapping[str, Any]) -> str:
    """``'top left corner'``: where a hotspot lies, without its coordinates."""
    return str((f.get("evidence") or {}).get("where") or "image").split(" (")[0]


def _overlap(a: Any, b: Any) -> float:
    """Intersection of two boxes ``[x0, y0, x1, y1]`` over the smaller one's area."""
    if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))
            and len(a) == len(b) == 4):
        return 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return max(w, 0.0) * max(h, 0.0) / small if small > 0 else 0.0


def _same_area(f: Mapping[str, Any], others: list[Mapping[str, Any]]
               ) -> Mapping[str, Any] | None:
    """The finding of ``others`` whose hotspot box overlaps ``f``'s most (at least half of
    the smaller box), or None."""
    box = (f.get("evidence") or {}).get("box")
    scored = [(_overlap(box, (o.get("evidence") or {}).get("box")), i)
              for i, o in enumerate(others)]
    best = max(scored, default=(0.0, -1))
    return others[best[1]] if best[0] >= 0.5 else None


def _hot_rate(f: Mapping[str, Any], test: str) -> str:
    """``'50% (44%–56%, n=256) of all samples'``: a hotspot's masking flips (``test`` =
    ``reliance``) or paste follow rate (``paste``) in the cell its finding reports."""
    ev = (f.get("evidence") or {}).get(test) or {}
    rate, ci, n = ((ev.get("flip_rate"), ev.get("ci"), ev.get("n")) if test == "reliance" else
                   (ev.get("follow_rate"), ev.get("follow_ci"), ev.get("n_follow")))
    return "n/a" if rate is None else f"{_rate(rate, ci, n)} of {ev.get('cell')}"


def _hot_test(f: Mapping[str, Any]) -> str:
    """The test a high hotspot rests on: ``reliance`` (masking) when its flips reach the
    threshold, else ``paste`` when the paste is followed."""
    ev = f.get("evidence") or {}
    rate = (ev.get("reliance") or {}).get("flip_rate")
    paste = (ev.get("paste") or {}).get("follows")
    bar = ev.get("reliance_threshold") or RELIANCE_THRESHOLD
    return "paste" if paste and (rate is None or rate < bar) else "reliance"


_HOT_VERB = {"reliance": "masking it changes",
             "paste": "pasting it from an image called another class sends there"}


def _hot_change(f: Mapping[str, Any], now: Mapping[str, Any] | None = None) -> str:
    """``'masking it changes 50% (…) of all samples → 8% (…) of all samples'``: the test
    ``f`` rests on, with ``now``'s rate for it when given."""
    test = _hot_test(f)
    after = f" → {_hot_rate(now, test)}" if now is not None else ""
    return f"{_HOT_VERB[test]} {_hot_rate(f, test)}{after}"


def _hotspot_changes(base: Mapping[str, Any], block: Mapping[str, Any]) -> list[str]:
    """What became of ``base``'s high hotspots in ``block``, and ``block``'s new ones."""
    before, every = _hotspots(base), _hotspots(block, ("high", "medium", "low"))
    parts = []
    for f in before:
        area = f"the unannotated area at the {_place(f)}"
        now = _same_area(f, every)
        if now is None:
            parts.append(f"no longer looks at {area} (not a hotspot of its attention)")
        elif now.get("severity") == "high":
            parts.append(f"keeps its dependence on {area} ({_hot_change(f, now)})")
        elif now.get("severity") == "medium":
            parts.append(f"weakens its dependence on {area} ({_hot_change(f, now)}; a medium "
                         f"finding on it remains)")
        else:
            parts.append(f"drops its dependence on {area} ({_hot_change(f, now)})")
    parts += [f"comes to depend on an unannotated area at the {_place(f)} ({_hot_change(f)})"
              for f in _hotspots(block) if _same_area(f, before) is None]
    return parts


#: Fewest audited images for which "no serious flags" means something: below it, a 95%
#: interval on an accuracy spans about 30 points and no cell reaches ``min_group_size``
#: twice per class, so the absence of flags is no evidence (status ``review``).
MIN_CLEARED = 50


def model_verdict(block: Mapping[str, Any], *, balanced_by: Sequence[str] = ()
                  ) -> dict[str, Any]:
    """The verdict of one model from its summary block (see the module docstring);
    ``balanced_by``: the attributes its training data was balanced by (for ``next``)."""
    findings = block.get("findings") or []
    counts = {s: sum(1 for f in findings if f.get("severity") == s)
              for s in ("high", "medium", "low")}
    found = _shortcuts(block)
    shortcuts, ignored = sorted(found), _ignored(block)
    metrics = block.get("metrics") or {}
    worst = metrics.get("worst_group_accuracy")
    parts: list[str] = []
    chance = next((f for f in findings if f.get("kind") == "chance_level"
                   and f.get("severity") == "high"), None)
    if chance is not None:
        ev = chance.get("evidence") or {}
        ci = ev.get("ci") or [None, None]
        parts.append(f"does no better than chance (balanced accuracy "
                     f"{_rate(ev.get('balanced_accuracy'), ci, ev.get('n'))} against "
                     f"{pct(ev.get('chance'))})")
    if shortcuts:
        parts.append(f"takes a shortcut through the {' and the '.join(shortcuts)}")
    if ignored:
        parts.append(f"ignores the {' and the '.join(ignored)}")
    areas = list(dict.fromkeys(_place(f) for f in _hotspots(block)))
    if areas:
        what = "an unannotated area" if len(areas) == 1 else "unannotated areas"
        parts.append(f"depends on {what} at the {' and the '.join(areas)}")
    rest = [str(f.get("kind")) for f in findings if f.get("severity") == "high"
            and f.get("kind") not in ("ignored_region", "hotspot", "chance_level")
            and not (f.get("kind") == "spurious_cue"
                     and str((f.get("evidence") or {}).get("region")) in shortcuts)]
    if rest:
        kinds = ", ".join(k.replace("_", " ") + (f" ×{rest.count(k)}" if rest.count(k) > 1 else "")
                          for k in dict.fromkeys(rest))
        parts.append(f"has {len(rest)} {'other ' if parts else ''}high-severity "
                     f"flag{'s' if len(rest) > 1 else ''} ({kinds})")
    if counts["high"]:
        status, lead = "not_ready", "Not ready to ship"
    elif counts["medium"]:
        status, lead = "review", "Review before shipping"
        m = counts["medium"]
        parts.append(f"has {m} medium-severity flag{'s' if m > 1 else ''} to review")
    elif block.get("n") is not None and int(block["n"]) < MIN_CLEARED:
        status, lead = "review", "Too few images to clear it"
        parts.append(f"raised no serious flag on {int(block['n'])} audited images, "
                     f"too few for the tests to find one (audit at least {MIN_CLEARED})")
    else:
        status, lead = "ok", "No serious flags"
    if parts:
        text = f"{lead}: it " + (", ".join(parts[:-1]) + " and " if len(parts) > 1 else "") \
            + parts[-1]
    else:
        text = f"{lead}: no high- or medium-severity evidence cleared its threshold"
    if worst is not None:
        text += f"; worst-group accuracy {_worst(block)} ({_worst_name(block)})"
    steps = next_steps(block, status=status, shortcuts={r: found[r] for r in shortcuts},
                       ignored=ignored, areas=areas, balanced_by=balanced_by)
    return {"status": status, "text": text + ".", "counts": counts, "shortcuts": shortcuts,
            "ignored": ignored, "unannotated": areas, "next": steps}


def _cell_rates(block: Mapping[str, Any], ev: Mapping[str, Any]) -> dict[str, Any] | None:
    """The same cell's rates in ``block`` as the causal evidence ``ev`` names."""
    feats = dict(ev.get("features") or {})
    if "hole_ci" in ev or "swap" in ev:  # a lead paste's or a swap's evidence
        entry = ((block.get("leads") or {}).get(ev.get("region")) if "hole_ci" in ev
                 else (block.get("swaps") or {}).get(ev["swap"])) or {}
        label = feats.pop("label", None)
        if label is None:
            return entry or None
        if feats:
            (attr, value), = feats.items()
            return ((entry.get("by_cell") or {}).get(attr, {}).get(label, {}).get(value))
        return (entry.get("by_class") or {}).get(label)
    region = ev.get("region")
    entry = (block.get("reliance") or {}).get(region) or {}
    label = feats.pop("label", None)
    if label is None:
        return entry or None
    if feats:
        (attr, value), = feats.items()
        return (entry.get("by_group") or {}).get(attr, {}).get(value)  # no class x value cell
    return (entry.get("by_class") or {}).get(label)


def _causal_change(region: str, finding: Mapping[str, Any], after: Mapping[str, Any]
                   ) -> tuple[str, bool]:
    """The causal rate of ``finding`` (the baseline's) before and after, as a phrase, and
    whether it fell significantly (the interval after lies below the one before)."""
    text, b_ci, a_ci = _causal_rates(region, finding, after)
    fell = bool(b_ci and a_ci and b_ci[0] is not None and a_ci[1] is not None
                and b_ci[0] > a_ci[1])
    return text, fell


def _causal_rates(region: str, finding: Mapping[str, Any], after: Mapping[str, Any]
                  ) -> tuple[str, Sequence[float | None] | None, Sequence[float | None] | None]:
    ev = finding.get("evidence") or {}
    causal = ev.get("causal") or {}
    swap, mask, lead = causal.get("swap"), causal.get("masking"), causal.get("lead")
    reasons = ev.get("severity_reasons") or []

    def of(e: Mapping[str, Any]) -> str:  # whose predictions: the cell the evidence read
        feats = e.get("features")
        return f"of predictions for {describe_group(feats)}" if feats else "of predictions"

    if lead and "lead_follows" in reasons and "swap_follows" not in reasons:
        a = _cell_rates(after, {**lead, "region": region}) or {}
        b = _rate(lead.get("follow_rate"), lead.get("follow_ci"), lead.get("n_follow"))
        now = _rate(a.get("follow_rate"), a.get("follow_ci"), a.get("n_follow"))
        return (f"pasting in the {region} of another image sends {b} → {now} {of(lead)} "
                f"to the class the model gives that image", lead.get("follow_ci"),
                a.get("follow_ci"))
    if swap and (swap.get("follow_ci") or [0])[0] is not None:
        a = _cell_rates(after, {**swap, "region": region}) or {}
        b = _rate(swap.get("follow_rate"), swap.get("follow_ci"), swap.get("n_follow"))
        extra = ""
        if a.get("placebo") == "same_value" and a.get("placebo_rate") is not None:
            # what a paste alone does, so the reader can judge what is left
            attr = swap.get("attribute") or "value"
            extra = f"; {pct(a['placebo_rate'])} for a {region} of the same {attr}"
        now = _rate(a.get("follow_rate"), a.get("follow_ci"), a.get("n_follow"), extra)
        return (f"swapping in the {region} sends {b} → {now} {of(swap)} to the class it "
                f"goes with", swap.get("follow_ci"), a.get("follow_ci"))
    if mask:
        a = _cell_rates(after, {**mask, "region": region}) or {}
        before = _rate(mask.get("rate"), mask.get("ci"), mask.get("n"))
        return (f"hiding the {region} flips {before} → "
                f"{_rate(a.get('flip_rate'), a.get('ci'), a.get('n'))} {of(mask)}",
                mask.get("ci"), a.get("ci"))
    return f"the {region} finding goes", None, None


def _reads_again(regions: Sequence[str], before: Mapping[str, Any],
                 after: Mapping[str, Any]) -> list[str]:
    """What replaced a high ``ignored_region`` finding on each of ``regions``: an answer at
    chance (the finding needs a model above chance), a medium one, or none (with the flips
    hiding the region makes before and after)."""
    found = after.get("findings") or []
    if any(f.get("kind") == "chance_level" for f in found):
        return [f"no longer shows it ignores the {', '.join(regions)} only because it does no "
                "better than chance"] if regions else []
    medium = {str((f.get("evidence") or {}).get("region")) for f in found
              if f.get("kind") == "ignored_region"}
    out = []
    for r in regions:
        b, a = ((m.get("reliance") or {}).get(r) or {} for m in (before, after))
        flips = (f" (hiding it flips {_rate(b.get('flip_rate'), b.get('ci'), b.get('n'))} → "
                 f"{_rate(a.get('flip_rate'), a.get('ci'), a.get('n'))} of predictions)"
                 if b.get("flip_rate") is not None and a.get("flip_rate") is not None else "")
        out.append(f"no longer clearly ignores the {r}{flips}, but a medium finding says it "
                   "may still ignore it" if r in medium else f"now reads the {r}{flips}")
    return out


def _residual(block: Mapping[str, Any]) -> set[str]:
    """Regions of the model's medium ``spurious_cue`` findings (some reliance remains)."""
    return {str((f.get("evidence") or {}).get("region")) for f in block.get("findings") or []
            if f.get("kind") == "spurious_cue" and f.get("severity") == "medium"}


def comparison_headline(models: Mapping[str, Mapping[str, Any]], baseline: str, *,
                        level: float = 0.95) -> str | None:
    """What changed between ``baseline`` and every other model (None with one model);
    ``level`` is that of the accuracy and worst-group intervals (Wilson from each block's
    counts); the causal rates keep the intervals their blocks hold (their run's level)."""
    if len(models) < 2 or baseline not in models:
        return None
    base = models[baseline]
    base_cuts = _shortcuts(base)
    sentences = []
    for name, block in models.items():
        if name == baseline:
            continue
        cuts = _shortcuts(block)
        worst = _worst_change(base, block, level)
        parts = []
        for region, f in base_cuts.items():
            change, fell = _causal_change(region, f, block)
            if region in cuts and fell:  # still high, but significantly less
                verb, change = "weakens", f"{change}; a high finding on it remains"
            elif region in cuts:
                verb = "keeps"
            elif region in _residual(block):  # no longer high, but a medium finding remains
                verb, change = "weakens", f"{change}; a medium finding on it remains"
            else:
                verb = "removes"
            parts.append(f"{verb} the {region} shortcut ({change})")
        parts += [f"introduces a {region} shortcut" for region in cuts if region not in base_cuts]
        gone = [r for r in _ignored(base) if r not in _ignored(block)]
        parts += _reads_again(gone, base, block)
        parts += [f"ignores the {r}" for r in _ignored(block) if r not in _ignored(base)]
        parts += _hotspot_changes(base, block)
        if not parts and not base_cuts:  # neither model has a high shortcut: the mediums
            before, after = _residual(base), _residual(block)
            parts = [f"clears the medium {r} finding" for r in sorted(before - after)]
            parts += [f"keeps a medium {r} finding" for r in sorted(before & after)]
            parts += [f"gets a medium {r} finding" for r in sorted(after - before)]
            concepts = any(f.get("kind") == "concept" and f.get("severity") == "high"
                           for m in (base, block) for f in m.get("findings") or [])
            clause = (" (neither model takes a high-severity shortcut through a region or a "
                      "hotspot; a discovered concept is flagged high)" if concepts else
                      " (neither model takes a high-severity shortcut)")
            parts = ([", ".join(parts) + clause] if parts else
                     ["shows no shortcut through a region or a hotspot (a discovered concept "
                      "is flagged high)" if concepts else "shows no shortcut either"])
        if not parts:
            parts = ["changes no shortcut"]
        known = all((m.get("metrics") or {}).get("accuracy") is not None for m in (base, block))
        accuracy = (f"accuracy {_accuracy(base, level)} → {_accuracy(block, level)}, "
                    if known else "")
        sentences.append(f"{name} " + ", ".join(parts) + f"; {accuracy}{worst}.")
    return " ".join(sentences)

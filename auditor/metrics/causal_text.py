"""The causal part of a ``spurious_cue`` title, strongest evidence first, from the
:class:`~auditor.metrics.shortcuts.CausalEvidence` of one region."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.common.text import span
from auditor.metrics.base import describe_group, pct
from auditor.metrics.disparity import points_text
from auditor.metrics.shortcuts import CausalEvidence

__all__ = ["causal_sentence"]


def _against(rate: float, ci: Sequence[float | None], region: str, swap: dict[str, Any]
             ) -> str:
    """The placebo's clause of a swap sentence."""
    return (f", against {pct(rate)} when the {region} comes from a sample with the same "
            f"{swap['attribute']} ({pct(ci[0])}–{pct(ci[1])})")


def _points_span(ci: Sequence[float]) -> str:
    lo, hi = ci
    return span(f"{100 * lo:.0f}", f"{100 * hi:.0f}")


def _lead_clause(region: str, ev: CausalEvidence, level: float, *, first: bool) -> str:
    """What the lead paste found, against both its controls."""
    d = ev.lead
    where = f" for {describe_group(d['features'])}" if d["features"] else ""
    text = (f"{'Pasting' if first else 'pasting'} in the {region} of another image sends "
            f"{pct(d['follow_rate'])} of predictions{where} to the class the model gives that "
            f"image ({level:.0%} CI {pct(d['follow_ci'][0])}–{pct(d['follow_ci'][1])}, "
            f"n={d['n_follow']}), against {pct(d['hole_rate'])} when only that image's "
            f"outline is cut into this one's own {region} ({pct(d['hole_ci'][0])}–"
            f"{pct(d['hole_ci'][1])}) and {pct(d['control_rate'])} changed by the {region} of "
            f"an image it gives the same class ({pct(d['control_ci'][0])}–"
            f"{pct(d['control_ci'][1])}): the model reads what the {region} shows, "
            f"{100 * d['excess']:.0f} points beyond the controls ({level:.0%} CI "
            f"{_points_span(d['excess_ci'])})")
    if not ev.lead_follows:  # the excess, or else its lower bound, misses the bar
        which = "its lower bound " if (d["excess"] or 0.0) >= ev.threshold else ""
        text += f", {which}under the {100 * ev.threshold:.0f} points a high finding needs"
    return text


def _conflict_clause(ev: CausalEvidence, level: float) -> str:
    """The labels' side of :attr:`CausalEvidence.conflict_confirms`: accuracy where the swap's
    attribute goes against the class, beside where it agrees."""
    c, attr = ev.conflict or {}, (ev.swap or {}).get("attribute", "value")
    a, k = c["aligned"], c["conflicting"]
    lo, hi = c["gap_ci"]
    size = points_text(c["gap"], lo, hi, level, "fewer", "more")
    return (f"; and images whose {attr} goes with another class in training are answered "
            f"right {pct(k['rate'])} of the time ({pct(k['ci'][0])}–{pct(k['ci'][1])}, "
            f"n={k['n']}) against {pct(a['rate'])} when it goes with their own class "
            f"({pct(a['ci'][0])}–{pct(a['ci'][1])}, n={a['n']}): {size}, so the {attr} "
            f"decides part of its answers")


def _beyond_placebo(region: str, ev: CausalEvidence, level: float, *, first: bool) -> str:
    """A swap that beats its placebo under the high bar, and, when the labels confirm it
    (:attr:`CausalEvidence.conflict_confirms`), the conflict gap that makes it high."""
    s = ev.swap
    where = f" for {describe_group(s['features'])}" if s["features"] else ""
    to = (s["to_classes"][0] if len(s["to_classes"]) == 1
          else f"the class the swapped-in {s['attribute']} goes with")
    text = (f"{'A' if first else 'a'} {region} from a sample with another {s['attribute']} sends "
            f"{pct(s['follow_rate'])} of predictions{where} to {to} ({level:.0%} CI "
            f"{pct(s['follow_ci'][0])}–{pct(s['follow_ci'][1])}, n={s['n_follow']}) against "
            f"{pct(s['placebo_rate'])} with the same {s['attribute']} "
            f"({pct(s['placebo_ci'][0])}–{pct(s['placebo_ci'][1])})")
    if ev.conflict_confirms:
        return (f"{text}: under the {pct(ev.threshold)} that alone makes a finding high"
                f"{_conflict_clause(ev, level)}")
    return f"{text}: real, but under the {pct(ev.threshold)} a high finding needs"


def causal_sentence(region: str, ev: CausalEvidence, level: float) -> str:
    """The causal part of a title, strongest evidence first ('' when there is none)."""
    parts = []
    if ev.swap is not None and (ev.swap_follows or ev.swap_leans or ev.swap_flips):
        s = ev.swap
        goes = f"the class the swapped-in {s['attribute']} goes with in training"
        to = f"{s['to_classes'][0]}, {goes}" if len(s["to_classes"]) == 1 else goes
        where = f" for {describe_group(s['features'])}" if s["features"] else ""
        if ev.swap_follows or ev.swap_leans:
            ci = f"{level:.0%} CI {pct(s['follow_ci'][0])}–{pct(s['follow_ci'][1])}"
            if s.get("n_corrections") and s["n_corrections"] == s.get("n_movable"):
                parts.append(
                    f"Swapping in the {region} of a sample with another {s['attribute']} "
                    f"corrects {pct(s['follow_rate'])} of predictions{where} ({ci}, "
                    f"n={s['n_follow']}): errors that move to {to}")
            else:
                parts.append(
                    f"Swapping in the {region} of a sample with another {s['attribute']} sends "
                    f"{pct(s['follow_rate'])} of predictions{where} to {to} ({ci}, "
                    f"n={s['n_follow']})")
            if s.get("placebo") == "same_value" and s.get("placebo_rate") is not None:
                parts[-1] += _against(s["placebo_rate"], s["placebo_ci"], region, s)
            if ev.conflict_confirms:
                parts[-1] += _conflict_clause(ev, level)
        else:
            parts.append(
                f"Swapping in the {region} of a sample with another {s['attribute']} changes "
                f"{pct(s['flip_rate'])} of predictions{where} ({level:.0%} CI "
                f"{pct(s['flip_ci'][0])}–{pct(s['flip_ci'][1])}, n={s['n']})")
            if s.get("placebo_flip_rate") is not None and s.get("placebo_flip_ci"):
                parts[-1] += _against(s["placebo_flip_rate"], s["placebo_flip_ci"], region, s)
    if ev.conflict_confirms and not (ev.swap_follows or ev.swap_leans):  # high: it leads
        parts.insert(0, _beyond_placebo(region, ev, level, first=True))
        if len(parts) > 1:
            parts[1] = parts[1][0].lower() + parts[1][1:]
    if ev.lead_beyond_controls and not (ev.swap_follows or ev.swap_leans):
        parts.append(_lead_clause(region, ev, level, first=not parts))
    if ev.mask is not None and (ev.masking_flips or ev.masking_disrupts_only):
        m = ev.mask
        where = f" for {describe_group(m['features'])}" if m["features"] else ""
        parts.append(f"{'hiding' if parts else 'Hiding'} the {region} changes "
                     f"{pct(m['rate'])} of predictions{where} ({level:.0%} CI "
                     f"{pct(m['ci'][0])}–{pct(m['ci'][1])}, n={m['n']})")
        nat = m.get("natural_paste")
        if nat is not None and nat.get("swap") == "lead":  # donors of another class only
            paste = (f"pasting in the {region} of a sample the model gives another class sends "
                     f"{pct(nat['rate'])} ({pct(nat['ci'][0])}–{pct(nat['ci'][1])}, "
                     f"n={nat['n']}) to that class")
        elif nat is not None:  # the largest of several swaps (runs before the lead paste)
            paste = (f"pasting in the {region} of another sample changes "
                     f"{'at most ' if ev.masking_disrupts_only else ''}{pct(nat['rate'])} "
                     f"({pct(nat['ci'][0])}–{pct(nat['ci'][1])})")
        if ev.masking_disrupts_only and len(parts) > 1:  # the evidence before it stands
            parts[-1] += f" (partly the masking itself: {paste})"
        elif ev.masking_disrupts_only:
            parts[-1] += (f", but {paste}: the model reacts to the masking itself, not to what "
                          f"the {region} shows")
        elif nat is not None and len(parts) == 1:  # masking alone: what a natural paste does
            parts[-1] += f", and {paste}"
    if ev.swap_beyond_placebo and not (ev.swap_follows or ev.swap_leans) \
            and not ev.conflict_confirms:
        parts.append(_beyond_placebo(region, ev, level, first=not parts))
    return "; ".join(parts)

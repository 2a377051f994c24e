"""Concept discovery: non-negative factorisation of target-layer activations (CRAFT / ACE style).

The activations ``A`` of the target layer (``[N, C, h, w]``, clipped at 0) are seen as one
``C``-vector per spatial position. :func:`fit_concepts` factorises a bounded, seeded sample of
those vectors with scikit-learn's NMF, ``A ~ U H`` (``H``: ``[n, C]`` concept directions, each
scaled to unit norm); :func:`auditor.saliency.concepts.project` finds the non-negative
coefficients ``U`` of any activation for a fixed ``H`` (in torch, on the model's device). A
concept's *presence* in an image is the largest coefficient over its positions (where it is
strongest is the patch shown in the report); :func:`auditor.saliency.concepts.remove_concept`
subtracts one concept from an activation, and the audit pass measures how the prediction
changes (importance, CRAFT's "what happens without it").

:func:`concept_stats` then tests, per concept, whether it is present more often with an
attribute value, or among the errors of a class (one-sided Fisher exact tests, Holm-corrected
over every test of every concept). Pure functions; no model is run here.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from auditor.metrics.groups import attribute_values
from auditor.metrics.stats import holm_bonferroni, json_float, wilson_ci

__all__ = ["choose_rows", "concept_stats", "fit_concepts", "present"]

#: A concept is present in an image when its presence reaches this share of its 95th percentile.
PRESENT_SHARE = 0.5


def choose_rows(n: int, k: int, seed: int, salt: int) -> np.ndarray:
    """``min(n, k)`` sorted row positions out of ``n``, drawn with ``(seed, salt)``."""
    if k >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, salt]).choice(n, size=k, replace=False))


def fit_concepts(vectors: np.ndarray, n: int, *, seed: int = 0, max_iter: int = 200
                 ) -> np.ndarray:
    """NMF concept directions of activation vectors.

    Args:
        vectors: ``[P, C]`` non-negative activation vectors (one per spatial position).
        n: number of concepts (at most ``min(P, C)``).
        seed: NMF initialisation seed (``init="nndsvda"`` is deterministic; the seed makes
            any random tie-breaking reproducible too).
        max_iter: NMF iterations.

    Returns:
        ``H`` ``[n', C]`` float32 rows of unit norm, ``n' <= n`` (all-zero rows dropped),
        ordered by how much of the data they explain (largest first).
    """
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    x = np.clip(np.nan_to_num(np.asarray(vectors, dtype=np.float64)), 0, None)
    n = min(n, x.shape[0], x.shape[1])
    if n <= 0 or not x.any():
        return np.zeros((0, x.shape[1]), dtype=np.float32)
    model = NMF(n_components=n, init="nndsvda", random_state=seed, max_iter=max_iter,
                tol=1e-4)
    with warnings.catch_warnings():  # a capped iteration count is the documented cost bound
        warnings.simplefilter("ignore", ConvergenceWarning)
        u = model.fit_transform(x)
    h = model.components_
    norms = np.linalg.norm(h, axis=1)
    keep = norms > 1e-12
    weight = (u[:, keep] * norms[keep]).sum(axis=0)
    h = h[keep] / norms[keep, None]
    order = np.argsort(-weight, kind="stable")
    return h[order].astype(np.float32)


def present(presence: np.ndarray) -> np.ndarray:
    """``bool [N, n]``: presence at least :data:`PRESENT_SHARE` of the concept's 95th percentile.

    Args:
        presence: ``[N, n]`` per-image presence (largest coefficient over positions).
    """
    p = np.asarray(presence, dtype=float)
    if p.size == 0:
        return np.zeros(p.shape, dtype=bool)
    ref = np.quantile(p, 0.95, axis=0)
    return (p >= PRESENT_SHARE * ref[None, :]) & (ref[None, :] > 0)


def _fisher_greater(a: np.ndarray, b: np.ndarray) -> tuple[float, float, list[int]]:
    """One-sided Fisher exact test: is ``a`` (bool) more common where ``b`` (bool) holds?"""
    table = [[int((a & b).sum()), int((~a & b).sum())], [int((a & ~b).sum()),
                                                        int((~a & ~b).sum())]]
    res = sps.fisher_exact(table, alternative="greater")
    odds = ((table[0][0] + 0.5) * (table[1][1] + 0.5)) / ((table[0][1] + 0.5)
                                                          * (table[1][0] + 0.5))
    return float(res.pvalue), float(odds), [table[0][0], table[0][0] + table[0][1],
                                            table[1][0], table[1][0] + table[1][1]]


def concept_stats(presence: np.ndarray, df: pd.DataFrame, attributes: Sequence[str], *,
                  min_group_size: int = 10, level: float = 0.95) -> list[dict[str, Any]]:
    """Per concept: presence per class, attribute value and among errors, with tests.

    Args:
        presence: ``[len(df), n]`` per-image presence.
        df: per-sample table of ONE model (``label``, ``correct``, attribute columns).
        attributes: attribute columns.
        min_group_size: groups smaller than this are not tested.
        level: Wilson interval level of the presence rates.

    Returns:
        One dict per concept: ``present_rate`` (+ ``ci``, ``n``), ``by_class``,
        ``by_group {ATTR: {VALUE: {rate, ci, n}}}``, ``tests`` (every test: ``what``
        ("attribute" | "errors"), ``attribute``/``value`` or ``class``, ``p``, ``p_adj``
        (Holm over all concepts' tests), ``odds_ratio``, ``rate_in``, ``rate_out``, ``n_in``,
        ``n_out``), sorted by ``p_adj``.
    """
    on = present(presence)
    labels = df["label"].astype(str).to_numpy()
    wrong = ~df["correct"].astype(bool).to_numpy()
    values = {a: attribute_values(df, a).to_numpy() for a in attributes}

    def rate(sel: np.ndarray, k: int) -> dict[str, Any]:
        hits, n = int(on[sel, k].sum()), int(sel.sum())
        return {"rate": json_float(hits / n) if n else None,
                "ci": [json_float(v) for v in wilson_ci(hits, n, level)], "n": n}

    out, pvals = [], []
    for k in range(on.shape[1]):
        entry: dict[str, Any] = {"concept": k + 1, **rate(np.ones(len(df), bool), k)}
        entry["by_class"] = {c: rate(labels == c, k) for c in sorted(set(labels))}
        entry["by_group"] = {a: {v: rate(values[a] == v, k) for v in sorted(set(values[a]))}
                             for a in attributes}
        tests = []
        for a in attributes:
            for v in sorted(set(values[a])):
                grp = values[a] == v
                if min_group_size <= grp.sum() <= len(df) - min_group_size:
                    p, odds, cnt = _fisher_greater(on[:, k], grp)
                    tests.append({"what": "attribute", "attribute": a, "value": v, "p": p,
                                  "odds_ratio": odds, **_counts(cnt)})
        for c in sorted(set(labels)):
            sel = labels == c
            if wrong[sel].sum() >= 1 and sel.sum() >= min_group_size:
                p, odds, cnt = _fisher_greater(on[sel, k], wrong[sel])
                tests.append({"what": "errors", "class": c, "p": p, "odds_ratio": odds,
                              **_counts(cnt)})
        entry["tests"] = tests
        pvals += [t["p"] for t in tests]
        out.append(entry)
    adjusted = iter(holm_bonferroni(pvals)) if pvals else iter(())
    for entry in out:
        for t in entry["tests"]:
            t["p_adj"] = json_float(float(next(adjusted)))
            t["p"] = json_float(t["p"])
            t["odds_ratio"] = json_float(t["odds_ratio"])
        entry["tests"].sort(key=lambda t: (t["p_adj"] if t["p_adj"] is not None else 1.0))
    return out


def _counts(cnt: list[int]) -> dict[str, Any]:
    k_in, n_in, k_out, n_out = cnt
    return {"rate_in": json_float(k_in / n_in) if n_in else None, "n_in": n_in,
            "rate_out": json_float(k_out / n_out) if n_out else None, "n_out": n_out}

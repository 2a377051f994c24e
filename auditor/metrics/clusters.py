"""Clusters of misclassifications: which errors look alike, and who is in them.

Recipe (in the spirit of Domino / Spotlight-style error-slice discovery, kept simple):

1. Take the misclassified rows of one model.
2. Features = the target-layer embeddings, centred and reduced by PCA to at most 16
   dimensions, then scaled as a block to unit total variance (a global scale, not one per
   feature: per-feature standardisation would blow up near-constant, e.g. dead ReLU, features
   to the weight of informative ones); concatenated with the per-region attention masses of
   one method (each standardised, the block scaled to total variance ``mass_weight``). So
   "where the model looked" weighs as much as "what the image looks like" by default.
3. k-means (scikit-learn, ``n_init=10``, seeded) with k chosen by the silhouette score over
   2..``max_k`` (k needs at least 2k errors). With fewer than ``min_errors`` errors (default
   10) all errors form ONE cluster (no structure can be claimed); with none there are no
   clusters.
4. Describe each cluster: size; ``error_rate`` = share of misclassified samples among ALL
   audited samples whose nearest centroid (same feature transform) is this cluster's — how
   error-prone that part of feature space is (with ``n_nearby``, that sample count, and a
   Wilson ``error_rate_ci``); the most common confusion ``"true->pred"``;
   attribute values enriched in the cluster against the whole audited set (one-sided Fisher
   exact test, Holm-corrected over every cluster x attribute x value tested; ``enriched``
   lists the values with corrected p < ``alpha``, the most significant per attribute), each
   with its share among all errors of the cluster's confusion; mean attention mass per
   region; the ids closest to the centroid.
5. The slices behind the clusters (:class:`ConfusionSlice`): for each cluster's confusion
   ``t->p`` and every attribute value, whether samples of class ``t`` with that value are
   predicted ``p`` more often than the rest of class ``t`` (one-sided Fisher exact test,
   Holm-corrected over every (confusion, attribute, value) tested). Clustering groups errors
   by what they look like, so a cluster is enriched for a visible attribute even when the
   model errs equally often for every value; the slice tells the two apart
   (:func:`auditor.metrics.severity.cluster_severity`).
6. A 2-D t-SNE of the misclassified rows (seeded, ``perplexity = min(30, n - 1)``; the first
   two PCA components when there are fewer than 4 errors) for the report's scatter plot.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.manifold import TSNE
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from auditor.metrics.attention import mass_column
from auditor.metrics.confusion_slices import ConfusionSlice, confusion_slices
from auditor.metrics.groups import attribute_values
from auditor.metrics.stats import fisher_enrichment, holm_bonferroni, json_float, wilson_ci

__all__ = ["Cluster", "ClusterResult", "ConfusionSlice", "cluster_misclassified"]


class _Enrichment(NamedTuple):
    """One enrichment test: is ``attribute=value`` over-represented in cluster ``cluster``?"""

    cluster: int
    attribute: str
    value: str
    ratio: float
    p: float
    share_in_cluster: float
    share_overall: float
    share_in_confusion_errors: float
    share_in_slice: float


@dataclass
class Cluster:
    """One cluster of misclassified samples (see the module docstring for definitions)."""

    id: int
    size: int
    error_rate: float
    confusion: str
    confusion_share: float
    enriched: dict[str, str]
    enrichment: list[dict[str, Any]]
    mean_mass: dict[str, float]
    members: list[str]
    share_of_errors: float
    n_nearby: int = 0
    error_rate_ci: tuple[float, float] | None = None
    confusion_slices: list[ConfusionSlice] = field(default_factory=list)

    def confusion_slice(self, attribute: str, value: str) -> ConfusionSlice | None:
        """The slice of this cluster's confusion for ``attribute=value`` (None if untested)."""
        return next((s for s in self.confusion_slices
                     if s.attribute == attribute and s.value == value), None)

    def to_dict(self) -> dict[str, Any]:
        """A ``clusters`` entry of summary.json (DESIGN keys plus extras)."""
        ci = None if self.error_rate_ci is None else [json_float(v) for v in self.error_rate_ci]
        return {"id": self.id, "size": self.size, "error_rate": json_float(self.error_rate),
                "n_nearby": self.n_nearby, "error_rate_ci": ci,
                "confusion": self.confusion, "confusion_share": json_float(self.confusion_share),
                "enriched": dict(self.enriched), "enrichment": self.enrichment,
                "mean_mass": {k: json_float(v) for k, v in self.mean_mass.items()},
                "members": list(self.members),
                "share_of_errors": json_float(self.share_of_errors),
                "confusion_slices": [s.to_dict() for s in self.confusion_slices]}


@dataclass
class ClusterResult:
    """Clusters plus per-row labels and the 2-D projection.

    Attributes:
        clusters: the clusters, largest first (ids 0..k-1 in that order).
        labels: ``[len(df)]`` int, the cluster of each row; -1 for correct rows.
        projection: one dict per misclassified row ``{id, x, y, cluster, label, pred}``.
        k_scores: silhouette score per k tried.
    """

    clusters: list[Cluster] = field(default_factory=list)
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    projection: list[dict[str, Any]] = field(default_factory=list)
    k_scores: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> list[dict[str, Any]]:
        """The ``clusters`` list of summary.json."""
        return [c.to_dict() for c in self.clusters]


class _Features:
    """The feature transform fitted on the errors and applied to every row."""

    def __init__(self, emb: np.ndarray, mass: np.ndarray, mass_weight: float, seed: int):
        self.scaler = StandardScaler(with_std=False).fit(emb)
        z = self.scaler.transform(emb)
        dims = min(16, z.shape[0] - 1, z.shape[1])
        self.pca = PCA(n_components=dims, random_state=seed).fit(z) if dims >= 1 else None
        var = float(self.pca.explained_variance_.sum()) if self.pca is not None else 0.0
        self.emb_scale = np.sqrt(var) if np.isfinite(var) and var > 1e-12 else 1.0
        self.mass_scaler = StandardScaler().fit(mass) if mass.shape[1] else None
        self.mass_factor = np.sqrt(mass_weight / max(mass.shape[1], 1))

    def __call__(self, emb: np.ndarray, mass: np.ndarray) -> np.ndarray:
        z = self.scaler.transform(emb)
        parts = [(self.pca.transform(z) if self.pca is not None else z[:, :0]) / self.emb_scale]
        if self.mass_scaler is not None:
            parts.append(self.mass_scaler.transform(mass) * self.mass_factor)
        return np.concatenate(parts, axis=1)


def _choose_k(x: np.ndarray, max_k: int, seed: int) -> tuple[np.ndarray, dict[int, float], Any]:
    scores: dict[int, float] = {}
    best = None
    for k in range(2, max_k + 1):
        if x.shape[0] < 2 * k:
            break
        with warnings.catch_warnings():  # duplicate points: fewer distinct clusters than k
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        if len(set(km.labels_)) < 2:
            continue
        scores[k] = float(silhouette_score(x, km.labels_, sample_size=min(len(x), 2000),
                                           random_state=seed))
        if best is None or scores[k] > scores[best[0]]:
            best = (k, km)
    if best is None:
        km = KMeans(n_clusters=1, n_init=1, random_state=seed).fit(x)
        return km.labels_, scores, km
    return best[1].labels_, scores, best[1]


def _projection(x: np.ndarray, seed: int) -> np.ndarray:
    n = x.shape[0]
    if n >= 4:
        # 500 iterations (sklearn's default is 1000) is plenty for a few hundred points and
        # costs a fraction of the time; the layout is for display only.
        tsne = TSNE(n_components=2, perplexity=float(min(30, n - 1)), random_state=seed,
                    init="pca" if x.shape[1] >= 2 else "random", max_iter=500)
        return tsne.fit_transform(x)
    coords = np.zeros((n, 2))
    dims = min(2, x.shape[1], n)
    if n >= 2 and dims:
        coords[:, :dims] = PCA(n_components=dims).fit_transform(x)
    return coords


def _top_confusion(true: np.ndarray, pred: np.ndarray) -> tuple[tuple[str, str], float]:
    """The most common ``(true, pred)`` pair of some errors (ties: alphabetical) and its
    share."""
    counts = pd.Series(list(zip(true.tolist(), pred.tolist(), strict=True))).value_counts()
    top = sorted(counts[counts == counts.max()].index)[0]
    return (str(top[0]), str(top[1])), float(counts[top] / counts.sum())


def cluster_misclassified(df: pd.DataFrame, embeddings: np.ndarray, regions: Sequence[str],
                          method: str, attributes: Sequence[str], *, seed: int = 0,
                          max_k: int = 8, min_errors: int = 10, mass_weight: float = 1.0,
                          alpha: float = 0.05, n_members: int = 5,
                          level: float = 0.95, max_projected: int = 2000) -> ClusterResult:
    """Cluster one model's misclassified samples and describe the clusters.

    Args:
        df: per-sample table of ONE model: ``id``, ``label``, ``pred``, ``correct`` (bool),
            attribute columns and ``mass_<method>_<region>``.
        embeddings: ``[len(df), D]`` float, row-aligned with ``df``.
        regions: region names whose masses enter the features.
        method: saliency method whose masses are used.
        attributes: attribute columns tested for enrichment.
        seed: seeds PCA, k-means and t-SNE.
        max_k: largest number of clusters tried.
        min_errors: below this many errors all errors form one cluster.
        mass_weight: total variance of the mass block relative to the embedding block.
        alpha: corrected p-value below which a value counts as enriched.
        n_members: ids listed per cluster (closest to the centroid first).
        level: confidence level of the Wilson interval of ``error_rate``.
        max_projected: most errors in the 2-D projection (a seeded random subset beyond it).

    Returns:
        :class:`ClusterResult`; ``labels`` fills the table's ``cluster`` column.
    """
    emb_all = np.asarray(embeddings, dtype=np.float64).reshape(len(df), -1)
    if emb_all.shape[0] != len(df):
        raise ValueError(f"embeddings have {emb_all.shape[0]} rows but the table has {len(df)}")
    mcols = [mass_column(method, r) for r in regions]
    mass_all = np.nan_to_num(df[mcols].to_numpy(dtype=float)) if mcols else np.zeros((len(df), 0))
    wrong = ~df["correct"].astype(bool).to_numpy()
    labels = np.full(len(df), -1, dtype=int)
    n_err = int(wrong.sum())
    if n_err == 0:
        return ClusterResult(labels=labels)

    feats = _Features(emb_all[wrong], mass_all[wrong], mass_weight, seed)
    x = feats(emb_all[wrong], mass_all[wrong])
    if n_err < min_errors:
        raw = np.zeros(n_err, dtype=int)
        centroids = x.mean(axis=0, keepdims=True)
        scores: dict[int, float] = {}
    else:
        raw, scores, km = _choose_k(x, max_k, seed)
        centroids = km.cluster_centers_
    # ids ordered by size (largest first), ties by original label
    order = sorted(set(raw.tolist()), key=lambda c: (-int(np.sum(raw == c)), c))
    remap = {old: new for new, old in enumerate(order)}
    raw = np.array([remap[c] for c in raw], dtype=int)
    centroids = centroids[order]
    labels[wrong] = raw

    dist_all = ((feats(emb_all, mass_all)[:, None, :] - centroids[None]) ** 2).sum(-1)
    nearest = dist_all.argmin(axis=1)
    err_idx = np.flatnonzero(wrong)
    ids = df["id"].astype(str).to_numpy()
    true = df["label"].astype(str).to_numpy()
    pred = df["pred"].astype(str).to_numpy()
    attr_values = {a: attribute_values(df, a).to_numpy() for a in attributes}

    confusions = [_top_confusion(true[err_idx[raw == c]], pred[err_idx[raw == c]])
                  for c in range(len(order))]
    tests: list[_Enrichment] = []
    for c in range(len(order)):
        in_c = labels == c
        t, p = confusions[c][0]
        of_confusion = wrong & (true == t) & (pred == p)
        for attr, vals in attr_values.items():
            for value in sorted(set(vals[in_c].tolist())):
                has = vals == value
                ratio, pval = fisher_enrichment(in_c, has)
                tests.append(_Enrichment(c, attr, value, ratio, pval, float(has[in_c].mean()),
                                         float(has.mean()), float(has[of_confusion].mean()),
                                         float((has & of_confusion)[in_c].mean())))
    p_adj = holm_bonferroni([t.p for t in tests]) if tests else np.zeros(0)
    slices = confusion_slices(sorted({conf for conf, _ in confusions}), true, pred,
                              attr_values)

    clusters = []
    for c in range(len(order)):
        rows = err_idx[raw == c]
        (t, p), top_share = confusions[c]
        enrichment = [{"attribute": t.attribute, "value": t.value, "ratio": json_float(t.ratio),
                       "p": json_float(t.p), "p_adj": json_float(q),
                       "share_in_cluster": t.share_in_cluster, "share_overall": t.share_overall,
                       "share_in_confusion_errors": json_float(t.share_in_confusion_errors),
                       "share_in_slice": t.share_in_slice}
                      for t, q in zip(tests, p_adj, strict=True) if t.cluster == c]
        enriched: dict[str, str] = {}
        for attr in attributes:
            sig = [e for e in enrichment if e["attribute"] == attr and e["p_adj"] is not None
                   and e["p_adj"] < alpha]
            if sig:
                enriched[attr] = min(sig, key=lambda e: (e["p_adj"], -e["ratio"]))["value"]
        d = ((x[raw == c] - centroids[c]) ** 2).sum(-1)
        assigned = nearest == c
        n_near, k_near = int(assigned.sum()), int(wrong[assigned].sum())
        clusters.append(Cluster(
            id=c, size=int(len(rows)),
            error_rate=k_near / n_near if n_near else 1.0,
            n_nearby=n_near, error_rate_ci=wilson_ci(k_near, n_near, level) if n_near else None,
            confusion=f"{t}->{p}", confusion_share=top_share,
            enriched=enriched, enrichment=enrichment,
            mean_mass={r: float(mass_all[rows, j].mean()) for j, r in enumerate(regions)},
            members=[str(i) for i in ids[rows[np.argsort(d, kind="stable")[:n_members]]]],
            share_of_errors=float(len(rows) / n_err),
            confusion_slices=[s for s in slices if (s.true, s.pred) == (t, p)]))

    # t-SNE costs O(n log n) per iteration (40 s for 25k errors): the scatter shows a seeded
    # random subset of at most max_projected errors; the clusters use every error.
    shown = np.arange(n_err)
    if n_err > max_projected:
        shown = np.sort(np.random.default_rng(seed).choice(n_err, max_projected, replace=False))
    coords = _projection(x[shown], seed)
    projection = [{"id": str(ids[err_idx[j]]), "x": float(coords[k, 0]),
                   "y": float(coords[k, 1]), "cluster": int(raw[j]),
                   "label": str(true[err_idx[j]]), "pred": str(pred[err_idx[j]])}
                  for k, j in enumerate(shown)]
    return ClusterResult(clusters=clusters, labels=labels, projection=projection,
                         k_scores=scores)

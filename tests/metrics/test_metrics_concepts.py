"""Concept discovery: NMF directions, projection, removal and the association tests."""

import numpy as np
import pandas as pd
import pytest
import torch

from auditor.metrics.concepts import concept_stats, fit_concepts, present
from auditor.saliency.concepts import project, remove_concept


def _two_directions(n=400, seed=0):
    rng = np.random.default_rng(seed)
    e = np.zeros((2, 6))
    e[0, :3], e[1, 3:] = 1.0, 1.0
    coeffs = rng.random((n, 2)) * (rng.random((n, 2)) < 0.5)
    return coeffs @ e, e / np.linalg.norm(e, axis=1, keepdims=True)


def test_fit_concepts_recovers_planted_directions_deterministically():
    x, truth = _two_directions()
    basis = fit_concepts(x, 2, seed=0)
    assert basis.shape == (2, 6)
    assert np.allclose(np.linalg.norm(basis, axis=1), 1.0, atol=1e-5)
    cos = np.abs(basis @ truth.T)
    assert sorted(cos.max(axis=1)) == pytest.approx([1.0, 1.0], abs=0.02)
    assert np.array_equal(basis, fit_concepts(x, 2, seed=0))


def test_fit_concepts_of_zero_data_is_empty():
    assert fit_concepts(np.zeros((10, 4)), 3).shape == (0, 4)


def test_project_and_remove_concept():
    basis = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    acts = torch.zeros(1, 3, 1, 2)
    acts[0, :, 0, 0] = torch.tensor([2.0, 0.0, 0.0])  # 2 x concept 1
    acts[0, :, 0, 1] = torch.tensor([1.0, 3.0, 4.0])  # 1 x concept 1 + 5 x concept 2
    u = project(acts, basis, iters=200)
    assert u[0, :, 0, 0].tolist() == pytest.approx([2.0, 0.0], abs=1e-3)
    assert u[0, :, 0, 1].tolist() == pytest.approx([1.0, 5.0], abs=1e-3)
    without = remove_concept(acts, u, basis, 1)
    assert without[0, :, 0, 1].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-3)
    assert torch.equal(without[0, :, 0, 0], acts[0, :, 0, 0])


def test_present_is_half_the_95th_percentile():
    p = np.array([[0.0], [1.0], [2.0], [10.0], [10.0]])
    # 95th percentile = 10 -> present from 5
    assert present(p)[:, 0].tolist() == [False, False, False, True, True]


def _table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    label = np.where(np.arange(n) < n // 2, "doctor", "nurse")
    mark = rng.random(n) < 0.5
    correct = np.where(label == "nurse", ~mark, mark)  # a model that reads the mark only
    return pd.DataFrame({"label": label, "correct": correct,
                         "hair": np.where(rng.random(n) < 0.5, "dark", "blond")}), mark


def test_concept_stats_ties_a_shortcut_concept_to_errors():
    df, mark = _table()
    rng = np.random.default_rng(1)
    presence = np.stack([mark * 5.0 + rng.random(len(df)) * 0.1,  # the mark concept
                         rng.random(len(df))], axis=1)  # noise
    stats = concept_stats(presence, df, ["hair"], min_group_size=10)
    first, second = stats
    top = first["tests"][0]
    assert top["what"] == "errors" and top["class"] == "nurse"
    assert top["p_adj"] < 1e-10 and top["rate_in"] == 1.0 and top["rate_out"] == 0.0
    assert first["rate"] == pytest.approx(mark.mean())
    assert min(t["p_adj"] for t in second["tests"]) > 0.05
    # Holm over 2 concepts x (2 hair values + 2 classes) = 8 tests
    assert len(first["tests"]) + len(second["tests"]) == 8

"""Region metrics on hand-computed 4x4 cases."""

import math

import numpy as np
import pytest
import torch

from auditor.metrics.regions import attention_mass, lift, pointing_game, region_area

# Map A: total mass 8. Top-left 2x2 holds 4 + 2 = 6, bottom-right 2x2 holds 1 + 1 = 2.
MAP_A = torch.tensor([[4.0, 0, 0, 0],
                      [0, 2, 0, 0],
                      [0, 0, 1, 1],
                      [0, 0, 0, 0]])
TOP_LEFT = torch.zeros(4, 4, dtype=torch.bool)
TOP_LEFT[:2, :2] = True
BOTTOM_RIGHT = torch.zeros(4, 4, dtype=torch.bool)
BOTTOM_RIGHT[2:, 2:] = True
BACKGROUND = ~(TOP_LEFT | BOTTOM_RIGHT)
EMPTY = torch.zeros(4, 4, dtype=torch.bool)


def _masks(n: int) -> torch.Tensor:
    return torch.stack([TOP_LEFT, BOTTOM_RIGHT, BACKGROUND, EMPTY]).expand(n, 4, 4, 4)


def test_attention_mass_hand_computed():
    maps = torch.stack([MAP_A, torch.zeros(4, 4), torch.ones(4, 4)])
    out = attention_mass(maps, _masks(3))
    assert out.shape == (3, 4)
    expected = torch.tensor([[6 / 8, 2 / 8, 0.0, 0.0],     # map A
                             [0.0, 0.0, 0.0, 0.0],         # all-zero map: zeros, no NaN
                             [4 / 16, 4 / 16, 8 / 16, 0.0]])  # uniform map: mass = area
    torch.testing.assert_close(out, expected)
    assert not torch.isnan(out).any()


def test_attention_mass_batched_over_methods():
    maps = torch.stack([torch.stack([MAP_A, torch.ones(4, 4)])])  # [1, 2, 4, 4]
    out = attention_mass(maps, _masks(1))
    assert out.shape == (1, 2, 4)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.75, 0.25, 0.0, 0.0]))
    torch.testing.assert_close(out[0, 1], torch.tensor([0.25, 0.25, 0.5, 0.0]))


def test_attention_mass_resizes_low_resolution_maps():
    # a 2x2 map with all mass in its top-left cell, upsampled bilinearly to 4x4
    small = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    out = attention_mass(small, _masks(1))
    assert out[0, 0] > 0.5 and out[0, 0] > out[0, 1]
    assert out[0, :3].sum().item() == pytest.approx(1.0)


def test_region_area_hand_computed():
    torch.testing.assert_close(region_area(_masks(2)),
                               torch.tensor([[0.25, 0.25, 0.5, 0.0]] * 2))


def test_pointing_game_hand_computed():
    maps = torch.stack([MAP_A, torch.zeros(4, 4)])
    hit = pointing_game(maps, _masks(2))
    assert hit.dtype == torch.bool
    assert hit.tolist() == [[True, False, False, False],    # max pixel (0, 0) is top-left
                            [False, False, False, False]]   # an all-zero map points nowhere
    moved = MAP_A.clone()
    moved[3, 3] = 9.0  # now the maximum is in the bottom-right corner
    hit = pointing_game(torch.stack([torch.stack([MAP_A, moved])]), _masks(1))
    assert hit.shape == (1, 2, 4)
    assert hit[0, 1].tolist() == [False, True, False, False]


def test_lift_safe_for_empty_regions():
    mass = attention_mass(MAP_A[None], _masks(1))
    area = region_area(_masks(1))
    out = lift(mass, area)
    assert out[0, :3].tolist() == pytest.approx([3.0, 1.0, 0.0])
    assert math.isnan(out[0, 3].item())
    arr = lift(np.array([0.6, 0.1]), np.array([0.2, 0.0]))
    assert arr[0] == pytest.approx(3.0) and math.isnan(arr[1])
    assert lift(0.5, 0.25) == pytest.approx(2.0)


def test_shape_errors():
    with pytest.raises(ValueError):
        attention_mass(torch.ones(2, 4, 4), _masks(3))
    with pytest.raises(ValueError):
        attention_mass(torch.ones(4, 4), _masks(1))


def test_masses_of_a_partition_sum_to_one():
    gen = torch.Generator().manual_seed(0)
    maps = torch.rand(5, 2, 8, 8, generator=gen)
    owner = torch.randint(0, 3, (5, 8, 8), generator=gen)
    masks = torch.stack([owner == r for r in range(3)], dim=1)  # a partition of each image
    mass = attention_mass(maps, masks)
    torch.testing.assert_close(mass.sum(-1), torch.ones(5, 2))
    assert (mass >= 0).all() and (mass <= 1).all()
    torch.testing.assert_close(attention_mass(torch.ones(5, 8, 8), masks), region_area(masks))


def test_relevance_rank_accuracy_hand_computed_4x4():
    import math

    from auditor.metrics.regions import relevance_rank_accuracy

    # ranks (0 = highest): the map's 4 highest pixels are the top-left 2x2 block
    m = torch.tensor([[9.0, 8.0, 1.0, 0.0],
                      [7.0, 6.0, 0.0, 0.0],
                      [5.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0]])[None]
    masks = torch.zeros(1, 3, 4, 4, dtype=torch.bool)
    masks[0, 0, :2, :2] = True          # K=4, top-4 all inside -> 1.0
    # K=4; the top 4 are (0,0),(0,1),(1,0),(1,1), of which (0,1),(1,1) are inside -> 0.5
    masks[0, 1, :2, 1:3] = True
    out = relevance_rank_accuracy(m, masks)
    assert out.shape == (1, 3)
    assert out[0, 0].item() == 1.0 and out[0, 1].item() == 0.5
    assert math.isnan(out[0, 2].item())  # empty region
    zero = relevance_rank_accuracy(torch.zeros(1, 4, 4), masks)
    assert torch.isnan(zero).all()
    both = relevance_rank_accuracy(torch.stack([m[0], m[0].flip(-1)])[None], masks)
    assert both.shape == (1, 2, 3) and both[0, 1, 0].item() == 0.0

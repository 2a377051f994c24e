"""Average maps and off-region hotspots on hand-made low-resolution maps."""

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.cues import hotspot_columns
from auditor.metrics.hotspots import (
    analysis_cells,
    downsample,
    find_hotspots,
    hotspot_mass,
    mean_maps,
    normalised_maps,
)


def test_normalised_maps_sum_to_one_and_flag_empty_maps():
    maps = np.array([[[1.0, 3.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    norm, valid = normalised_maps(maps)
    assert norm[0].tolist() == [[0.25, 0.75], [0.0, 0.0]]
    assert valid.tolist() == [True, False]
    assert norm[1].sum() == 0


def test_mean_maps_average_normalised_maps_per_cell():
    maps = np.array([[[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 4.0]],
                     [[0.0, 0.0], [0.0, 0.0]]])
    out = mean_maps(maps, {"a": np.array([True, True, True]), "b": np.array([False, True, False])})
    mean, n = out["a"]
    assert n == 2  # the all-zero map is left out
    assert mean.tolist() == [[0.25, 0.25], [0.0, 0.5]]
    assert out["b"][0].tolist() == [[0.0, 0.0], [0.0, 1.0]]


def _spot_maps(n=40, side=8, seed=0):
    rng = np.random.default_rng(seed)
    maps = 1.0 + 0.1 * rng.random((n, side, side))
    maps[: n // 2, 0:2, 0:2] += 10.0  # half the images look hard at the top-left corner
    return maps


def test_find_hotspots_locates_consistent_off_region_attention():
    maps = _spot_maps()
    cells = {"all": np.ones(40, bool), "first half": np.arange(40) < 20}
    (spot,) = find_hotspots(maps, None, cells, n=3, min_lift=2.0, max_area=0.25, min_cell=10)
    assert spot.name == "hotspot_1"
    assert spot.mask[0:2, 0:2].all() and spot.mask.sum() == 4
    assert spot.box == [0.0, 0.0, 0.25, 0.25]
    assert spot.cell == "first half"
    # 4 spot cells of ~11.05 against 60 cells of ~1.05 in each map of the first half
    assert spot.cell_mass == pytest.approx(4 * 11.05 / (4 * 11.05 + 60 * 1.05), abs=0.01)


def test_annotated_attention_is_not_a_hotspot():
    maps = _spot_maps()
    cover = np.zeros_like(maps)
    cover[:, 0:2, 0:2] = 1.0  # the spot is an annotated region in every image
    assert find_hotspots(maps, cover, {"all": np.ones(40, bool)}, min_cell=10) == []


def test_large_blobs_and_small_cells_are_not_hotspots():
    maps = np.ones((40, 8, 8))
    maps[:, :, :4] += 10.0  # half the image: not a spot
    assert find_hotspots(maps, None, {"all": np.ones(40, bool)}, max_area=0.25) == []
    spot = _spot_maps()
    assert find_hotspots(spot, None, {"few": np.arange(40) < 5}, min_cell=10) == []


def test_hotspot_mass_excludes_annotated_pixels():
    maps = np.ones((2, 2, 2))
    mask = np.array([[True, False], [False, False]])
    mass, area = hotspot_mass(maps, None, mask)
    assert mass.tolist() == [0.25, 0.25] and area.tolist() == [0.25, 0.25]
    cover = np.zeros((2, 2, 2))
    cover[1, 0, 0] = 1.0
    mass, area = hotspot_mass(maps, cover, mask)
    assert mass.tolist() == [0.25, 0.0] and area.tolist() == [0.25, 0.0]


def test_hotspot_columns_follow_the_region_column_contract():
    maps = np.ones((3, 1, 2, 2))
    maps[0, 0, 0, 0] = 5.0
    spot = find_hotspots(np.ones((3, 2, 2)), None, {"all": np.ones(3, bool)}, min_cell=1)
    assert spot == []  # uniform maps: nothing stands out
    from auditor.metrics.hotspots import Hotspot

    h = Hotspot("hotspot_1", np.array([[True, False], [False, False]]), [0, 0, .5, .5], "all",
                3.0, 0.5)
    cols = hotspot_columns(maps, None, [h], ["gradcam"], np.array([[True], [False], [False]]),
                           np.zeros((3, 1)))
    assert list(cols.columns) == ["mass_gradcam_hotspot_1", "area_hotspot_1", "flip_hotspot_1",
                                  "conf_drop_hotspot_1"]
    assert cols["mass_gradcam_hotspot_1"].tolist() == pytest.approx([5 / 8, 0.25, 0.25])


def test_analysis_cells_and_downsample():
    df = pd.DataFrame({"label": ["a", "a", "b"], "correct": [True, False, True],
                       "hair": ["x", "y", "x"]})
    cells = analysis_cells(df, ["hair"])
    assert list(cells) == ["all", "class a", "class b", "class a · hair=x", "class a · hair=y",
                           "class b · hair=x", "right answers", "wrong answers"]
    assert cells["class a · hair=y"].tolist() == [False, True, False]
    small = downsample(np.full((4, 4), 1 / 16), side=2)
    assert small == [[0.25, 0.25], [0.25, 0.25]]

"""The cues pass's paste test on a model that reads only the top-left corner."""

import numpy as np
import torch
from torch import nn

from auditor.pipeline.cues_pass import _hotspot_swaps
from auditor.saliency.perturb import fill_image


class _Corner(nn.Module):
    """Class 0 when the top-left 4x4 corner is bright, else class 1."""

    def forward(self, x):
        corner = x[:, :, :4, :4].mean(dim=(1, 2, 3))
        return torch.stack([corner - 0.5, 0.5 - corner], dim=1) * 10


def _batch(n=16):
    labels = np.arange(n) % 2
    images = torch.full((n, 3, 16, 16), 0.3)
    images[labels == 0, :, :4, :4] = 0.9  # the planted corner mark of class 0
    return images, labels


def test_pasting_the_corner_from_another_class_moves_the_prediction_there():
    images, labels = _batch()
    model = _Corner()
    corner = torch.zeros(16, 16, dtype=torch.bool)
    corner[:4, :4] = True
    other = torch.zeros(16, 16, dtype=torch.bool)
    other[10:, 10:] = True  # an area the model ignores
    regions = torch.stack([corner, other])[None].expand(len(labels), -1, -1, -1)
    logits = model(images)
    follow, placebo = _hotspot_swaps(model, images, regions, logits,
                                     fill_image(images, "mean"),
                                     np.random.default_rng(0))
    assert follow.shape == placebo.shape == (16, 2)
    assert np.nanmean(follow[:, 0]) == 1.0  # every paste of the corner is followed
    assert np.nanmean(placebo[:, 0]) == 0.0  # a same-class corner changes nothing
    assert np.nanmean(follow[:, 1]) == 0.0 and np.nanmean(placebo[:, 1]) == 0.0


def test_donors_are_chosen_by_the_prediction_so_a_misread_image_follows_a_corner_too():
    images, labels = _batch(4)
    images[0, :, :4, :4] = 0.3  # class 0 without its mark: predicted class 1
    model = _Corner()
    corner = torch.zeros(16, 16, dtype=torch.bool)
    corner[:4, :4] = True
    regions = corner[None, None].expand(4, 1, -1, -1)
    follow, placebo = _hotspot_swaps(model, images, regions, model(images),
                                     fill_image(images, "mean"),
                                     np.random.default_rng(0))
    assert follow[0, 0] == 1.0  # its donor is called class 0 (marked): the mark moves it there
    assert follow[2, 0] == 1.0  # a marked doctor given a nurse's corner: called nurse
    assert placebo[0, 0] == 0.0  # the other unmarked image's corner changes nothing
    assert np.isnan(placebo[2, 0])  # no other image is called class 0: no placebo donor


def test_a_cue_independent_of_the_label_is_still_told_from_its_placebo():
    """A balanced test split: the corner agrees with the label in half of each class. Donors
    chosen by label would carry the cue no more often from another class than from the same
    one; chosen by the model's prediction, the paste is followed and the placebo changes
    nothing."""
    n = 16
    labels = np.arange(n) % 2
    marked = (np.arange(n) // 2) % 2 == 0  # independent of the label
    images = torch.full((n, 3, 16, 16), 0.3)
    images[torch.as_tensor(marked), :, :4, :4] = 0.9
    model = _Corner()
    corner = torch.zeros(16, 16, dtype=torch.bool)
    corner[:4, :4] = True
    regions = corner[None, None].expand(n, 1, -1, -1)
    follow, placebo = _hotspot_swaps(model, images, regions, model(images),
                                     fill_image(images, "mean"), np.random.default_rng(1))
    assert (follow[:, 0] == 1.0).all()
    assert (placebo[:, 0] == 0.0).all()
    assert (labels[marked] == 0).mean() == 0.5  # the premise: the corner says nothing of the label

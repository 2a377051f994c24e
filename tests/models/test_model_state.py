"""The one model-state context manager restores every module and parameter, even on error."""

import pytest
from torch import nn

from auditor.models.state import eval_mode, frozen, model_state


def _model():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 2))
    m.train()
    m[1].eval()  # a frozen batch-norm inside a model in train mode
    m[2].weight.requires_grad_(False)
    return m


@pytest.mark.parametrize("ctx", [frozen, eval_mode,
                                 lambda m: model_state(m, training=True, requires_grad=True)])
def test_every_module_and_parameter_is_restored_even_on_error(ctx):
    m = _model()
    before = ([x.training for x in m.modules()], [p.requires_grad for p in m.parameters()])
    with pytest.raises(RuntimeError), ctx(m):
        raise RuntimeError("boom")
    after = ([x.training for x in m.modules()], [p.requires_grad for p in m.parameters()])
    assert after == before
    assert before[0] == [True, True, False, True]


def test_frozen_sets_eval_and_no_grad_inside():
    m = _model()
    with frozen(m):
        assert not any(x.training for x in m.modules())
        assert not any(p.requires_grad for p in m.parameters())
    assert m[0].weight.requires_grad and not m[2].weight.requires_grad

"""The one way to change a model's state for a while: every module and parameter restored on exit.

Hooks, eval mode and ``requires_grad`` are changed only inside these context managers (the
saliency engine, the reliance test and training all use them), and each module's own
``training`` flag is restored, so a submodule kept in eval mode inside a model in train mode
(a frozen batch-norm, say) stays so, even when the body raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["backbone_frozen", "eval_mode", "frozen", "model_state"]


@contextlib.contextmanager
def _restored(model: nn.Module, *, params: bool) -> Iterator[None]:
    """Record every module's ``training`` flag (and every parameter's ``requires_grad`` when
    ``params``); put them all back on exit, also when the body raises."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()] if params else []
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, flag in modes:
            m.training = flag


@contextlib.contextmanager
def model_state(model: nn.Module, *, training: bool,
                requires_grad: bool | None = None) -> Iterator[nn.Module]:
    """Set ``model.train(training)`` (and every parameter's ``requires_grad``); restore on exit.

    Args:
        model: the module; every submodule's ``training`` flag is recorded and restored.
        training: the mode inside the block.
        requires_grad: if not None, every parameter's flag inside the block (restored after).
    """
    with _restored(model, params=requires_grad is not None):
        model.train(training)
        if requires_grad is not None:
            for p in model.parameters():
                p.requires_grad_(bool(requires_grad))
        yield model


def eval_mode(model: nn.Module) -> contextlib.AbstractContextManager[nn.Module]:
    """Eval mode for the block; each module's mode restored on exit."""
    return model_state(model, training=False)


def frozen(model: nn.Module) -> contextlib.AbstractContextManager[nn.Module]:
    """Eval mode with every parameter's ``requires_grad`` off; everything restored on exit.

    Gradients then flow only to tensors we mark ourselves (the target activation or the input),
    so no parameter gradient is ever computed or stored.
    """
    return model_state(model, training=False, requires_grad=False)


@contextlib.contextmanager
def backbone_frozen(model: nn.Module, head: str) -> Iterator[nn.Module]:
    """Train only the head ``head`` (a dotted module name) for the block.

    Every parameter outside the head stops requiring grad and every module outside it goes to
    eval mode (batch-norm statistics of the backbone stay as they are); the head's modules keep
    their mode. Every flag is restored on exit.
    """
    head_module = model.get_submodule(head)
    head_ids = {id(m) for m in head_module.modules()}
    head_params = {id(p) for p in head_module.parameters()}
    with _restored(model, params=True):
        for m in model.modules():
            if id(m) not in head_ids:
                m.training = False
        for p in model.parameters():
            if id(p) not in head_params:
                p.requires_grad_(False)
        yield model

"""The classification head of a model: the one rule for finding it (DFR, CAM, head resizing)."""

from __future__ import annotations

from typing import Any

from torch import nn

from auditor.errors import ModelError

__all__ = ["classifier_head", "find_head", "probe_attr"]


def probe_attr(obj: Any, name: str) -> Any:
    """``obj.name``, or None when reading it fails in any way: ``getattr(obj, name, None)``
    only catches AttributeError, and a user's ``__getattr__`` may raise KeyError (a config
    lookup) or anything else for a name it does not hold."""
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001  (the user's __getattr__)
        return None


def classifier_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's last ``nn.Linear`` (module registration order) and its qualified name.

    Args:
        model: the classifier.

    Returns:
        ``(name, module)``, e.g. ``("fc", Linear(512, 2))``; replace it with
        ``model.get_submodule(parent).<attr> = new_head``.

    Raises:
        ModelError: the model has no linear layer.
    """
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ModelError(f"{type(model).__name__} has no nn.Linear classification head")
    return found[-1]


def find_head(model: nn.Module, num_classes: int) -> str:
    """Dotted name of the layer producing the ``num_classes`` scores: the last ``nn.Linear``
    (or 1x1 ``nn.Conv2d``, SqueezeNet) with that many outputs; ``""`` when there is none."""
    heads = [n for n, m in model.named_modules()
             if (isinstance(m, nn.Linear) and m.out_features == num_classes)
             or (isinstance(m, nn.Conv2d) and m.out_channels == num_classes)]
    return heads[-1] if heads else ""

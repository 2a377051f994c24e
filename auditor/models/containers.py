"""Why a model's dict, tuple or list output is not the logits tensor the audit needs, and
which entry to return instead: one description for ``audit validate``'s model check, the
saliency probe and the TorchScript loader."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

__all__ = ["container_problem"]


def container_problem(out: Mapping | tuple | list, n: int | None = None,
                      k: int | None = None, *, torchscript: bool = False) -> str:
    """Why a dict, tuple or list of outputs is not a logits tensor, in one line, and which
    entry to return: the one of ``[n, k]`` scores when exactly one is (a feature vector next to
    the logits is ``[n, width]``). With ``k`` unknown, the 2-D entries (one named like
    ``logits`` first). ``torchscript``: the model is a TorchScript file, whose class auditor
    cannot wrap: the way out is to export it again from a module returning that entry."""
    items = list(out.items()) if isinstance(out, Mapping) else list(enumerate(out))
    fits = [key for key, value in items
            if isinstance(value, Tensor) and value.ndim == 2
            and (n is None or value.shape[0] == n) and (k is None or value.shape[1] == k)]
    if k is None:
        fits = [f for f in fits if "logit" in str(f).lower()] or fits
    scores = f" (its one output of {k} scores per image)" if k is not None else ""
    if len(fits) == 1:
        which = f"model(x)[{fits[0]!r}]{scores}"
    elif fits:
        each = f" (each is [N, {k}])" if k is not None else ""
        which = f"the logits among model(x)[{']/['.join(repr(f) for f in fits)}]{each}"
    elif k is not None:
        which = f"the logits (none of its outputs is [N, {k}], one score per class)"
    else:
        which = "the logits"
    if isinstance(out, Mapping):
        keys = [str(key) for key, _ in items]
        what = f"a dict (keys: {', '.join(keys[:6]) or 'none'}{', ...' if len(keys) > 6 else ''})"
    else:
        what = f"a {type(out).__name__} of {len(out)} items"
    head = f"the model returns {what}, not a logits tensor [N, classes]"
    if torchscript:
        return (f"{head}: save the TorchScript file again from a module holding the model whose "
                f"forward returns {which} (torch.jit.save(torch.jit.trace(Logits(model), "
                "example), path)): auditor cannot wrap a TorchScript model's class")
    return f"{head}: wrap it in a module whose forward returns {which} and give that class as arch"

"""What to do about a model whose forward fails on the audit's images, when the error says.

Shared by ``audit validate``'s model check and the TorchScript conversion, so a model made for
another input size gets the same advice whichever route loaded it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["error_line", "forward_hint"]

# what torch says when a layer receives another input size than it was made for: a linear
# layer after a flatten (eager, TorchScript, a fake-tensor trace), a view or an unfold
_SIZE_ERRORS = ("mat1 and mat2", "size mismatch", "too small", "must have same reduction dim",
                "is invalid for input of size")


def error_line(err: BaseException) -> str:
    """The line of ``err`` that says what went wrong: its first non-empty line, except for the
    TorchScript interpreter, whose message opens with its own traceback and ends with the
    error (``RuntimeError: mat1 and mat2 shapes cannot be multiplied ...``)."""
    lines = [" ".join(line.split()) for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if lines[0].startswith("The following operation failed in the TorchScript interpreter"):
        return lines[-1]
    return lines[0]


def forward_hint(model: nn.Module, err: BaseException, batch: Tensor) -> str:
    """``"; <what to do>"`` for a forward of ``model`` on ``batch`` that raised ``err``, when
    the error (or the model's weights) says (else "")."""
    text = str(err)
    dtypes = sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters()
                     if p.is_floating_point() and p.dtype != torch.float32})
    if dtypes:
        return (f"; its weights are {', '.join(dtypes)}: save it in float32 (model.float()) or "
                "cast the input inside its forward")
    if "channels" in text and "expected" in text:
        return (f"; the data gives {batch.shape[1]}-channel RGB images: a model for other "
                "inputs needs a first layer that takes them")
    if any(s in text for s in _SIZE_ERRORS):
        runs = _size_that_runs(model, batch)
        if runs is not None:
            return (f"; a layer expects another input size than {batch.shape[-1]} px: set "
                    f"data.image_size to one it takes (it runs on {runs} px images; a model "
                    "trained or traced at a size: that size)")
        return (f"; a layer expects another input size than {batch.shape[-1]} px: set "
                "data.image_size to the size the model was made for (traced or trained at)")
    return ""


# sizes tried on a model that fails on the audit's: larger ones first (a torchvision model
# whose pooling leaves nothing of small images), then smaller ones
_PROBE_SIZES = (64, 96, 128, 224, 299, 32, 28)


def _size_that_runs(model: nn.Module, batch: Tensor) -> int | None:
    """An input side (of :data:`_PROBE_SIZES`) ``model`` runs on in eval mode, else None."""
    from auditor.models.state import eval_mode

    side = int(batch.shape[-1])
    larger = [s for s in _PROBE_SIZES if s > side]
    smaller = sorted((s for s in _PROBE_SIZES if s < side), reverse=True)
    for size in larger + smaller:
        x = torch.zeros(1, int(batch.shape[1]), size, size, dtype=batch.dtype,
                        device=batch.device)
        try:
            with eval_mode(model), torch.no_grad():
                model(x)
        except Exception:  # noqa: BLE001, S112  (the model's code fails as it fails: next size)
            continue
        return size
    return None

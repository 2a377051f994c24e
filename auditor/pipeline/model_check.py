"""``audit validate``'s model check: build every model, load every file, one forward on CPU.

A wrong checkpoint, a class that does not build, a model that cannot take the input size or
returns the wrong number of scores fails here in one line, not minutes into ``audit run``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from auditor.config import AuditConfig, ModelConfig
from auditor.errors import AuditorError, ModelError, SaliencyError
from auditor.models.build import BuiltModel, build_configured, load_pretrained
from auditor.models.state import eval_mode
from auditor.saliency.engine import CamEngine
from auditor.saliency.layers import not_logits
from auditor.saliency.target_choice import choose_target_layer

__all__ = ["ModelCheck", "check_models", "check_output", "naming"]


@dataclass
class ModelCheck:
    """What the model check found: one line per model and the warnings; ``built``: the
    models it built complete from their files (checkpoint, TorchScript), which ``audit run``
    audits as they are instead of loading every file twice."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    built: dict[str, BuiltModel] = field(default_factory=dict)


def _first_line(err: BaseException) -> str:
    for line in str(err).splitlines():
        if line.strip():
            return " ".join(line.split())
    return type(err).__name__


@contextlib.contextmanager
def naming(where: str) -> Iterator[None]:
    """A saliency error (a method the model cannot take, a layer that does not reach the
    logits) names the model it came from: ``models[<name>]: ...``."""
    try:
        yield
    except SaliencyError as err:
        raise SaliencyError(f"{where}: {err}") from None


def _check_cam(model: nn.Module, layer: str, images: Tensor, where: str) -> None:
    """``cam`` fits only a GAP + linear head: checked on one image, so that a model it does not
    fit is named here rather than after training."""
    with naming(where):
        CamEngine(model, layer, ["cam"])(images[:1])


def _check_one(mcfg: ModelConfig, classes: list[str], images: Tensor, target_layer: str,
               out: ModelCheck, methods: list[str]) -> None:
    where = f"models[{mcfg.name}]"
    built = build_configured(mcfg, len(classes), image_size=int(images.shape[-1]))
    if not built.complete:
        load_pretrained(built, mcfg)
    model = built.model.cpu()
    check_output(model, where, images, classes)
    with naming(where):
        choice = choose_target_layer(model, target_layer, images[:1])
    if "cam" in methods:
        _check_cam(model, choice.name, images, where)
    if built.complete:
        out.built[mcfg.name] = built
    n_params = sum(p.numel() for p in model.parameters())
    source = ("checkpoint loaded" if built.complete else
              f"weights {built.notes['weights']} loaded" if "weights" in built.notes else
              "to be trained")
    extra = ", trust_pickle: the file was fully unpickled" if built.notes.get("trust_pickle") \
        else ""
    h, w = choice.map_size
    out.lines.append(f"model {mcfg.name}: {mcfg.arch} ({n_params / 1e6:.2f} M parameters, "
                     f"{source}{extra}); target layer {choice.name} ({h}x{w} maps)")
    if choice.note:
        out.warnings.append(f"{mcfg.name}: {choice.note}")


def check_output(model: torch.nn.Module, where: str, images: Tensor,
                 classes: list[str]) -> None:
    """The model takes ``images`` (and a batch of one of them) and returns one row of class
    scores per image, ``[N, len(classes)]``.

    Raises:
        ModelError: one line naming ``where`` (``models[<name>]``), what came back and what
            the data needs.
    """
    for batch in (images, images[:1]) if len(images) > 1 else (images,):
        try:
            with eval_mode(model), torch.no_grad():
                logits = model(batch)
        except AuditorError:
            raise
        except Exception as err:  # noqa: BLE001  (any model code: one line, never a traceback)
            raise ModelError(f"{where}: a forward pass on a batch of {len(batch)} "
                             f"{batch.shape[-1]} px images failed: {_first_line(err)}") from None
        problem = not_logits(logits)
        if problem:
            raise ModelError(f"{where}: {problem}")
        if not isinstance(logits, Tensor) or tuple(logits.shape) != (len(batch), len(classes)):
            shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            one = (" (one logit: wrap it to return [N, 2], e.g. torch.cat([-z, z], 1) / 2)"
                   if isinstance(logits, Tensor) and logits.shape[-1:] == (1,)
                   and len(classes) == 2 else "")
            raise ModelError(f"{where}: the model returns {shape} for {len(batch)} image(s); "
                             f"the data needs [N, {len(classes)}] (one score per class: "
                             f"{', '.join(classes)}){one}")


def check_models(cfg: AuditConfig, classes: list[str], images: Tensor) -> ModelCheck:
    """Build and load every model of ``cfg`` and run it once on ``images`` (CPU).

    Args:
        cfg: the validated config.
        classes: class names of the data.
        images: ``[N, 3, S, S]`` normalised images (one small batch).

    Raises:
        AuditorError: the first model that fails, in one line.
    """
    out = ModelCheck()
    torch.manual_seed(cfg.seed)
    for mcfg in cfg.models:
        _check_one(mcfg, classes, images.cpu(), cfg.saliency.target_layer, out,
                   list(cfg.saliency.methods))
    return out

"""``audit validate``'s model check: build every model, load every file, one forward on CPU.

A wrong checkpoint, a class that does not build, a model that cannot take the input size or
returns the wrong number of scores fails here in one line, not minutes into ``audit run``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from auditor.config import AuditConfig, ModelConfig
from auditor.errors import AuditorError, ModelError, SaliencyError
from auditor.models.build import BuiltModel, load_pretrained
from auditor.models.containers import container_problem
from auditor.models.hints import error_line, forward_hint
from auditor.models.outputs import build_for_data, output_spec, raw_forward
from auditor.models.state import eval_mode
from auditor.saliency.engine import CamEngine
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


@contextlib.contextmanager
def naming(where: str) -> Iterator[None]:
    """A saliency error (a method the model cannot take, a layer that does not reach the
    logits) names the model it came from: ``models[<name>]: ...``; so does a failure of the
    model's code in a forward and backward pass with gradients (``.numpy()`` on a tensor that
    requires grad, an in-place op autograd needs undone, ``sys.exit``)."""
    try:
        yield
    except SaliencyError as err:
        raise SaliencyError(f"{where}: {err}") from None
    except AuditorError:
        raise
    except (Exception, SystemExit) as err:  # noqa: BLE001  (any model code: one line)
        raise ModelError(f"{where}: a forward and backward pass with gradients (what saliency "
                         f"needs) failed: {type(err).__name__}: {error_line(err)}") from None


#: Methods only some models can take (``cam``: a GAP + linear head; guided backpropagation:
#: ``nn.ReLU`` modules), tried on one image so that a model they do not fit is named here
#: rather than after training.
PICKY_METHODS = ("cam", "guided-backprop", "guided-gradcam")


def _check_picky(model: nn.Module, layer: str, images: Tensor, where: str,
                 methods: list[str]) -> None:
    picky = [m for m in methods if m in PICKY_METHODS]
    if picky:
        with naming(where):
            CamEngine(model, layer, picky)(images[:1])


def _check_one(mcfg: ModelConfig, classes: list[str], images: Tensor, target_layer: str,
               out: ModelCheck, methods: list[str]) -> None:
    where = f"models[{mcfg.name}]"
    built = build_for_data(mcfg, classes, image_size=int(images.shape[-1]))
    if not built.complete:
        load_pretrained(built, mcfg)
    model = built.model.cpu()
    check_output(model, where, images, classes)
    with naming(where):
        choice = choose_target_layer(model, target_layer, images[:1])
    _check_picky(model, choice.name, images, where, methods)
    if built.complete:
        out.built[mcfg.name] = built
    n_params = sum(p.numel() for p in model.parameters())
    source = ("checkpoint loaded" if built.complete else
              f"weights {built.notes['weights']} loaded" if "weights" in built.notes else
              "to be trained")
    extra = ", trust_pickle: the file was fully unpickled" if built.notes.get("trust_pickle") \
        else ""
    h, w = choice.map_size
    arch = built.notes.get("arch", mcfg.arch)  # a pickled module's own class
    out.lines.append(f"model {mcfg.name}: {arch} ({n_params / 1e6:.2f} M parameters, "
                     f"{source}{extra}); target layer {choice.name} ({h}x{w} maps)")
    if choice.note:
        out.warnings.append(f"{mcfg.name}: {choice.note}")


def _forward(model: nn.Module, batch: Tensor, where: str) -> object:
    """The model's output on ``batch`` in eval mode without gradients; a failure of its code
    (``sys.exit`` included) is one line."""
    try:
        with eval_mode(model), torch.no_grad():
            return model(batch)
    except AuditorError:
        raise
    except (Exception, SystemExit) as err:  # noqa: BLE001  (any model code: one line)
        raise ModelError(f"{where}: a forward pass on a batch of {len(batch)} "
                         f"{batch.shape[-1]} px images failed: {type(err).__name__}: "
                         f"{error_line(err)}{forward_hint(model, err, batch)}") from None


def _output_problem(out: object, n: int, classes: list[str]) -> str | None:
    """Why ``out`` is not ``[n, len(classes)]`` float scores (None when it is)."""
    if isinstance(out, (Mapping, tuple, list)):
        return container_problem(out, n, len(classes))
    if not isinstance(out, Tensor):
        return f"the model returns {type(out).__name__}, not a logits tensor [N, classes]"
    if not out.is_floating_point():
        return (f"the model returns {str(out.dtype).removeprefix('torch.')} values (class "
                "indices?), not float scores: return the logits, one score per class")
    if tuple(out.shape) != (n, len(classes)):
        hint = ""
        if out.dim() == 4 and tuple(out.shape[2:]) == (1, 1):
            hint = " (a 1x1 map per class: return model(x).flatten(1))"
        elif out.shape[-1:] == (1,) and len(classes) == 2:
            hint = " (one logit: wrap it to return [N, 2], e.g. torch.cat([-z, z], 1) / 2)"
        return (f"the model returns {tuple(out.shape)} for {n} image(s); the data needs "
                f"[N, {len(classes)}] (one score per class: {', '.join(classes)}){hint}")
    bad = int((~torch.isfinite(out)).any(dim=1).sum())
    if bad:
        return (f"the model returns NaN or infinite scores for {bad} of {n} image(s) (an "
                "overflow in float16? a division by zero?)")
    return None


def _probabilities_problem(model: nn.Module, batch: Tensor, out: Tensor,
                           where: str) -> str | None:
    """A softmax model audited as logits, or ``output: probabilities`` on a model that does
    not return them; ``out``: the model's output on ``batch`` (its own when not adapted)."""
    spec = output_spec(model)
    raw: object = out
    if spec is not None:
        with eval_mode(model), torch.no_grad():
            raw = raw_forward(model, batch)
    if not isinstance(raw, Tensor) or raw.dim() != 2 or raw.shape[1] < 2:
        return None
    within = bool(((raw >= -1e-6) & (raw <= 1 + 1e-6)).all())
    if spec is not None and spec.probabilities:
        return None if within else (
            f"{where}.output is probabilities, but the model returns values outside [0, 1] "
            f"(from {float(raw.min()):.3g} to {float(raw.max()):.3g}): remove it")
    if within and bool(((raw.sum(dim=1) - 1).abs() < 1e-3).all()):
        return (f"{where}: the model returns probabilities (every row is in [0, 1] and sums "
                f"to 1): set {where}.output: probabilities (their logarithm is audited), or "
                "return the logits before the softmax")
    return None


def check_output(model: torch.nn.Module, where: str, images: Tensor,
                 classes: list[str]) -> None:
    """The model takes ``images`` (and a batch of one of them) and returns one row of finite
    class scores per image, ``[N, len(classes)]``, logits (not probabilities, unless its
    config says so), the same each time it sees the same images.

    Raises:
        ModelError: one line naming ``where`` (``models[<name>]``), what came back and what
            the data needs.
    """
    first, changed = None, False
    for batch in (images, images[:1]) if len(images) > 1 else (images,):
        given = batch.clone()  # each forward its own copy: a model may write into its input
        out = _forward(model, given, where)
        changed = changed or not torch.equal(given, batch)
        problem = _output_problem(out, len(batch), classes)
        if problem:
            raise ModelError(f"{where}: {problem}")
        first = out if first is None else first
    assert isinstance(first, Tensor)
    problem = _probabilities_problem(model, images.clone(), first, where)
    if problem:
        raise ModelError(problem)
    again = _forward(model, images.clone(), where)
    assert isinstance(again, Tensor)
    diff = float((again - first).abs().max())
    differs = diff > 1e-4 * max(1.0, float(first.abs().max()))
    if changed:
        same = (f"with a copy of the images each time, it gives other scores for the same "
                f"images (by up to {diff:.3g})") if differs else \
            "with a copy of the images each time, its scores are the same"
        raise ModelError(f"{where}: the model changes its input tensor in place (x.mul_(), "
                         f"x += ..., an inplace=True first layer); {same}, but the audit "
                         "reuses its images after a forward and needs their gradients: compute "
                         "on a new tensor instead (x = x * 2, not x.mul_(2))")
    if differs:
        raise ModelError(f"{where}: the model gives other scores for the same images in eval "
                         f"mode (by up to {diff:.3g}): something random stays on (F.dropout("
                         "x, training=True), noise in forward); the audit compares predictions "
                         "before and after changing a region and needs a deterministic model")


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

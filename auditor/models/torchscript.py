"""TorchScript files (``arch: torchscript``, ``checkpoint: model.pt``), audited as they are.

A ScriptModule runs its submodules inside TorchScript, so Python hooks (which every CAM method
needs) cannot reach them. The file is therefore converted once to an ``torch.export`` graph
(``TS2EPConverter``, no Python code from the file is run), and an identity module is placed after
every operation that yields a feature map or token sequence: ``taps.<op name>`` (``taps.relu_12``,
``taps.layer_norm_24``). Those are the target layers; ``auto`` picks one like for any model.
"""

from __future__ import annotations

import contextlib
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from auditor.errors import ModelError
from auditor.models.containers import container_problem
from auditor.models.hints import error_line, forward_hint

__all__ = ["load_torchscript"]

_NO_DERIVATIVE = re.compile(r"derivative for (\S+) is not implemented")


def _add_taps(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """An identity module after every float 3-D/4-D result, named after the operation."""
    taps = nn.Module()
    gm.add_module("taps", taps)
    for node in list(gm.graph.nodes):
        val = node.meta.get("val")
        if node.op != "call_function" or not isinstance(val, Tensor) \
                or val.dim() not in (3, 4) or not val.is_floating_point():
            continue
        taps.add_module(node.name, nn.Identity())
        with gm.graph.inserting_after(node):
            tap = gm.graph.call_module(f"taps.{node.name}", (node,))
        node.replace_all_uses_with(tap, delete_user_cb=lambda user, tap=tap: user is not tap)
    gm.recompile()
    return gm


def load_torchscript(path: Path, example: Tensor, num_classes: int | None = None) -> nn.Module:
    """Load a TorchScript file as a hookable module.

    Args:
        path: a file written by ``torch.jit.save`` (scripted or traced).
        example: a ``[N, 3, H, W]`` batch of the audit's input size (the conversion's example).
        num_classes: the scores per image the model should return (to name the entry of a
            dict or tuple output that holds them), if known.

    Returns:
        An ``nn.Module`` computing the same logits, with target layers ``taps.<op>``.

    Raises:
        ModelError: one line naming the file: missing, not TorchScript, or not convertible.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: TorchScript file not found (save one with "
                         "torch.jit.save(torch.jit.trace(model, example), path))")
    try:
        with warnings.catch_warnings():
            # torch >= 2.10 deprecates TorchScript in a FutureWarning on every load: it would
            # reach the user's terminal and says nothing about their file
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*deprecated",
                                    category=FutureWarning)
            scripted = torch.jit.load(str(path), map_location="cpu")
        saved_training = any(m.training for m in scripted.modules())
        # a file saved in train mode: scripted code reads self.training (eval behaviour from
        # here); a trace froze the mode as constants, switched to eval below
        scripted.eval()
    except Exception as err:  # noqa: BLE001  (torch raises RuntimeError, ValueError, ...)
        if _is_torchscript_archive(path):
            raise ModelError(
                f"{path}: a TorchScript file torch cannot load back (torch.jit.load: "
                f"{error_line(err)}), as files saved after torch.jit.optimize_for_inference "
                "often are: save the model before that step (torch.jit.save(torch.jit.trace("
                "model, example), path)), or give its state_dict with the arch it belongs to"
            ) from None
        raise ModelError(f"{path}: not a TorchScript file (torch.jit.load: "
                         f"{error_line(err)}); a state_dict needs the arch it belongs to, "
                         "a TorchScript file arch: torchscript") from None
    sample = example[:1].detach().float().cpu().expand(2, *example.shape[1:]).contiguous()
    try:
        from torch._export.converter import TS2EPConverter

        with warnings.catch_warnings(), _torch_logs_quiet():
            warnings.simplefilter("ignore")
            program = TS2EPConverter(scripted, (sample,)).convert()
        exported = program.module()
        # a plain GraphModule: the exported one refuses eval()/train() and checks input shapes
        gm = torch.fx.GraphModule(exported, exported.graph)
        _drop_shape_assertions(gm)
        if saved_training:
            _train_ops_to_eval(gm)
    except Exception as err:  # noqa: BLE001  (the converter raises many kinds)
        raise _not_converted(path, scripted, sample, err) from None
    _restore_parameters(gm, {n for n, _ in scripted.named_parameters()})
    out = _check_differentiable(gm, sample, path)
    if isinstance(out, (Mapping, tuple, list)):
        raise ModelError(f"{path}: "
                         f"{container_problem(out, len(sample), num_classes, torchscript=True)}")
    return _add_taps(gm)


@contextlib.contextmanager
def _torch_logs_quiet() -> Iterator[None]:
    """torch's own loggers silenced, then restored: the converter's fake-tensor pass logs
    every failed shape check with its traceback to stderr (``E1201 ... fake_tensor.py``),
    before raising the error that is reported in one line."""
    loggers = [logging.getLogger("torch")] + [
        lg for name, lg in logging.Logger.manager.loggerDict.items()
        if name.startswith("torch.") and isinstance(lg, logging.Logger)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _not_converted(path: Path, scripted: nn.Module, sample: Tensor,
                   err: BaseException) -> ModelError:
    """Why the conversion failed, in one line: the model itself fails on the audit's input
    size (traced or trained at another one), or its graph is one the converter cannot read."""
    try:
        with torch.no_grad():
            scripted(sample)
    except Exception as run_err:  # noqa: BLE001  (the file's code raises what it raises)
        return ModelError(
            f"{path}: the model fails on {sample.shape[-1]} px images ({error_line(run_err)})"
            f"{forward_hint(scripted, run_err, sample)}")
    return ModelError(
        f"{path}: this TorchScript graph cannot be opened for saliency maps "
        f"({error_line(err)}); if it was made with torch.jit.script, save it with "
        "torch.jit.trace(model, example) instead, or give its state_dict with arch: "
        "\"file.py:Class\"")


def _drop_shape_assertions(gm: torch.fx.GraphModule) -> None:
    """Remove the converter's runtime assertions on sizes read from tensors. They hold for
    the conversion's example batch of two but not for one image (a traced ViT: "u2 >= 4"),
    which the layer probe and a last batch feed; every operation still checks its shapes."""
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target is torch.ops.aten._assert_scalar.default:
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.recompile()


# operations a module runs differently in train mode, with the position of their training flag
_TRAIN_FLAG = {
    torch.ops.aten.batch_norm.default: 5,
    torch.ops.aten.native_batch_norm.default: 5,
    torch.ops.aten.dropout.default: 2,
    torch.ops.aten.dropout_.default: 2,
    torch.ops.aten.feature_dropout.default: 2,
    torch.ops.aten.feature_dropout_.default: 2,
    torch.ops.aten.alpha_dropout.default: 2,
    torch.ops.aten.alpha_dropout_.default: 2,
    torch.ops.aten.feature_alpha_dropout.default: 2,
    torch.ops.aten.feature_alpha_dropout_.default: 2,
}


def _train_ops_to_eval(gm: torch.fx.GraphModule) -> None:
    """Eval mode for a graph traced in train mode (``torch.jit.trace`` records the mode as
    constants, which ``.eval()`` cannot change): dropout off, BatchNorm on its running
    statistics (one without them, ``track_running_stats=False``, keeps batch statistics as in
    eval mode), and the count of batches seen no longer incremented."""
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        where = _TRAIN_FLAG.get(node.target)
        if where is not None and len(node.args) > where and node.args[where] is True:
            if where == 5 and (node.args[3] is None or node.args[4] is None):
                continue
            node.args = (*node.args[:where], False, *node.args[where + 1:])
        elif node.target is torch.ops.aten.add_.Tensor and not node.users \
                and isinstance(node.args[0], torch.fx.Node) and node.args[0].op == "get_attr" \
                and str(node.args[0].target).endswith("num_batches_tracked"):
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.recompile()


def _is_torchscript_archive(path: Path) -> bool:
    """A zip holding TorchScript code (``<name>/code/...`` and ``<name>/constants.pkl``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any("/code/" in n for n in names) and any(n.endswith("/constants.pkl")
                                                     for n in names)


def _check_differentiable(gm: nn.Module, sample: Tensor, path: Path) -> object:
    """Every saliency method starts from gradients; a graph holding an operation autograd
    cannot differentiate (the fused attention a ViT traced under ``torch.no_grad()`` records)
    is one line here, not a traceback at the first map. Returns the graph's output on
    ``sample`` (None when it failed otherwise: the checks after loading report it)."""
    x = sample.clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            out = gm(x)
            if isinstance(out, Tensor) and out.requires_grad:
                torch.autograd.grad(out.float().sum(), x, allow_unused=True)
            return out
    except RuntimeError as err:
        found = _NO_DERIVATIVE.search(str(err))
        if found is None:
            return None  # not this problem: the checks after loading report it
        raise ModelError(
            f"{path}: autograd cannot run back through this TorchScript graph ({found[1]} has "
            "no derivative; torch.jit.trace under torch.no_grad() records the fused attention "
            "of transformers) and saliency needs gradients: trace it with gradients "
            "enabled (torch.jit.trace outside torch.no_grad()), or give its state_dict with "
            "the arch it belongs to (arch: vit_b_16 or \"file.py:Class\")") from None


def _restore_parameters(gm: nn.Module, names: set[str]) -> None:
    """The converter lifts weights as buffers; make the file's parameters parameters again
    (the sanity check randomises parameters, training would need them)."""
    for name in names:
        owner_path, _, attr = name.rpartition(".")
        try:
            owner = gm.get_submodule(owner_path) if owner_path else gm
        except AttributeError:
            continue
        tensor = owner._buffers.pop(attr, None)
        if tensor is not None:
            owner.register_parameter(attr, nn.Parameter(tensor, requires_grad=True))

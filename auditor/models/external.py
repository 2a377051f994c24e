"""Architectures resolved by name on top of the registry (see :mod:`auditor.models.registry`).

In the order they are tried on a name the registry does not hold:

- any torchvision classification model (``convnext_tiny``, ``vit_b_16`` ...);
- ``timm:<name>`` when the optional ``timm`` package is installed (``auditor[timm]``);
- ``hf:<local dir>``: a ``transformers`` image classifier saved with ``save_pretrained``
  (optional ``auditor[hf]``), read with ``local_files_only``;
- ``"path/to/file.py:Name"`` or ``"package.module:name"``: the user's ``nn.Module`` class or a
  factory returning one, called with ``models[i].arch_kwargs``, ``num_classes`` when its
  signature takes it and ``image_size`` (``data.image_size``) when its signature names it;
- ``torchscript`` is registered: the checkpoint file is the model
  (:mod:`auditor.models.torchscript`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import io
import re
import sys
import sysconfig
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from auditor.errors import ModelError
from auditor.models.heads import probe_attr
from auditor.models.registry import ArchInfo, arch_registry, register_arch
from auditor.models.torchvision_zoo import build_torchvision, torchvision_names

__all__ = ["HfClassifier", "import_user_object", "python_roots", "under", "user_model_file"]

_USER_FILE = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)$")
_USER_MODULE = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)$")
# "file.py:Net.forward": a name inside a class (a method, a nested attribute)
_USER_DOTTED = re.compile(r"^(?P<where>.+\.py|[A-Za-z_][\w.]*):(?P<outer>[A-Za-z_]\w*)"
                          r"(?P<inner>(\.\w+)+)$")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# -- torchvision ---------------------------------------------------------------------------

def _torchvision(name: str) -> ArchInfo | None:
    if name not in torchvision_names():
        return None

    def build(num_classes: int, image_size: int | None = None, **kwargs: Any) -> nn.Module:
        return build_torchvision(name, num_classes, image_size=image_size, **kwargs)

    return ArchInfo(name, build, "auto", f"torchvision {name}", "", family="torchvision")


# -- timm ----------------------------------------------------------------------------------

def _timm(name: str) -> ArchInfo | None:
    if not name.startswith("timm:"):
        return None
    model_name = name[5:]
    try:
        import timm
    except ImportError:
        raise ModelError(f"{name} needs the optional timm package: pip install "
                         "'auditor[timm]'") from None
    if model_name not in timm.list_models():
        import difflib

        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        hint = f" (close: {', '.join('timm:' + c for c in close)})" if close else ""
        raise ModelError(f"unknown timm model {model_name!r}{hint}")

    def build(num_classes: int, image_size: int | None = None, **kwargs: Any) -> nn.Module:
        base = {"pretrained": False, "num_classes": num_classes}
        try:
            if image_size is not None and "img_size" not in kwargs:
                try:
                    return timm.create_model(model_name, **base, img_size=image_size, **kwargs)
                except TypeError:
                    pass  # a model without an input-size argument (CNNs)
            return timm.create_model(model_name, **base, **kwargs)
        except (TypeError, ValueError, AssertionError, RuntimeError) as err:
            raise ModelError(f"{name}: cannot build: {_one_line(err)}") from None

    return ArchInfo(name, build, "auto", f"timm {model_name}", "", family="timm")


# -- Hugging Face --------------------------------------------------------------------------

class HfClassifier(nn.Module):
    """A ``transformers`` image classifier returning plain logits ``[N, C]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        params = inspect.signature(model.forward).parameters
        self._interpolate = "interpolate_pos_encoding" in params

    def forward(self, x):  # noqa: D102
        if self._interpolate:
            return self.model(pixel_values=x, interpolate_pos_encoding=True).logits
        return self.model(pixel_values=x).logits


def _hf(name: str) -> ArchInfo | None:
    if not name.startswith("hf:"):
        return None
    folder = Path(name[3:])
    if not (folder / "config.json").is_file():
        raise ModelError(f"{name}: no config.json in {folder} (give a folder written by "
                         "save_pretrained; nothing is downloaded)")
    try:
        import transformers
    except ImportError:
        raise ModelError(f"{name} needs the optional transformers package: pip install "
                         "'auditor[hf]'") from None

    def build(num_classes: int, image_size: int | None = None, **kwargs: Any) -> nn.Module:
        bars = transformers.utils.logging  # transformers 5 draws a bar per load on stderr
        shown = bars.is_progress_bar_enabled()
        bars.disable_progress_bar()
        try:
            model = transformers.AutoModelForImageClassification.from_pretrained(
                folder, local_files_only=True, num_labels=num_classes,
                ignore_mismatched_sizes=True, **kwargs)
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise ModelError(f"{name}: cannot load: {_one_line(err)}") from None
        finally:
            if shown:
                bars.enable_progress_bar()
        return HfClassifier(model)

    return ArchInfo(name, build, "auto", f"Hugging Face classifier in {folder}", "",
                    family="hf")


# -- the user's own class or factory -------------------------------------------------------

_MAIN_GUARD = ("move the script's command-line code (argparse's parse_args(), sys.exit()) "
               "under `if __name__ == \"__main__\":`")


@contextlib.contextmanager
def _as_script(script: str, folder: Path | None, said: list[str]) -> Iterator[None]:
    """Run the user's code as Python runs a script: its folder first on ``sys.path`` (so
    ``from nets import Net`` finds ``nets.py`` next to it) and a command line of its own (an
    ``argparse`` at module level reads no ``audit validate config.yaml``); what it writes to
    stderr is kept in ``said``, not shown. Everything is restored afterwards."""
    argv, path = sys.argv, list(sys.path)
    sys.argv = [script]
    if folder is not None:
        sys.path.insert(0, str(folder))
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        sys.argv = argv
        sys.path[:] = path
        said.extend(line for line in err.getvalue().splitlines() if line.strip())


def _exited(err: SystemExit, said: list[str]) -> str:
    """``SystemExit: 2 ("error: the following arguments are required: --data")``."""
    code = "" if err.code is None else f": {str(err.code)[:80]}"
    last = f' ("{" ".join(said[-1].split())[:120]}")' if said else ""
    return f"SystemExit{code}{last}"


def _import_file(path: Path) -> Any:
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"auditor_user_{stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so its classes pickle and deep-copy by reference
    said: list[str] = []
    try:
        with _as_script(str(path), path.resolve().parent, said):
            spec.loader.exec_module(module)
    except SystemExit as err:  # a training script's command line (never KeyboardInterrupt)
        del sys.modules[module_name]
        raise ModelError(f"{path}: importing it exited ({_exited(err, said)}): "
                         f"{_MAIN_GUARD}") from None
    except Exception as err:  # noqa: BLE001  (the user's code: any error becomes one line)
        del sys.modules[module_name]
        raise ModelError(f"{path}: importing it failed: {_one_line(err)}") from None
    return module


def user_model_file(arch: str) -> Path | None:
    """The Python file of ``arch: "path/to/file.py:Name"`` (None for every other route)."""
    m = _USER_FILE.match(arch)
    return Path(m["file"]) if m else None


def import_user_object(spec: str) -> Any:
    """The object ``"file.py:Name"`` or ``"package.module:name"`` names.

    Raises:
        ModelError: file or module missing, its import failing, no such name in it (with the
            classes and functions it has), or a name that is neither an ``nn.Module`` class nor
            a Python function outside the standard library (``os:system`` is never called).
    """
    m = _USER_FILE.match(spec)
    if m:
        path = Path(m["file"])
        if not path.is_file():
            raise ModelError(f"{path}: model file not found (arch: \"path/to/file.py:Name\", "
                             "relative to the config file)")
        module, where = _import_file(path), str(path)
    else:
        m = _USER_MODULE.match(spec)
        if m is None:
            raise ModelError(f"{spec!r} is not \"file.py:Name\" or \"package.module:name\"")
        said: list[str] = []
        try:
            with _as_script(m["module"], None, said):
                module = importlib.import_module(m["module"])
        except SystemExit as err:
            raise ModelError(f"importing {m['module']!r} exited ({_exited(err, said)}): "
                             f"{_MAIN_GUARD}") from None
        except Exception as err:  # noqa: BLE001
            raise ModelError(f"cannot import {m['module']!r}: {_one_line(err)}") from None
        where = m["module"]
    obj = probe_attr(module, m["name"])  # a module's __getattr__ may raise anything
    if obj is None or not callable(obj):
        names = sorted(k for k, v in vars(module).items()
                       if not k.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
                       and getattr(v, "__module__", None) == module.__name__)
        raise ModelError(f"{where}: no class or function {m['name']!r}; it defines: "
                         f"{', '.join(names) or 'nothing callable'}")
    refused = _not_a_model_maker(obj)
    if refused:
        raise ModelError(f"{spec!r} names {refused}: refused without calling it; arch may "
                         "name only a subclass of torch.nn.Module or a Python function that "
                         "returns one")
    return obj


def _from_stdlib(obj: Any) -> bool:
    """``obj`` comes from Python's standard library (``os.popen``, ``shutil.rmtree``): by its
    module's name and, for a module with a file, that file lying in the standard library (a
    user's own ``test.py`` is not the standard ``test`` package)."""
    name = str(getattr(obj, "__module__", None) or "")
    if name.split(".")[0] not in sys.stdlib_module_names:
        return False
    file = getattr(sys.modules.get(name), "__file__", None)
    if not file:
        return True  # built into the interpreter
    return under(Path(file), python_roots("stdlib", "platstdlib")) \
        and not {"site-packages", "dist-packages"} & set(Path(file).resolve().parts)


def python_roots(*keys: str) -> tuple[Path, ...]:
    """The resolved ``sysconfig`` paths ``keys`` (``stdlib``, ``purelib`` ...): where Python's
    standard library and the installed packages lie."""
    paths = sysconfig.get_paths()
    return tuple(Path(paths[key]).resolve() for key in keys if paths.get(key))


def under(path: Path, roots: tuple[Path, ...]) -> bool:
    """``path`` (resolved) lies inside one of ``roots``."""
    where = Path(path).resolve()
    return any(root in where.parents for root in roots)


def _not_a_model_maker(obj: Any) -> str | None:
    """What ``obj`` is when ``arch`` may not call it (None when it may): only a subclass of
    ``nn.Module`` or a function written in Python, not from the standard library, is called:
    a config could otherwise run ``os:system`` or ``subprocess:Popen`` with its
    ``arch_kwargs``."""
    qualname = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    if inspect.isclass(obj):
        return None if issubclass(obj, nn.Module) else f"the class {qualname}"
    if not isinstance(obj, types.FunctionType):
        kind = "a built-in function" if inspect.isbuiltin(obj) else \
            f"a {type(obj).__name__} object"
        return f"{kind} ({qualname})" if hasattr(obj, "__qualname__") else kind
    if _from_stdlib(obj):
        return f"a function of Python's standard library ({qualname})"
    return None


def _takes(fn: Any, name: str, *, named: bool = False) -> bool:
    """``fn`` takes argument ``name`` (by name, or through ``**kwargs`` unless ``named``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or (not named and any(p.kind is p.VAR_KEYWORD
                                                for p in params.values()))


def _user(name: str) -> ArchInfo | None:
    dotted = _USER_DOTTED.match(name)
    if dotted:
        where, outer = dotted["where"], dotted["outer"]
        fix = f"\"{where}:{outer}\" builds {outer}" if outer[:1].isupper() else \
            "a name inside a submodule is given as \"package.module:Name\""
        raise ModelError(
            f"{name!r} names {outer}{dotted['inner']}, a method or attribute, not a class or "
            "function to build the model from: arch names a class (an nn.Module subclass) or "
            f"function defined at the top of the file or module ({fix})")
    if not (_USER_FILE.match(name) or _USER_MODULE.match(name)):
        return None
    obj = import_user_object(name)
    file = user_model_file(name)
    folder = file.resolve().parent if file is not None else None

    def build(num_classes: int, image_size: int | None = None, **kwargs: Any) -> nn.Module:
        if _takes(obj, "num_classes"):
            kwargs["num_classes"] = num_classes
        if image_size is not None and _takes(obj, "image_size", named=True):
            kwargs["image_size"] = image_size  # ViTs (torchvision's VisionTransformer)
        said: list[str] = []
        try:
            with _as_script(str(file or name), folder, said):
                model = obj(**kwargs)
        except SystemExit as err:  # the constructor parsed the command line or exited
            raise ModelError(f"{name}: building it exited ({_exited(err, said)}): "
                             f"{_MAIN_GUARD} and give its values as arch_kwargs") from None
        except Exception as err:  # noqa: BLE001  (the user's constructor)
            raise ModelError(f"{name}: building it with arch_kwargs {kwargs} failed: "
                             f"{_one_line(err)}") from None
        if not isinstance(model, nn.Module):
            raise ModelError(f"{name} returned {type(model).__name__}, not a torch nn.Module")
        return model

    return ArchInfo(name, build, "auto", f"user code {name}", "", family="user")


@register_arch("torchscript", target_layer="auto", head="",
               description="a TorchScript file (scripted or traced) given as checkpoint: "
                           "audited as is")
def _torchscript(num_classes: int, image_size: int | None = None, **kwargs: Any) -> nn.Module:
    raise ModelError("arch: torchscript needs checkpoint: path/to/model.pt (the file is the "
                     "model)")


_REG = arch_registry()
_REG.add_resolver(_torchvision, describe="any torchvision classification model "
                  "(audit methods lists them)", candidates=lambda: list(torchvision_names()))
_REG.add_resolver(_timm, describe="timm:<name> (pip install 'auditor[timm]')")
_REG.add_resolver(_hf, describe="hf:<folder saved with save_pretrained>")
_REG.add_resolver(_user, describe="\"path/to/file.py:Class\" or \"package.module:factory\"")

"""One-line messages for config validation errors (the file, the dotted key, the closest key)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["option_error_line", "validation_error_line"]


def _closest(name: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else f" (valid keys: {', '.join(choices)})"


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class holding the field at ``loc`` (for key suggestions)."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) else None
        if field is None:
            return None
        ann = field.annotation
        nxt = None
        for cand in getattr(ann, "__args__", ()) + (ann,):
            for c in getattr(cand, "__args__", ()) + (cand,):
                if isinstance(c, type) and issubclass(c, BaseModel):
                    nxt = c
        if nxt is None:
            return None
        model = nxt
    return model


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith(
            ("literal[", "union[")
        ):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "<top level>"


def validation_error_line(root: type[BaseModel], source: str, err: ValidationError) -> str:
    """One line for a pydantic error: the file, the dotted key and what is wrong with it;
    an unknown key gets the closest valid one (or the list of valid keys)."""
    first = err.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p and p[0].islower()
                                                 and p.split("[")[0] in ("literal", "union")))
    key = _format_loc(loc)
    if first["type"] == "extra_forbidden":
        model = _model_at(root, loc)
        hint = _closest(str(loc[-1]), list(model.model_fields)) if model else ""
        return f"{source}: unknown key {key!r}{hint}"
    if first["type"] == "missing":
        return f"{source}: missing required key {key!r}"
    return f"{source}: {key}: {_message(err)}"


def _message(err: ValidationError, name: Callable[[tuple], str] = _format_loc) -> str:
    """What is wrong with the first error (its bound, its type), and how many more there are,
    naming up to three of their keys (``name`` spells a location)."""
    errors = err.errors()
    msg = errors[0]["msg"].removeprefix("Value error, ")
    if len(errors) < 2:
        return msg
    others = list(dict.fromkeys(name(tuple(e["loc"])) for e in errors[1:]))
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    return f"{msg} (and {len(errors) - 1} more: {shown})"


def option_error_line(err: ValidationError) -> str:
    """One line for a pydantic error of command-line options validated as a model (field
    ``n_test`` is option ``--n-test``): ``--n-test: Input should be greater than or equal
    to 4``."""
    def option(loc: tuple) -> str:
        return "--" + str(loc[0]).replace("_", "-") if loc else "options"

    return f"{option(tuple(err.errors()[0]['loc']))}: {_message(err, option)}"

"""Names shared by the data stage and the stages after it, and the config types of name lists."""

from typing import Annotated

from pydantic import AfterValidator

__all__ = ["BACKGROUND", "AttributeNames", "Names", "reserved_column_problem"]

#: The region every image has: its pixels outside every annotated region (last in the stack).
BACKGROUND = "background"

#: Columns every row of ``samples.parquet`` (or of a manifest) has, whatever the data: an
#: attribute of the same name would overwrite one of them, or be overwritten.
_BUILT_IN_COLUMNS = ("model", "id", "path", "split", "label", "pred", "label_idx", "pred_idx",
                     "confidence", "correct", "cluster", "weight", "image_hash")
#: Prefixes of the per-method, per-region and per-swap columns of ``samples.parquet``.
_COLUMN_PREFIXES = ("mass_", "point_", "rank_", "area_", "flip_", "conf_drop_", "swap_",
                    "paste_")


def reserved_column_problem(name: str) -> str | None:
    """Why an attribute may not be called ``name``, or None when it may.

    >>> reserved_column_problem("confidence")
    "'confidence' is a column auditor writes for every sample"
    >>> reserved_column_problem("hair") is None
    True
    """
    if name in _BUILT_IN_COLUMNS:
        return f"{name!r} is a column auditor writes for every sample"
    prefix = next((p for p in _COLUMN_PREFIXES if name.startswith(p)), None)
    if prefix is not None:
        return f"{name!r} starts with {prefix!r}, the prefix of auditor's per-region columns"
    return None


def _once_each(v: list[str]) -> list[str]:
    twice = next((x for i, x in enumerate(v) if x in v[:i]), None)
    if twice is not None:
        raise ValueError(f"{twice!r} is listed twice")
    return v


def _not_reserved(v: list[str]) -> list[str]:
    for name in v:
        problem = reserved_column_problem(name)
        if problem:
            raise ValueError(f"{problem}; rename that column of your data (e.g. {name}_attr) "
                             "and list the new name")
    return v


#: A config list of names, each given once.
Names = Annotated[list[str], AfterValidator(_once_each)]
#: ``data.attributes``: names given once, none of them a column auditor writes.
AttributeNames = Annotated[list[str], AfterValidator(_once_each), AfterValidator(_not_reserved)]

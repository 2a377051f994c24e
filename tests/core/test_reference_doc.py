"""docs/reference.md names every config key the config model accepts (users never see the code)."""

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from auditor.config import AuditConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (``X | None``, ``list[X]``, ``Literal | X``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def config_leaves(model: type[BaseModel] = AuditConfig, prefix: str = "") -> list[str]:
    """Every dotted key path that holds a value (``data.synthetic.n_val``, ``models.train.lr``);
    a section (``data.synthetic``) is represented by its keys."""
    keys = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        subs = _models_in(field.annotation)
        if not subs or path == "data.normalize":  # normalize: a name, or {mean, std} as a value
            keys.append(path)
        for sub in subs:
            if path != "data.normalize":
                keys += config_leaves(sub, f"{path}.")
    return keys


def missing_keys(text: str) -> list[str]:
    """Config keys the reference's tables do not name in their first column: as `a.b.c`, or as
    `c` after `a.b.x` (siblings listed together); the models[i] table drops `models.`."""
    firsts = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    named = {k for cell in firsts for k in re.findall(r"`([A-Za-z_.]+)`", cell)}
    missing = []
    for key in config_leaves():
        key = key.removeprefix("models.")
        parent, _, leaf = key.rpartition(".")
        if key in named:
            continue
        if parent and any(f"`{parent}." in c and f"`{leaf}`" in c for c in firsts):
            continue
        missing.append(key)
    return missing


def test_the_walk_finds_nested_keys():
    keys = config_leaves()
    assert {"data.synthetic.corner_mark", "models.train.unfreeze_after", "analysis.reliance.fill",
            "data.regions.names", "data.normalize", "baseline"} <= set(keys)
    assert "data.synthetic" not in keys  # a section, named by its keys


def test_every_config_key_is_in_the_reference():
    assert missing_keys(DOC.read_text()) == []


def test_a_key_missing_from_the_reference_is_reported():
    text = DOC.read_text()
    assert missing_keys(text.replace("`data.split_ratios`", "`data.splits`")) == [
        "data.split_ratios"]
    assert "analysis.hotspots.max_area" in missing_keys(text.replace("`max_area`", "`area`"))

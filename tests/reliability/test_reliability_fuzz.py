"""Config fuzzing: any YAML-able structure either validates or raises a one-line ConfigError."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from auditor.config import AuditConfig, load_config, parse_config
from auditor.errors import ConfigError

BASE: dict[str, Any] = {
    "name": "fuzz",
    "output_dir": "runs/fuzz",
    "seed": 0,
    "device": "cpu",
    "data": {"synthetic": {"n_train": 64, "n_test": 32, "image_size": 32},
             "attributes": ["hair"], "regions": {"format": "coco", "path": "r.json"},
             "normalize": "imagenet"},
    "models": [{"name": "a", "arch": "simple_cnn", "checkpoint": "w.pt",
                "train": {"epochs": 1, "balance": "group", "balance_by": ["hair"]}}],
    "saliency": {"methods": ["gradcam"], "batch_size": 8},
    "analysis": {"expected_regions": ["object"], "n_bootstrap": 100},
    "report": {"formats": ["html"]},
}


def _schema_keys(model: type[BaseModel], seen: set[str] | None = None) -> set[str]:
    """Every field name of the config models, recursively."""
    seen = set() if seen is None else seen
    for name, field in model.model_fields.items():
        seen.add(name)
        stack = [field.annotation]
        while stack:
            ann = stack.pop()
            stack.extend(getattr(ann, "__args__", ()))
            if isinstance(ann, type) and issubclass(ann, BaseModel) and ann is not model:
                _schema_keys(ann, seen)
    return seen


REAL_KEYS = sorted(_schema_keys(AuditConfig))


@st.composite
def near_miss_key(draw) -> str:
    """A real key, or a one-edit typo of one (dropped, doubled or swapped letter, case)."""
    key = draw(st.sampled_from(REAL_KEYS))
    edit = draw(st.sampled_from(["same", "drop", "double", "swap", "upper", "plural"]))
    i = draw(st.integers(0, max(0, len(key) - 2)))
    if edit == "drop":
        return key[:i] + key[i + 1:]
    if edit == "double":
        return key[:i] + key[i] + key[i:]
    if edit == "swap" and len(key) > 1:
        return key[:i] + key[i + 1] + key[i] + key[i + 2:]
    if edit == "upper":
        return key.upper()
    if edit == "plural":
        return key + "s"
    return key


# any text, NUL bytes and "~user" prefixes included (both once escaped as other exceptions)
TEXT = st.one_of(st.text(max_size=12), st.text(max_size=8).map(lambda s: "~" + s))
KEYS = st.one_of(near_miss_key(), TEXT, st.integers(-3, 3), st.none())
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    TEXT, st.sampled_from(["auto", "cpu", "cuda:0", "gradcam", "coco", "html", "test", "none",
                           "group", "imagenet", "simple_cnn", "face", "1e3", "null"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into nested dicts/lists (for targeted mutations of BASE)."""
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


BASE_PATHS = _paths(BASE)


@st.composite
def mutated_config(draw) -> Any:
    """BASE with a few values replaced, keys renamed or added, or a wholly random structure."""
    if draw(st.integers(0, 9)) == 0:
        return draw(VALUES)
    raw = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(BASE_PATHS))
        parent: Any = raw
        try:
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            action = draw(st.sampled_from(["replace", "rename", "add", "delete"]))
            if action == "replace":
                parent[last] = draw(VALUES)
            elif action == "rename" and isinstance(parent, dict):
                parent[draw(near_miss_key())] = parent.pop(last)
            elif action == "add" and isinstance(parent, dict):
                parent[draw(KEYS)] = draw(VALUES)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(last, None)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    return raw


def _check(call) -> None:
    try:
        cfg = call()
    except ConfigError as err:
        text = str(err)
        assert text and "\n" not in text and "\r" not in text, text
        return
    assert isinstance(cfg, AuditConfig)
    assert cfg.output_dir.is_absolute()


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(mutated_config())
def test_parse_config_returns_config_or_one_line_error(raw):
    _check(lambda: parse_config(raw, base_dir=Path("/tmp/fuzz"), source="fuzz.yaml"))


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(mutated_config(), st.integers(0, 400), st.sampled_from(["", "\t", ": :", "[", "&a *b",
                                                               "!!python/object:os.system x"]))
def test_load_config_on_damaged_yaml(tmp_path_factory, raw, cut, junk):
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    if cut:
        text = text[:cut] + junk + text[cut:]
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    _check(lambda: load_config(path))


# -- inputs the fuzzer found that used to escape as other exceptions (fixed) ----------------


def test_unknown_home_directory_is_a_config_error():
    raw = {**BASE, "output_dir": "~nosuchuser_auditor/run"}
    with pytest.raises(ConfigError, match="output_dir"):
        parse_config(raw, base_dir=Path("/tmp"), source="c.yaml")


def test_nul_byte_in_path_is_a_config_error():
    raw = copy.deepcopy(BASE)
    raw["models"][0]["checkpoint"] = "w\x00.pt"
    with pytest.raises(ConfigError, match="checkpoint"):
        parse_config(raw, base_dir=Path("/tmp"), source="c.yaml")


def test_device_with_non_ascii_digit_is_rejected():
    with pytest.raises(ConfigError, match="device"):
        parse_config({**BASE, "device": "cuda:²"}, base_dir=Path("/tmp"), source="c.yaml")


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_out_of_range_seed_is_a_config_error(seed):
    with pytest.raises(ConfigError, match="seed"):
        parse_config({**BASE, "seed": seed}, base_dir=Path("/tmp"), source="c.yaml")

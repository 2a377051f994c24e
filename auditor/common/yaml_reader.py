"""Reading a YAML config file safely, before any validation.

``yaml.safe_load`` already refuses tags that run code; on top of it :func:`read_yaml` refuses
what would otherwise be accepted silently or end in a traceback: a key given twice in one
mapping (YAML keeps the last one; the error names the key and both lines), nesting deeper than
:data:`MAX_YAML_DEPTH` (PyYAML's composer recurses), aliases that expand to more than
:data:`MAX_YAML_NODES` values ("billion laughs") and files over :data:`MAX_CONFIG_BYTES`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "read_yaml"]

MAX_CONFIG_BYTES = 1_000_000
MAX_YAML_DEPTH = 32  # the config's own structure is 4 levels deep
MAX_YAML_NODES = 100_000  # after expanding aliases (a "billion laughs" file is refused)


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping with the same key twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                ident = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if ident in seen:
                    raise ConfigError(f"{self.name}: duplicate key {key_node.value!r} on lines "
                                      f"{seen[ident]} and {line} (a key may appear once)")
                seen[ident] = line
        return super().construct_mapping(node, deep=deep)


def _check_shape(text: str, source: str) -> None:
    """Refuse YAML nested deeper than :data:`MAX_YAML_DEPTH` or expanding to more than
    :data:`MAX_YAML_NODES` nodes, from the event stream (no recursion, nothing built)."""
    sizes: list[int] = []  # node count of each open collection
    anchors: dict[str, int] = {}
    open_anchor: list[str | None] = []
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            sizes.append(1)
            open_anchor.append(event.anchor)
            if len(sizes) > MAX_YAML_DEPTH:
                raise ConfigError(f"{source}: line {event.start_mark.line + 1}: nested more than "
                                  f"{MAX_YAML_DEPTH} levels deep")
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            n, anchor = sizes.pop(), open_anchor.pop()
        elif isinstance(event, yaml.ScalarEvent):
            n, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            n, anchor = anchors.get(event.anchor, 1), None
        else:
            continue
        if anchor:
            anchors[anchor] = n
        if sizes:
            sizes[-1] += n
        total = max(total, n)
        if total > MAX_YAML_NODES or (sizes and sizes[-1] > MAX_YAML_NODES):
            raise ConfigError(f"{source}: line {event.start_mark.line + 1}: expands to more "
                              f"than {MAX_YAML_NODES} values (aliases of aliases?)")


def read_yaml(path: Path) -> Any:
    """The parsed content of the YAML file ``path``.

    Raises:
        ConfigError: missing or unreadable file, not UTF-8, too large, malformed YAML, a
            duplicate key, too deep or too large after alias expansion (one line).
    """
    path = Path(path)
    try:
        if not path.is_file():
            what = ("is a folder, not a config file" if path.is_dir() else
                    "is not a regular file (a YAML config is expected)" if path.exists() else
                    "config file not found")
            raise ConfigError(f"{path}: {what}")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: config file larger than {MAX_CONFIG_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    try:
        _check_shape(text, str(path))
        loader = _UniqueKeyLoader(text)
        loader.name = str(path)
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "malformed YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    return raw

"""The layout shows the data flow: entry points on top, stages in folders, no cycles, no stage
importing a later one (static imports, TYPE_CHECKING and function-level ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "auditor"
ENTRY_POINTS = {"__init__", "__main__", "cli", "config", "errors"}

#: stage folder -> auditor packages it must never import (later stages, the entry points).
FORBIDDEN = {
    "common": {"auditor.data", "auditor.models", "auditor.saliency", "auditor.metrics",
               "auditor.pipeline", "auditor.report", "auditor.config", "auditor.cli"},
    "data": {"auditor.models", "auditor.saliency", "auditor.metrics", "auditor.pipeline",
             "auditor.report", "auditor.cli"},
    "saliency": {"auditor.data", "auditor.metrics", "auditor.pipeline", "auditor.report",
                 "auditor.cli"},
    "metrics": {"auditor.data", "auditor.models", "auditor.saliency", "auditor.pipeline",
                "auditor.report", "auditor.config", "auditor.cli"},
    "report": {"auditor.models", "auditor.saliency", "auditor.cli"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Modules ``path`` imports: ``from pkg import submodule`` counts the submodule only."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules
            found |= subs if len(subs) == len(node.names) else {node.module, *subs}
    return found & modules


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    return {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}


def test_only_entry_points_at_the_top_of_the_package():
    loose = {p.stem for p in PKG.glob("*.py")} - ENTRY_POINTS
    assert not loose, f"move these into a stage folder: {sorted(loose)}"


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_stage_imports_a_later_one():
    bad = []
    for name, deps in _graph().items():
        parts = name.split(".")
        if len(parts) < 2 or parts[1] not in FORBIDDEN:
            continue
        for dep in deps:
            if any(dep == f or dep.startswith(f + ".") for f in FORBIDDEN[parts[1]]):
                bad.append(f"{name} imports {dep}")
    assert not bad, bad

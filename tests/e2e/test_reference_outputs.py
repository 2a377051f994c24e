"""docs/reference.md names every field of summary.json and every column of samples.parquet a
run writes (the tiny run of conftest: two models, hair, face/object/background)."""

import json
import re
from pathlib import Path

import pandas as pd

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def _section(text: str, heading: str) -> str:
    """The text from ``heading`` to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    rest = text[start + len(heading) + 1:]
    ends = [m.start() for m in re.finditer(rf"^#{{1,{len(level)}}} ", rest, flags=re.M)]
    return rest[:ends[0]] if ends else rest


def _named(section: str) -> set[str]:
    """Names in the first column of a section's tables."""
    cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {k for cell in cells for k in re.findall(r"`([^`]+)`", cell)}


def undocumented(summary: dict, columns: list[str], text: str) -> list[str]:
    """Fields and columns of a run the reference leaves out."""
    out = []
    checks = [("### Top level", "", summary, "## summary.json"),
              ("### `dataset`", "dataset.", summary["dataset"], None),
              ("### `comparisons[]`", "comparisons[].", summary["comparisons"][0], None)]
    for name, block in summary["models"].items():
        checks.append(("### `models[<name>]`", f"models.{name}.", block, None))
    for heading, prefix, block, parent in checks:
        section = _section(_section(text, parent) if parent else text, heading)
        named = _named(section)
        out += [prefix + k for k in block if k not in named]
    columns_named = _named(_section(text, "## samples.parquet"))
    patterns = [re.escape(c).replace(r"<method>", "(.+)").replace(r"<region>", "(.+)")
                .replace(r"<attribute>", "(.+)").replace(r"<k>", "[0-9]+")
                for c in columns_named]
    attributes = summary["dataset"]["attributes"]
    out += [c for c in columns
            if c not in attributes and not any(re.fullmatch(p, c) for p in patterns)]
    return out


def test_every_summary_field_and_column_is_in_the_reference(tiny_run):
    path, result = tiny_run
    assert result.exit_code == 0, result.output
    run = path.parent / "run"
    summary = json.loads((run / "summary.json").read_text())
    columns = list(pd.read_parquet(run / "samples.parquet").columns)
    text = DOC.read_text()
    assert undocumented(summary, columns, text) == []
    # the check can fail: a new field, a new column
    summary["models"]["baseline"]["new_block"] = {}
    assert undocumented(summary, columns + ["odd_column"], text) == [
        "models.baseline.new_block", "odd_column"]

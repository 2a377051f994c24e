"""analysis.cues: hotspots and concepts run by default only on data without annotated regions."""

from pathlib import Path

import pytest

from auditor.config import parse_config
from auditor.errors import ConfigError
from auditor.pipeline.run import _resolve_cues

MIN = {"data": {"synthetic": {}}, "models": [{"name": "a"}]}


def _on(cues, regions):
    cfg = parse_config({**MIN, "analysis": {"cues": cues, "hotspots": {"n": 2},
                                            "concepts": {"n": 5}}} if cues else MIN,
                       base_dir=Path("."))
    out = _resolve_cues(cfg, regions)
    return out.analysis.hotspots.n, out.analysis.concepts.n


@pytest.mark.parametrize(("cues", "regions", "expected"), [
    (None, ["face", "object", "background"], (0, 0)),  # default auto, annotated: maps only
    (None, ["background"], (3, 8)),  # default auto, nothing annotated: the defaults
    ("auto", ["background"], (2, 5)),
    ("on", ["face", "background"], (2, 5)),
    ("off", ["background"], (0, 0)),
])
def test_cues_default_follows_the_annotations(cues, regions, expected):
    assert _on(cues, regions) == expected


def test_cues_key_is_checked():
    with pytest.raises(ConfigError, match="analysis.cues"):
        parse_config({**MIN, "analysis": {"cues": "yes please"}}, base_dir=Path("."))

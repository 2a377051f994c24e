"""``data.decode: device`` end to end: on a CPU run it decodes the audit's JPEGs in the main
process through the device path, and every number matches worker decoding."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, decode: str, num_workers: int = 0) -> Path:
    folder = tmp_path / f"{decode}-{num_workers}"
    shutil.copytree(REPO / "sample_configs", folder / "sample_configs")
    path = folder / "sample_configs/real_folder_example.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["data"]["decode"] = decode
    cfg["data"]["num_workers"] = num_workers
    cfg["report"] = {"formats": []}
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    return folder / "runs/tiny-folder-example"


def _numbers(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    return {k: v for k, v in summary.items() if k in ("dataset", "models", "findings", "sanity")}


def test_device_decoding_gives_the_numbers_of_worker_decoding(tmp_path):
    workers, device = _run(tmp_path, "workers"), _run(tmp_path, "device")
    log = (device / "run.log").read_text()
    assert "plain JPEGs are decoded on cpu (data.decode: device)" in log
    assert "decoded on" not in (workers / "run.log").read_text()
    a, b = _numbers(workers), _numbers(device)
    assert a["models"] and a == b
    pd.testing.assert_frame_equal(pd.read_parquet(workers / "samples.parquet"),
                                  pd.read_parquet(device / "samples.parquet"))


@pytest.mark.parametrize("decode", ["workers", "device"])
def test_loader_worker_processes_give_the_same_numbers(tmp_path, decode):
    """With worker processes every batch crosses a process boundary (the encoded bytes of
    decode: device once could not: the run hung); the numbers equal in-process decoding."""
    ref, other = _run(tmp_path, "workers"), _run(tmp_path, decode, num_workers=2)
    assert _numbers(ref) == _numbers(other)
    pd.testing.assert_frame_equal(pd.read_parquet(ref / "samples.parquet"),
                                  pd.read_parquet(other / "samples.parquet"))

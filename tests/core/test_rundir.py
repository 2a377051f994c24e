"""The run directory: atomic writes, refusal of foreign directories, resume by key."""

import json

import numpy as np
import pandas as pd
import pytest

from auditor.errors import RunDirError
from auditor.pipeline.rundir import RunDir, to_json


def test_new_run_writes_marker(tmp_path):
    rd = RunDir(tmp_path / "r", key="k1")
    marker = json.loads((tmp_path / "r/run.json").read_text())
    assert marker["key"] == "k1" and marker["complete"] is False
    assert not rd.resumed


def test_same_key_resumes_and_keeps_files(tmp_path):
    rd = RunDir(tmp_path / "r", key="k1")
    rd.write_text("shards/a.txt", "x")
    rd.close()  # the first run ended (its lock released)
    rd2 = RunDir(tmp_path / "r", key="k1")
    assert rd2.resumed and (tmp_path / "r/shards/a.txt").read_text() == "x"


def test_fresh_wipes_same_key(tmp_path):
    RunDir(tmp_path / "r", key="k1").write_text("shards/m/batch_00000.npz", "x")
    rd = RunDir(tmp_path / "r", key="k1", fresh=True)
    assert not rd.resumed and not (tmp_path / "r/shards").exists()


@pytest.mark.parametrize("flag", ["fresh", "overwrite"])
def test_a_users_file_inside_auditors_folders_is_never_deleted(tmp_path, flag):
    """``--overwrite`` and ``--fresh`` deleted models/notes.txt and data/mine.csv with the
    folders auditor writes (only the top level was checked)."""
    first = RunDir(tmp_path / "r", key="k1")
    first.write_text("models/m.json", "{}")
    first.write_bytes("models/m.pt", b"x")
    first.mark_complete()
    first.close()
    (tmp_path / "r/models/notes.txt").write_text("my precious")
    (tmp_path / "r/data").mkdir()
    (tmp_path / "r/data/mine.csv").write_text("keep")
    with pytest.raises(RunDirError, match=r"not emptied: it holds 'models/notes.txt' and 1 more"):
        RunDir(tmp_path / "r", key="k2" if flag == "overwrite" else "k1", **{flag: True})
    assert (tmp_path / "r/models/notes.txt").read_text() == "my precious"
    assert (tmp_path / "r/data/mine.csv").exists() and (tmp_path / "r/models/m.pt").exists()
    (tmp_path / "r/models/notes.txt").unlink()
    (tmp_path / "r/data/mine.csv").unlink()
    RunDir(tmp_path / "r", key="k2" if flag == "overwrite" else "k1", **{flag: True}).close()
    assert not (tmp_path / "r/models").exists()


def test_other_key_refused_unless_overwrite(tmp_path):
    RunDir(tmp_path / "r", key="k1").write_text("x.txt", "x")
    with pytest.raises(RunDirError, match="different config"):
        RunDir(tmp_path / "r", key="k2")
    rd = RunDir(tmp_path / "r", key="k2", overwrite=True)
    assert not (tmp_path / "r/x.txt").exists() and rd.key == "k2"


def test_foreign_directory_refused(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r/important.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="not an auditor run"):
        RunDir(tmp_path / "r", key="k")
    assert (tmp_path / "r/important.txt").read_text() == "keep me"


def test_file_in_place_of_dir(tmp_path):
    (tmp_path / "r").write_text("")
    with pytest.raises(RunDirError, match="not a directory"):
        RunDir(tmp_path / "r", key="k")


def test_atomic_writes_leave_no_temp_files(tmp_path):
    rd = RunDir(tmp_path / "r", key="k")
    rd.write_json("a.json", {"x": np.float32(1.5), "n": np.int64(3), "nan": float("nan")})
    rd.write_parquet("t.parquet", pd.DataFrame({"a": [1, 2]}))
    rd.write_npz("m.npz", a=np.ones(3))
    assert json.loads((tmp_path / "r/a.json").read_text()) == {"x": 1.5, "n": 3, "nan": None}
    assert pd.read_parquet(tmp_path / "r/t.parquet")["a"].tolist() == [1, 2]
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]


def test_to_json_is_strict():
    text = to_json({"inf": float("inf"), "arr": np.arange(2)})
    assert json.loads(text) == {"inf": None, "arr": [0, 1]}


def test_a_nested_copy_of_auditors_layout_is_not_taken_for_auditors(tmp_path):
    """``Path.match`` aligns a pattern from the right: data/mine/data/images/a.png matched
    ``data/images/*.png``."""
    from auditor.pipeline.rundir import foreign_files

    (tmp_path / "data/mine/data/images").mkdir(parents=True)
    (tmp_path / "data/mine/data/images/a.png").write_bytes(b"x")
    (tmp_path / "data/images/train").mkdir(parents=True)
    (tmp_path / "data/images/train/b.png").write_bytes(b"x")
    assert foreign_files(tmp_path) == ["data/mine/data/images/a.png"]


def test_a_kill_during_overwrite_leaves_a_folder_overwrite_can_still_empty(tmp_path,
                                                                           monkeypatch):
    """--overwrite deleted run.json before the large data/ folder; killed in between, the
    rest was 'not an auditor run' to every later command, --overwrite included."""
    import shutil

    first = RunDir(tmp_path / "r", key="k1")
    first.write_bytes("data/images/a.png", b"x")
    first.write_bytes("models/m.pt", b"x")
    first.mark_complete()
    first.close()
    real = shutil.rmtree

    def killed(path, *a, **kw):  # the kill arrives while data/ is deleted
        if str(path).endswith("data"):
            raise KeyboardInterrupt
        real(path, *a, **kw)

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        RunDir(tmp_path / "r", key="k2", overwrite=True)
    monkeypatch.setattr(shutil, "rmtree", real)
    marker = json.loads((tmp_path / "r/run.json").read_text())
    assert marker["key"] == "(being emptied)" and marker["complete"] is False
    with pytest.raises(RunDirError, match="different config"):  # nothing resumes it
        RunDir(tmp_path / "r", key="k1")
    RunDir(tmp_path / "r", key="k2", overwrite=True).close()
    assert not (tmp_path / "r/data").exists()

"""The CSV files a config names: one reader (auditor.data.csv_files), real line numbers, one
error line for a repeated column, and the rebalance CSV read back as it was written."""

from __future__ import annotations

import pytest
from helpers.data import write_image

from auditor.config import DataConfig, RegionsConfig
from auditor.data import load_data
from auditor.data.csv_files import read_csv
from auditor.errors import DataError


def _folder(tmp_path, n=3):
    for cls in ("cats", "dogs"):
        for i in range(n):
            write_image(tmp_path / "imgs" / cls / f"{cls}{i}.png")
    return tmp_path / "imgs"


def _attrs(tmp_path, text):
    (tmp_path / "attrs.csv").write_text(text, encoding="utf-8")
    return DataConfig(image_folder=_folder(tmp_path), attributes_csv=tmp_path / "attrs.csv",
                      attributes=["hair"])


def test_rows_are_indexed_by_the_line_of_the_file(tmp_path):
    """Blank lines, a cell spanning two lines and a byte-order mark move the lines of the rows
    after them; the index is the line an editor shows (header = line 1)."""
    path = tmp_path / "m.csv"
    path.write_text('\ufeffpath,label\n\na.png,"two\nlines"\n   \nb.png,x\n""\nc.png,y\n',
                    encoding="utf-8")
    df = read_csv(path, "manifest", "")
    assert list(df.columns) == ["path", "label"]
    assert df.index.tolist() == [3, 6, 7, 8]
    assert df["path"].tolist() == ["a.png", "b.png", "", "c.png"]


def test_bad_split_in_the_attributes_csv_names_its_line(tmp_path):
    """The line was counted after rows naming no image and repeated rows were dropped (line 10
    reported for a value on line 12)."""
    cfg = _attrs(tmp_path, "path,hair,split\ncats/none.png,dark,train\n\ncats0.png,dark,test\n"
                 "cats/cats0.png,dark,test\ncats/cats1.png,dark,tset\n")
    with pytest.raises(DataError, match=r"attrs\.csv: line 6: split 'tset' is not one of"):
        load_data(cfg, seed=0)


def test_manifest_errors_name_the_line_of_the_file(tmp_path):
    """Split, weight and repeated-path errors of a manifest with a blank line and a quoted
    cell spanning two lines name the line an editor shows."""
    for name in ("a", "b", "c"):
        write_image(tmp_path / f"{name}.png")
    head = 'path,label,split,weight\n\na.png,"x\ny",train,1\n'
    manifest = tmp_path / "m.csv"
    cases = {"b.png,x,dev,1\n": r"line 5: split 'dev'",
             "b.png,x,train,-1\n": r"line 5: weight '-1'",
             "b.png,x,test,1\nc.png,x,test,1\n./b.png,x,test,1\n":
                 r"line 7: duplicate sample id 'b.png' .same file as 'b.png' on line 5"}
    for tail, message in cases.items():
        manifest.write_text(head + tail, encoding="utf-8")
        with pytest.raises(DataError, match=message):
            load_data(DataConfig(manifest=manifest), seed=0)


def test_train_manifest_and_boxes_errors_name_the_line_of_the_file(tmp_path):
    for name in ("a", "b"):
        write_image(tmp_path / f"{name}.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split\na.png,x,train\nb.png,x,test\n", encoding="utf-8")
    train = tmp_path / "t.csv"
    train.write_text("path,label,split\n\na.png,x,train\nb.png,x,train\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t\.csv: line 4: 'b.png' is in the test split"):
        load_data(DataConfig(manifest=manifest, train_manifest=train), seed=0)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text('path,region,x,y,w,h\n\na.png,"face\nleft",1,1,2,2\nb.png,face,1,,2,2\n',
                     encoding="utf-8")
    regions = RegionsConfig(format="boxes_csv", path=boxes)
    with pytest.raises(DataError, match=r"boxes\.csv: line 5: path, region and numeric"):
        load_data(DataConfig(manifest=manifest, regions=regions), seed=0)


@pytest.mark.parametrize("header", ["path,label,split,hair,hair", "path,label,hair, hair",
                                    "path,label,path"])
def test_a_manifest_header_naming_a_column_twice_is_one_error(tmp_path, header):
    """pandas read the second as ``hair.1`` and auditor used the first, without a word."""
    write_image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"{header}\na.png,x,test,dark,blond\n", encoding="utf-8")
    name = header.split(",")[-1].strip()
    with pytest.raises(DataError, match=rf"m\.csv: line 1: the header names column '{name}' "
                                        "twice"):
        load_data(DataConfig(manifest=manifest, attributes=["hair"] * (name == "hair")), seed=0)


def test_attributes_and_boxes_headers_naming_a_column_twice_are_one_error(tmp_path):
    cfg = _attrs(tmp_path, "path,hair,split,hair\ncats/cats0.png,dark,test,blond\n")
    with pytest.raises(DataError, match=r"attrs\.csv: line 1: the header names column 'hair' "
                                        r"twice \(columns 2 and 4\)"):
        load_data(cfg, seed=0)
    write_image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,split\na.png,x,test\n", encoding="utf-8")
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("path,region,x ,x,y,w,h\na.png,face,1,90,1,2,2\n", encoding="utf-8")
    regions = RegionsConfig(format="boxes_csv", path=boxes)
    with pytest.raises(DataError, match=r"boxes\.csv: line 1: the header names column 'x' "):
        load_data(DataConfig(manifest=manifest, regions=regions), seed=0)


@pytest.mark.parametrize("second, message", [
    ("cats0.png,blond,test", r"hair \('dark' and 'blond'\)"),
    ("cats0.png,dark,train", r"split \('test' and 'train'\)"),
    ("cats/cats0.png,dark,val", r"\(twice\) with different split \('test' and 'val'\)")])
def test_two_rows_naming_one_image_differently_are_one_error(tmp_path, second, message):
    """The first row was kept without a word: a test image named again by its base name moved
    to train with the other row's attribute."""
    cfg = _attrs(tmp_path, f"path,hair,split\ncats/none.png,dark,train\ncats/cats0.png,dark,"
                 f"test\ncats/cats1.png,dark,train\n{second}\n")
    with pytest.raises(DataError, match=r"attrs\.csv: lines 3 and 5 both name image "
                                        rf"'cats/cats0.png' .*{message}; keep one row per image"):
        load_data(cfg, seed=0)


def test_two_rows_naming_one_image_alike_are_one_row(tmp_path):
    cfg = _attrs(tmp_path, "path,hair,split,note\ncats/cats0.png,dark,test,a\n"
                 "cats0.png, dark ,TEST,b\ndogs/dogs0.png,blond,train,c\n")
    table = load_data(cfg, seed=0).table.set_index("id")
    assert len(table) == 6 and table.loc["cats/cats0.png", ["hair", "split"]].tolist() == [
        "dark", "test"]
    assert table.loc["dogs/dogs0.png", "hair"] == "blond"

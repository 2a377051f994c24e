"""The one reader of the CSV files auditor is given.

Every CSV a config names (``data.manifest``, ``data.train_manifest``, ``data.attributes_csv``,
a ``boxes_csv`` region file) is read by :func:`read_csv`: UTF-8 (a byte-order mark allowed),
every cell a string, a header that names a column twice refused, and each row indexed by the
**line of the file** it starts on (header = line 1; blank lines and cells that span lines are
counted), so every error can name the line the user sees in an editor.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from auditor.errors import DataError

__all__ = ["read_csv"]


def read_csv(path: Path, what: str, hint: str) -> pd.DataFrame:
    """Read a CSV file given to auditor: every cell a string, empty cells ``""``.

    Args:
        path: the file.
        what: what the file is, for errors (``"manifest"``, ``"attributes CSV"``).
        hint: what to do when the file is missing.

    Returns:
        One row per record, indexed by the line of the file it starts on (header = line 1).

    Raises:
        DataError: the file is missing, not UTF-8 (names the line and the byte), not a CSV
            pandas can parse, or its header names a column twice (names the column).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found; {hint}")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: unreadable CSV ({type(err).__name__}: {err})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} (byte {data[err.start]:#x}) is not UTF-8; save the "
                        "file as UTF-8") from None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                         skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: unreadable CSV ({type(err).__name__}: {err})") from None
    header, lines = _record_lines(text)
    _check_header(header, path)
    if len(lines) == len(df):
        df.index = pd.Index(lines)
    else:  # a file pandas and the csv module split differently: count the records
        df.index = pd.RangeIndex(2, len(df) + 2)
    return df


def _record_lines(text: str) -> tuple[tuple[int, list[str]] | None, list[int]]:
    """``(header line and cells, first line of every later record)``, skipping blank lines as
    pandas does (a line of spaces and tabs only; a quoted ``""`` is a record)."""
    raw = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(raw), skipinitialspace=True)
    header, lines, start = None, [], 1
    try:
        for record in reader:
            end = reader.line_num
            blank = not record or (end == start and not raw[start - 1].strip(" \t\r\n"))
            if not blank:
                if header is None:
                    header = (start, record)
                else:
                    lines.append(start)
            start = end + 1
    except csv.Error:  # a field over the csv module's size limit: no line numbers
        return header, []
    return header, lines


def _check_header(header: tuple[int, list[str]] | None, path: Path) -> None:
    """Refuse a header naming a column twice (pandas would read the second as ``name.1``
    and auditor the first, without a word)."""
    if header is None:
        return
    line, names = header
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        name = name.strip()
        if name and name in seen:
            raise DataError(f"{path}: line {line}: the header names column {name!r} twice "
                            f"(columns {seen[name]} and {i}); rename or remove one of them")
        seen.setdefault(name, i)

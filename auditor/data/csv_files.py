"""The one reader of the CSV files auditor is given, and the escaping of the CSVs it writes.

Every CSV a config names (``data.manifest``, ``data.train_manifest``, ``data.attributes_csv``,
a ``boxes_csv`` region file) is read by :func:`read_csv`: UTF-8 (a byte-order mark allowed),
every cell a string, a header that names a column twice refused, and each row indexed by the
**line of the file** it starts on (header = line 1; blank lines and cells that span lines are
counted), so every error can name the line the user sees in an editor.

CSVs auditor writes (``audit rebalance --out``) are made inert for spreadsheet tools by
:func:`spreadsheet_safe`; :func:`undo_spreadsheet_safe`, applied to every manifest-like CSV
read (``data.manifest``, ``data.train_manifest``, ``data.attributes_csv``), turns them back
into exactly the values that were written, so such a file can be given back to auditor.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from auditor.errors import BIDI_CONTROLS, DataError

__all__ = ["read_csv", "spreadsheet_safe", "undo_spreadsheet_safe"]


# a cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# shown as ‹U+XXXX› in written CSVs: the bidi controls, and "‹" itself so that a name holding
# the text "‹U+202E›" reads back as that text
_SHOWN = BIDI_CONTROLS + "\u2039"
_SHOWN_RE = re.compile(f"[{_SHOWN}]")
_SHOWN_BACK = re.compile("\u2039U\\+(" + "|".join(f"{ord(c):04X}" for c in _SHOWN) + ")\u203a")


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


def _needs_quote(value: str) -> bool:
    if value.startswith("'"):  # "'=x" itself: quoted again, so reading back keeps one "'"
        return value.lstrip("'").startswith(_FORMULA_START)
    if not value.startswith(_FORMULA_START):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False  # a plain number: -1, +0.5


def _safe_cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    value = _SHOWN_RE.sub(lambda m: f"\u2039U+{ord(m.group()):04X}\u203a", value)
    return "'" + value if _needs_quote(value) else value


def _unsafe_cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    if value.startswith("'") and value.lstrip("'").startswith(_FORMULA_START):
        value = value[1:]
    return _SHOWN_BACK.sub(lambda m: chr(int(m.group(1), 16)), value)


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with text cells made inert for spreadsheet tools, for writing a CSV.

    A cell starting with ``= + - @``, tab, CR or LF is a formula to Excel, LibreOffice and
    Google Sheets (``=cmd|' /C calc'!A0`` runs a program); it gets a leading ``'``, the escape
    those tools expect and hide (OWASP "CSV injection"), and so does a cell that already starts
    with ``'`` before one of them. Plain numbers (``-1``, ``+0.5``) are left alone.
    Bidirectional control characters (and ``‹``) are shown as ``‹U+202E›``. Column names get
    the same treatment. :func:`undo_spreadsheet_safe` is the exact inverse.
    """
    return _map_text(table, _safe_cell)


def undo_spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The values :func:`spreadsheet_safe` was given, from the cells it wrote.

    A cell ``'`` + (``= + - @``, tab, CR, LF, or more ``'`` before one of them) loses its first
    ``'`` (what a spreadsheet does when it saves such a cell), and ``‹U+XXXX›`` of a character
    auditor shows that way becomes the character again. Other cells, and the column names
    otherwise, are unchanged.
    """
    return _map_text(table, _unsafe_cell)


def _map_text(table: pd.DataFrame, cell: Callable[[object], object]) -> pd.DataFrame:
    """``table`` with ``cell`` applied to its text cells and column names."""
    out = table.copy()
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(cell)
    out.columns = [cell(str(c)) for c in out.columns]
    return out

"""CSV files staff open in a spreadsheet: no cell may run as a formula (CSV injection).

OWASP's rule: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is prefixed with a single quote, so Excel, LibreOffice and Google Sheets show it as text.
Numbers are left alone (a negative quantity stays a number).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value to write in a CSV cell: text that a spreadsheet would run is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + str.__str__(value)
    return value


def read_cell(value: str) -> str:
    """A cell read back from a file this shop exported: ``safe_cell``'s quote removed."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def write_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A whole CSV document with every cell passed through ``safe_cell``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def count_records(text: str) -> int:
    """How many records (header included) a CSV document holds; quoted newlines stay inside."""
    return sum(1 for _ in csv.reader(io.StringIO(text)))

"""Reports and search as files: CSV and XLSX (reports.md's rows, the JSON keys as headers).

Rows come in chunks (runner.report_chunks) and go to a file as they come, so a year of detail
is never in memory at once; XLSX is written by XlsxWriter in its constant-memory mode. In XLSX a
value that is a number in the JSON's text is a number cell; times stay the local-time text the
API gives (the configured timezone).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?[0-9]{1,15}\.[0-9]{1,6}")
SHEET_ROWS = 1_048_575  # XLSX's last row, minus the header


def cell(value: str) -> Any:
    """The XLSX cell of a JSON text value: an int or float when it reads as one, else text."""
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def csv_blocks(columns: tuple[str, ...], chunks: Iterable[list[dict[str, str]]]) -> Iterator[bytes]:
    """The rows as UTF-8 CSV, one block of bytes per chunk (the header with the first): what a
    download streams as the rows are read. The first block comes only once the query has
    answered, so an error in it can still be a JSON answer."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)

    def taken() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    writer.writerow(columns)
    sent = False
    for rows in chunks:
        writer.writerows([row.get(c, "") for c in columns] for row in rows)
        yield taken()
        sent = True
    if not sent:
        yield taken()


def write_csv(columns: tuple[str, ...], chunks: Iterable[list[dict[str, str]]], out: IO[bytes]) -> int:
    """The rows as UTF-8 CSV (header first); how many rows."""
    count = 0

    def counted() -> Iterator[list[dict[str, str]]]:
        nonlocal count
        for rows in chunks:
            count += len(rows)
            yield rows

    for block in csv_blocks(columns, counted()):
        out.write(block)
    return count


def write_xlsx(
    columns: tuple[str, ...], chunks: Iterable[list[dict[str, str]]], out: IO[bytes], title: str
) -> int:
    """The rows as one XLSX sheet named `title` (a sheet's last row is the format's limit: more
    rows go on to further sheets); how many rows."""
    import xlsxwriter

    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_numbers": False,
                                     "in_memory": False})  # fmt: skip
    bold = book.add_format({"bold": True})
    sheet, row_number, sheets, count = None, SHEET_ROWS, 0, 0
    for rows in chunks:
        for row in rows:
            if row_number >= SHEET_ROWS:
                sheets += 1
                sheet = book.add_worksheet((title[:28] + (f" {sheets}" if sheets > 1 else ""))[:31])
                sheet.write_row(0, 0, columns, bold)
                sheet.freeze_panes(1, 0)
                row_number = 0
            row_number += 1
            assert sheet is not None
            sheet.write_row(row_number, 0, [cell(row.get(c, "")) for c in columns])
            count += 1
    if sheet is None:  # no rows: the header alone
        sheet = book.add_worksheet(title[:31])
        sheet.write_row(0, 0, columns, bold)
    book.close()
    return count


def write(fmt: str, columns: tuple[str, ...], chunks: Iterable[list[dict[str, str]]],
          out: IO[bytes], title: str) -> int:  # fmt: skip
    """The rows in `fmt` ("csv" or "xlsx") to `out`; how many rows."""
    if fmt == "csv":
        return write_csv(columns, chunks, out)
    return write_xlsx(columns, chunks, out, title)

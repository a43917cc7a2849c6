"""Provides the safe reading of spreadsheet files: text encodings with evidence, and size limits.

Two faults made imports dangerous. A UTF-8 file with one stray byte was silently re-read as
GB18030 (which decodes almost anything) and sixty names became mojibake; and openpyxl trusts
what a workbook declares, so a 1.6 KB XLSX declaring the largest sheet ran for 23 minutes and a
300 KB one took 1.5 GB. This module reads the bytes of a CSV or an XLSX file and hands back
rows of text, or refuses with one line that says why.

Encodings (:func:`decode_text`) are chosen on evidence and never silently:

- UTF-8, with or without a byte-order mark, when the whole file is valid UTF-8;
- a file that is *mostly* UTF-8 (more valid multi-byte sequences than invalid bytes) but not
  clean is refused, naming the line and byte offset of the first bad byte;
- GB18030/GBK only when the file is clearly not UTF-8 (fewer valid multi-byte sequences than
  invalid bytes), decodes cleanly as GB18030, and at least 80 % of its non-ASCII characters are
  in the common GB2312 set; the result says so and why (:attr:`Decoded.evidence`);
- a file that is valid UTF-8 but reads as no Chinese at all in UTF-8 and as common Chinese in
  GBK is ambiguous (a short GBK file can be valid UTF-8): refused, asking for ``--encoding``;
- with an explicit encoding the file must decode cleanly in it, else the bad line is named.

XLSX workbooks are checked as zip archives before openpyxl sees them (:func:`check_archive`):
the file's size, the number of parts, each part's declared uncompressed size, their total and
the compression ratio of large parts (zipfile never inflates a part past its declared size, so
the declared sizes bound the work). Then each sheet's declared dimension, and while reading the
rows actually present, the columns of a row, the cells and the time spent. :class:`SheetLimits`
holds the numbers; every refusal names the limit it hit.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from store.errors import InvalidInput
from store.i18n import _
from store.text import UNSAFE_IN_ONE_LINE

MB = 1024 * 1024


@dataclass(frozen=True)
class SheetLimits:
    """What an import file may hold; beyond any of these it is refused before it costs much.

    The defaults are a few times the design's scale (30,000 people in one sheet: a CSV of
    ~3 MB, an XLSX sheet part of ~10 MB uncompressed).
    """

    max_file_bytes: int = 64 * MB  # the file as stored (a CSV, or the zipped XLSX)
    max_parts: int = 1000  # parts (zip members) of an XLSX
    max_sheet_bytes: int = 64 * MB  # one worksheet part, uncompressed (read as a stream)
    max_part_bytes: int = 16 * MB  # any other part (shared strings, styles), parsed whole
    max_unpacked_bytes: int = 128 * MB  # all parts together, uncompressed
    max_ratio: int = 100  # uncompressed / compressed, for parts larger than ratio_from_bytes
    ratio_from_bytes: int = 1 * MB
    max_rows: int = 100_000  # rows of one sheet or CSV file, blank ones included
    max_columns: int = 256  # columns of one row
    max_cells: int = 3_000_000  # cells of one sheet (rows x columns, as declared or read)
    max_seconds: float = 60.0  # reading one file


DEFAULT_LIMITS = SheetLimits()


@dataclass
class Sheet:
    """The rows of one CSV file or one worksheet: headers as written, cells as text."""

    label: str
    kind_hint: str | None
    headers: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass(frozen=True)
class Decoded:
    """A text file's content and the encoding it was read in, with the evidence for it."""

    text: str
    encoding: str  # "utf-8", "gb18030", or the codec named with --encoding
    evidence: str  # one sentence for the person importing


def limit_error(label: str, message: str) -> InvalidInput:
    """The one-line refusal of a file that is over a limit (exit 2)."""
    return InvalidInput(_("{file}: refused: {message}").format(file=label, message=message), "file")


# --- encodings ----------------------------------------------------------------------------------

_SURROGATE = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")
# Chinese as a UTF-8 reading would show it: ideographs, CJK punctuation, full-width forms.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
COMMON_SHARE = 0.8


def _where(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return _(
        "line {line}, byte {column} of the line (file offset {offset}, byte 0x{byte:02X})"
    ).format(line=line, column=column, offset=offset, byte=data[offset])


def _common_gb2312(text: str) -> tuple[int, int]:
    """(characters in the common GB2312 set, non-ASCII characters) of ``text``."""
    wide = "".join(_NON_ASCII.findall(text))
    # Each GB2312 character encodes to two bytes, each other one to the one-byte '?'.
    return len(wide.encode("gb2312", errors="replace")) - len(wide), len(wide)


def _reads_as_common_chinese(data: bytes) -> bool:
    """True when ``data`` decodes as GB18030 with mostly common GB2312 characters."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return False
    common, wide = _common_gb2312(text)
    return wide > 0 and common >= COMMON_SHARE * wide


def decode_text(data: bytes, label: str, encoding: str | None = None) -> Decoded:
    """The text of a CSV file's bytes, in an encoding chosen on evidence (module docstring).

    Args:
        data: the file's bytes.
        label: the file as the error names it.
        encoding: an encoding the person chose (``--encoding``); the file must be clean in it.

    Raises:
        InvalidInput: the encoding is unknown, the file is not clean in the chosen or detected
            encoding (naming the line and byte), or the evidence does not decide.
    """
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise InvalidInput(
                _("unknown encoding {name!r} (e.g. utf-8, gbk, gb18030, big5)").format(
                    name=encoding
                ),
                "--encoding",
            ) from exc
        skip = len(codecs.BOM_UTF8) if codec == "utf-8" and data.startswith(codecs.BOM_UTF8) else 0
        try:
            text = data[skip:].decode(codec)
        except LookupError as exc:  # a codec that is not a text encoding (rot13, base64...)
            raise InvalidInput(str(exc), "--encoding") from exc
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                _("{file} is not valid {encoding} at {where}; nothing was read").format(
                    file=label, encoding=codec, where=_where(data, skip + exc.start)
                ),
                "file",
            ) from exc
        return Decoded(text, codec, _("--encoding {name} was given").format(name=codec))
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InvalidInput(
            _("{file} is UTF-16 text; save it as CSV (UTF-8) and import that").format(file=label),
            "file",
        )
    if b"\x00" in data:
        raise InvalidInput(
            _("{file} holds NUL bytes at {where}: it is not a CSV text file").format(
                file=label, where=_where(data, data.index(b"\x00"))
            ),
            "file",
        )
    bom = data.startswith(codecs.BOM_UTF8)
    skip = len(codecs.BOM_UTF8) if bom else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = skip + exc.start
        if bom:
            raise InvalidInput(
                _(
                    "{file} starts with a UTF-8 byte-order mark but is not valid UTF-8 at"
                    " {where}; fix that line (nothing was read)"
                ).format(file=label, where=_where(data, first_bad)),
                "file",
            ) from exc
        return _not_utf8(data, label, first_bad)
    wide = len(_NON_ASCII.findall(text))
    if bom:
        return Decoded(text, "utf-8", _("UTF-8 (the file starts with a byte-order mark)"))
    if wide and not _CJK.search(text) and _reads_as_common_chinese(data):
        raise InvalidInput(
            _(
                "{file} is valid UTF-8 but then holds no Chinese, while it reads as Chinese in"
                " GBK: give --encoding utf-8 or --encoding gbk"
            ).format(file=label),
            "file",
        )
    return Decoded(
        text,
        "utf-8",
        _("UTF-8 (valid throughout; {count} non-ASCII characters)").format(count=wide),
    )


def _not_utf8(data: bytes, label: str, first_bad: int) -> Decoded:
    """GB18030 when the evidence says so, else a refusal naming the first bad UTF-8 byte."""
    loose = data.decode("utf-8", errors="surrogateescape")
    invalid = len(_SURROGATE.findall(loose))
    valid = len(_NON_ASCII.findall(loose)) - invalid
    where = _where(data, first_bad)
    if valid > invalid:
        raise InvalidInput(
            _(
                "{file} is UTF-8 ({valid} multi-byte characters) except for {invalid} byte(s),"
                " the first at {where}: the file is damaged or mixes encodings; fix that line"
                " (or give --encoding if the whole file is in another encoding); nothing was"
                " read"
            ).format(file=label, valid=valid, invalid=invalid, where=where),
            "file",
        )
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            _(
                "{file} is neither UTF-8 (first bad byte at {where}) nor GB18030/GBK (first"
                " bad byte at {gb_where}); give --encoding; nothing was read"
            ).format(file=label, where=where, gb_where=_where(data, exc.start)),
            "file",
        ) from exc
    common, wide = _common_gb2312(text)
    if common < COMMON_SHARE * wide:
        raise InvalidInput(
            _(
                "{file} is not UTF-8 (first bad byte at {where}) and reads as GB18030 only with"
                " rare characters ({common} of {wide} common): give --encoding; nothing was read"
            ).format(file=label, where=where, common=common, wide=wide),
            "file",
        )
    return Decoded(
        text,
        "gb18030",
        _(
            "GB18030/GBK: not UTF-8 ({invalid} bad bytes, only {valid} valid multi-byte"
            " sequences, first bad byte at {where}); reads cleanly as GB18030 with {common} of"
            " {wide} characters in the common GB2312 set"
        ).format(invalid=invalid, valid=valid, where=where, common=common, wide=wide),
    )


# --- CSV ----------------------------------------------------------------------------------------


def _read_bytes(path: Path, limits: SheetLimits) -> bytes:
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise limit_error(
                str(path),
                _("the file is {size} bytes; the import reads at most {limit}").format(
                    size=size, limit=limits.max_file_bytes
                ),
            )
        with path.open("rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
    except OSError as exc:
        raise InvalidInput(
            _("cannot read {path}: {reason}").format(path=path, reason=exc), "file"
        ) from exc
    if len(data) > limits.max_file_bytes:  # it grew since stat()
        raise limit_error(
            str(path),
            _("the file is over {limit} bytes").format(limit=limits.max_file_bytes),
        )
    return data


class _Budget:
    """Counts rows and cells of one sheet against the limits, and the time of one file."""

    def __init__(self, label: str, limits: SheetLimits, deadline: float) -> None:
        self.label = label
        self.limits = limits
        self.deadline = deadline
        self.rows = 0
        self.cells = 0

    def row(self, width: int) -> None:
        limits = self.limits
        self.rows += 1
        self.cells += width
        if self.rows > limits.max_rows:
            raise limit_error(
                self.label,
                _("more than {limit} rows (the limit of rows per sheet)").format(
                    limit=limits.max_rows
                ),
            )
        if width > limits.max_columns:
            raise limit_error(
                self.label,
                _("row {row} has {width} columns; the limit is {limit}").format(
                    row=self.rows, width=width, limit=limits.max_columns
                ),
            )
        if self.cells > limits.max_cells:
            raise limit_error(
                self.label,
                _("more than {limit} cells (the limit of cells per sheet)").format(
                    limit=limits.max_cells
                ),
            )
        if time.monotonic() > self.deadline:
            raise limit_error(
                self.label,
                _("reading took longer than {limit} s (the time limit), at row {row}").format(
                    limit=limits.max_seconds, row=self.rows
                ),
            )


def read_csv(
    path: Path, *, encoding: str | None = None, limits: SheetLimits = DEFAULT_LIMITS
) -> tuple[Sheet, Decoded]:
    """The rows of a CSV file, with the encoding it was read in (see :func:`decode_text`).

    Raises:
        InvalidInput: the file cannot be read, is over a limit, is not clean text in one
            encoding, or is not valid CSV (naming the line).
    """
    deadline = time.monotonic() + limits.max_seconds
    data = _read_bytes(path, limits)
    decoded = decode_text(data, str(path), encoding)
    reader = csv.reader(io.StringIO(decoded.text, newline=""))
    budget = _Budget(str(path), limits, deadline)
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            budget.row(len(record))
            if headers is None:
                headers = [h.strip() for h in record]
            elif any(c.strip() for c in record):
                rows.append((start, [c.strip() for c in record]))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInput(
            _("{path} line {line}: not valid CSV: {reason}").format(
                path=path, line=reader.line_num, reason=exc
            ),
            "file",
        ) from exc
    return Sheet(str(path), None, headers or [], rows), decoded


# --- XLSX ---------------------------------------------------------------------------------------


def check_archive(data: bytes, label: str, limits: SheetLimits = DEFAULT_LIMITS) -> None:
    """Refuse an XLSX whose zip parts would cost too much to inflate or parse.

    Only the central directory is read: nothing is inflated.

    Raises:
        InvalidInput: not a zip archive, or over a limit of :class:`SheetLimits` (named).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise InvalidInput(
            _("cannot read {path} as an XLSX workbook: {reason}").format(path=label, reason=exc),
            "file",
        ) from exc
    if len(parts) > limits.max_parts:
        raise limit_error(
            label,
            _("the workbook has {count} parts; the limit is {limit}").format(
                count=len(parts), limit=limits.max_parts
            ),
        )
    total = 0
    for part in parts:
        size = part.file_size
        total += size
        is_sheet = part.filename.startswith("xl/worksheets/")
        limit = limits.max_sheet_bytes if is_sheet else limits.max_part_bytes
        if size > limit:
            raise limit_error(
                label,
                _("part {part} unpacks to {size} bytes; the limit is {limit}").format(
                    part=part.filename, size=size, limit=limit
                ),
            )
        if size > limits.ratio_from_bytes and size > limits.max_ratio * max(part.compress_size, 1):
            raise limit_error(
                label,
                _(
                    "part {part} is compressed {ratio}:1 (a zip bomb?); the limit of the"
                    " compression ratio is {limit}:1"
                ).format(
                    part=part.filename,
                    ratio=size // max(part.compress_size, 1),
                    limit=limits.max_ratio,
                ),
            )
    if total > limits.max_unpacked_bytes:
        raise limit_error(
            label,
            _("the workbook unpacks to {size} bytes; the limit is {limit}").format(
                size=total, limit=limits.max_unpacked_bytes
            ),
        )


def cell_text(value: Any) -> str:
    """A spreadsheet cell's value as the import reads it: text, whole numbers without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _check_dimension(ws: Any, label: str, limits: SheetLimits) -> None:
    if ws.max_row is None or ws.max_column is None:
        return
    rows = int(ws.max_row) - int(ws.min_row) + 1
    columns = int(ws.max_column) - int(ws.min_column) + 1
    if rows > limits.max_rows or columns > limits.max_columns or rows * columns > limits.max_cells:
        raise limit_error(
            label,
            _(
                "the sheet declares {rows} rows x {columns} columns; the import reads at most"
                " {max_rows} rows, {max_columns} columns and {max_cells} cells per sheet"
            ).format(
                rows=rows,
                columns=columns,
                max_rows=limits.max_rows,
                max_columns=limits.max_columns,
                max_cells=limits.max_cells,
            ),
        )


def printable(text: str) -> str:
    """``text`` with control characters written as escapes, for labels shown on a terminal."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def _one_line(exc: BaseException) -> str:
    """An error's words on one line: openpyxl's, when defusedxml is installed (the CAP reader
    needs it), run over several."""
    return " ".join(str(exc).split())


def read_xlsx(
    path: Path,
    select: Callable[[Sequence[str]], list[tuple[int, str | None]]],
    *,
    limits: SheetLimits = DEFAULT_LIMITS,
) -> list[Sheet]:
    """The rows of the chosen sheets of an XLSX workbook, within :class:`SheetLimits`.

    Args:
        path: the workbook.
        select: given the sheet titles, the (index, kind hint) of the sheets to read, in order.
        limits: the limits checked before and while reading.

    Raises:
        InvalidInput: not a workbook, or over a limit (named).
    """
    from openpyxl import load_workbook

    deadline = time.monotonic() + limits.max_seconds
    data = _read_bytes(path, limits)
    check_archive(data, str(path), limits)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        raise InvalidInput(
            _("cannot read {path} as an XLSX workbook: {reason}").format(
                path=path, reason=_one_line(exc)
            ),
            "file",
        ) from exc
    try:
        titles = [ws.title for ws in book.worksheets]
        sheets: list[Sheet] = []
        for index, hint in select(titles):
            ws = book.worksheets[index]
            label = f"{path}[{printable(ws.title)}]"
            _check_dimension(ws, label, limits)
            # openpyxl stops at the declared last row: read what is there, under our limits.
            ws.reset_dimensions()
            budget = _Budget(label, limits, deadline)
            headers: list[str] | None = None
            rows: list[tuple[int, list[str]]] = []
            try:
                for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
                    budget.row(len(values))
                    cells = [cell_text(v) for v in values]
                    if headers is None:
                        headers = cells
                        while headers and not headers[-1]:
                            headers.pop()
                    elif any(cells):
                        rows.append((number, cells))
            except InvalidInput:
                raise
            except Exception as exc:  # a damaged part shows only when its rows are parsed
                raise InvalidInput(
                    _("cannot read {path} as an XLSX workbook: {reason}").format(
                        path=label, reason=_one_line(exc)
                    ),
                    "file",
                ) from exc
            sheets.append(Sheet(label, hint, headers or [], rows))
        return sheets
    finally:
        book.close()


# --- cells -------------------------------------------------------------------------------------

# What store.text.clean_text refuses in a one-line field (one owner: store.text). The import
# uses it for a fast path, the export to make such characters visible.
UNSAFE_CHARS = UNSAFE_IN_ONE_LINE


# --- formulas -----------------------------------------------------------------------------------

# What makes a spreadsheet read a cell as a formula (OWASP's list, and a line feed).
FORMULA_START = "=+-@\t\r\n"
_QUOTED_FORMULA = re.compile("'+[" + re.escape(FORMULA_START) + "]")


def neutralize(value: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: ``'`` before a formula-like start.

    A value that already starts with quotes before such a character gets one more, so that
    :func:`unneutralize` gives back exactly the value: ``=1`` → ``'=1``, ``'=1`` → ``''=1``.
    """
    if value and (value[0] in FORMULA_START or _QUOTED_FORMULA.match(value)):
        return "'" + value
    return value


def unneutralize(value: str) -> str:
    """The value of a cell written by :func:`neutralize` (or typed with a ``'`` in a sheet)."""
    if value[:1] == "'" and _QUOTED_FORMULA.match(value):
        return value[1:]
    return value

"""Renders any :class:`~reports.document.Document` as Markdown, a printable HTML page, PDF or Word.

Every report kind builds one document; :func:`render` turns it into the bytes of one format, so
the formats hold the same sections in the same order. HTML and Markdown come from Jinja2
templates (``reports/templates/report.html.j2``, ``report.md.j2``, ``report.css``; a kind may
have its own ``<kind>.html.j2`` extending the base), Word from a .docx base
(``report.docx``: styles, page, footer), PDF from the HTML through WeasyPrint. An office
replaces any template by a file of the same name in its own directory (``templates``).

Jinja2, matplotlib, WeasyPrint and python-docx are imported inside the functions that use them:
the console's start pays for none of them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from reports.document import Document
from store.errors import InvalidInput
from store.i18n import _

FORMATS = ("md", "html", "pdf", "docx")
"""The formats :func:`render` makes."""

_SUFFIXES = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}


def suffix_format(path: Path | None) -> str | None:
    """The format a file's suffix names (``report.pdf`` -> ``pdf``); None when it names none."""
    if path is None:
        return None
    return _SUFFIXES.get(path.suffix.lower())


def render(doc: Document, fmt: str, *, templates: Path | None = None) -> bytes:
    """``doc`` in format ``fmt`` (one of :data:`FORMATS`); Markdown and HTML as UTF-8.

    Args:
        doc: the report.
        fmt: ``md``, ``html``, ``pdf`` or ``docx``.
        templates: the office's template directory: its files replace the built-in ones.

    Raises:
        InvalidInput: an unknown format (field ``format``); a template that does not load or
            render (field ``templates``, naming the file and the Jinja2 error's line).
    """
    if fmt == "md":
        from reports.render.markdown import render_markdown

        return render_markdown(doc, templates=templates).encode("utf-8")
    if fmt == "html":
        from reports.render.html import render_html

        return render_html(doc, templates=templates).encode("utf-8")
    if fmt == "pdf":
        from reports.render.pdf import render_pdf

        return render_pdf(doc, templates=templates)
    if fmt == "docx":
        from reports.render.word import render_docx

        return render_docx(doc, templates=templates)
    raise InvalidInput(
        _("unknown format {format}; expected one of {formats}").format(
            format=fmt, formats=", ".join(FORMATS)
        ),
        "format",
    )


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it: never a half file.

    Raises:
        InvalidInput: the file cannot be written (field ``output``).
    """
    temp: str | None = None
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o666 & ~_umask())  # as an ordinary file would be, not mkstemp's 0600
        os.replace(temp, path)
        temp = None
    except OSError as exc:
        raise InvalidInput(
            _("cannot write {file}: {error}").format(file=path, error=exc.strerror or exc),
            "output",
        ) from exc
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

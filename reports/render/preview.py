"""Renders a PDF's first page to PNG (pdftoppm): the reviewed pictures in docs/reports/ and the
look tests.

Usage, on the demo (the lead picks the reviewed ones)::

    dutydesk demo --db /tmp/demo.db
    dutydesk --db /tmp/demo.db --lang zh report aar 1 -o /tmp/aar.pdf
    python -m reports.render.preview /tmp/aar.pdf docs/reports/aar.png

The same for ``report sitrep ID``, ``report case CASE``, ``report duty-log --date ...`` and
``report stats --from ... --to ...``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from store.errors import InvalidInput
from store.i18n import _

DPI = 80


def first_page_png(pdf: bytes, dpi: int = DPI) -> bytes:
    """The first page of ``pdf`` as a PNG at ``dpi``.

    Raises:
        InvalidInput: pdftoppm is not installed or fails (field ``pdf``).
    """
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise InvalidInput(_("pdftoppm is not installed (poppler-utils)"), "pdf")
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "in.pdf"
        source.write_bytes(pdf)
        done = subprocess.run(
            [tool, "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(source),
             str(Path(work) / "page")],
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise InvalidInput(done.stderr.strip() or "pdftoppm failed", "pdf")
        return (Path(work) / "page.png").read_bytes()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m reports.render.preview IN.pdf OUT.png [DPI]", file=sys.stderr)
        return 2
    dpi = int(argv[2]) if len(argv) == 3 else DPI
    Path(argv[1]).write_bytes(first_page_png(Path(argv[0]).read_bytes(), dpi))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

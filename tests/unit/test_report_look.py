"""The look of a report: Chinese text printed with real glyphs, not tofu (issue 17, item 8).

A document with Chinese in its title is rendered to PDF (WeasyPrint) and its first page to PNG
(``pdftoppm -r 60``), and to HTML shot by headless Chromium. Tofu (a missing glyph's box) looks
the same for every character, so the same short title is rendered in different characters and
the title areas must differ; they must have ink; and the PDF embeds a CJK font. A render with
a font list without CJK glyphs (DejaVu Sans) must look different from the CJK one.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from reports.document import Document, Para, Table
from reports.render import render
from reports.render.html import render_html
from reports.render.pdf import render_pdf
from reports.render.preview import first_page_png

TITLE_BOX = (0.1, 0.0, 0.9, 0.12)  # the title's area of the first page, as fractions


def doc(title: str) -> Document:
    return Document(
        kind="look",
        title=title,
        generated_at=datetime(2026, 12, 7, 10, 0),
        facts=(("单位", "青山街道"),),
        blocks=(
            Para("东湖村后山山体滑坡，转移群众12人。"),
            Table(("阶段", "用时"), (("登记", "5 min"),)),
        ),
    )


def title_area(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png)).convert("L")
    w, h = image.size
    left, top, right, bottom = TITLE_BOX
    return image.crop((int(w * left), int(h * top), int(w * right), int(h * bottom)))


def ink(image: Image.Image) -> int:
    """How many pixels are dark."""
    histogram = image.histogram()  # grey levels 0-255
    return sum(histogram[:128])


def differ(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is not None


def test_the_pdf_embeds_a_cjk_font(tmp_path: Path) -> None:
    pdf = tmp_path / "look.pdf"
    pdf.write_bytes(render(doc("山体滑坡事后报告"), "pdf"))
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    rows = [line for line in fonts.stdout.splitlines() if "CJK" in line]
    assert rows and all(" yes " in row for row in rows), fonts.stdout  # embedded


def test_pdf_first_page_shows_chinese_glyphs_not_tofu() -> None:
    mountain = title_area(first_page_png(render(doc("山山山山山山"), "pdf"), dpi=60))
    water = title_area(first_page_png(render(doc("水水水水水水"), "pdf"), dpi=60))
    assert ink(mountain) > 50 and ink(water) > 50
    assert differ(mountain, water)  # tofu boxes would be the same


def test_a_font_without_cjk_glyphs_looks_different() -> None:
    title = "值班日志 Duty log"
    cjk = title_area(first_page_png(render_pdf(doc(title)), dpi=60))
    latin = title_area(first_page_png(render_pdf(doc(title), font_family='"DejaVu Sans"'), dpi=60))
    assert ink(cjk) > 50
    assert differ(cjk, latin)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def shoot(html: str, work: Path, name: str) -> Image.Image:
    assert CHROMIUM is not None, "chromium is installed by the README's setup"
    page, shot = work / f"{name}.html", work / f"{name}.png"
    page.write_text(html, encoding="utf-8")
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=900,700", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    return title_area(shot.read_bytes())


@pytest.mark.parametrize("pair", [("山山山山山山", "水水水水水水")])
def test_html_in_chromium_shows_chinese_glyphs(tmp_path: Path, pair: tuple[str, str]) -> None:
    mountain = shoot(render_html(doc(pair[0])), tmp_path, "mountain")
    water = shoot(render_html(doc(pair[1])), tmp_path, "water")
    assert ink(mountain) > 50 and ink(water) > 50
    assert differ(mountain, water)


def test_the_demo_landslide_report_prints_chinese(tmp_path: Path) -> None:
    """The demo's major case (东湖村后山山体滑坡) as PDF and as HTML in Chromium: the PDF
    embeds the CJK font and both first pages have the title in ink."""
    import sqlite3

    from console.cli import main

    db = tmp_path / "demo.db"

    def dutydesk(*args: str) -> None:
        try:
            main(list(args))
        except SystemExit as exc:
            assert not exc.code, args

    dutydesk("demo", "--db", str(db), "--cases", "40")
    with sqlite3.connect(db) as conn:
        (number,) = conn.execute(
            "SELECT number FROM incidents WHERE title = '东湖村后山山体滑坡'"
        ).fetchone()
    for suffix in ("pdf", "html"):
        dutydesk("--db", str(db), "--lang", "zh", "report", "case", number, "-o",
                 str(tmp_path / f"case.{suffix}"))  # fmt: skip
    pdf = (tmp_path / "case.pdf").read_bytes()
    assert "东湖村后山山体滑坡" in (tmp_path / "case.html").read_text(encoding="utf-8")
    fonts = subprocess.run(
        ["pdffonts", str(tmp_path / "case.pdf")], capture_output=True, text=True, check=True
    )
    assert re.search(r"CJK.* yes ", fonts.stdout), fonts.stdout
    assert ink(title_area(first_page_png(pdf, dpi=60))) > 50
    html = (tmp_path / "case.html").read_text(encoding="utf-8")
    assert ink(shoot(html, tmp_path, "case")) > 50

"""A grid member handles a case from a phone: real ``dutydesk serve``, real headless Chromium.

The small town's landslide is dispatched to grid G01 and ``catch_up`` gives its people their
links (as the engine does). M1 opens the link at a phone's size (390 x 844, mobile), accepts,
uploads a photo that carries a GPS position (the stored file has none), and submits the result;
the database then shows the case in feedback with the updates. Screenshots of the page before
accepting, after the upload and after the feedback go to ``tmp_path``, and to ``docs/field/``
when ``DUTYDESK_UPDATE_DOCS=1`` (the lead reviews them before they are committed).

Then the refusals, over plain HTTP against the same server, each changing nothing in the
field's tables, the cases and the photo folder: a forged token, the link after its case was
returned, a valid link used for another case's photo, an oversized upload, a non-image, a form
without its CSRF token, a form sent a second time. When the server stops, one security summary
holds the refused links.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from console.context import open_context
from incidents.records import get_incident
from incidents.workflow import return_case
from store.db import connect
from tests.support.domain import OPERATOR
from tests.support.field import dispatch_to_field
from tests.support.serve import Serve, free_port, write_config
from tests.support.wait import wait_for
from uplink import field
from uplink.photos import GPS_IFD, photo_folder

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "field"
FORM = re.compile(
    r'action="([^"]+)"[^>]*>\s*<input type="hidden" name="form_id" value="([^"]+)">'
    r'\s*<input type="hidden" name="csrf" value="([^"]+)">'
)
PHOTO_MAX = 400_000


@dataclass
class Case:
    incident_id: int
    link: str

    @property
    def token(self) -> str:
        return self.link.rsplit("/", 1)[1]


def dispatched(db_path: Path, config: Path, base: str, grid: str, person: str, title: str) -> Case:
    """A case in ``grid``, registered and dispatched there, and ``person``'s link to it."""
    ctx = open_context(db_path, config)
    try:
        case_id, _dispatch, link = dispatch_to_field(
            ctx.db,
            ctx.clock,
            ctx.policy,
            ctx.config.field_rules,
            ctx.keys,
            grid=grid,
            person=person,
            base=base,
            title=title,
            severity="II",
            description="后山有落石，村道半幅阻断，两户村民需转移",
            location="东湖村后山（村道3公里处）",
            lat=30.512,
            lon=114.301,
            reporter_name="报告人甲",
        )
        return Case(case_id, link)
    finally:
        ctx.close()


def gps_photo(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (30.0, 30.0, 43.0), 3: "E", 4: (114.0, 18.0, 4.0)}
    image = Image.new("RGB", (960, 720), (120, 100, 80))
    for x in range(0, 960, 40):  # something to look at in the screenshot
        image.paste((90, 140, 60), (x, 360, x + 20, 720))
    image.save(path, "JPEG", exif=exif.tobytes())
    with Image.open(path) as saved:
        assert saved.getexif().get_ifd(GPS_IFD)
    return path


def snapshot(db_path: Path) -> dict[str, Any]:
    """The field's tables, the cases' stages, the field entries of the timeline, the photos."""
    db = connect(db_path)
    try:
        q = db.conn.execute
        state = {
            "dispatches": q("SELECT * FROM field_dispatches ORDER BY id").fetchall(),
            "people": q("SELECT * FROM field_people ORDER BY 1, 2").fetchall(),
            "updates": q("SELECT * FROM field_updates ORDER BY id").fetchall(),
            "cases": q("SELECT id, stage, updated_at FROM incidents ORDER BY id").fetchall(),
            "entries": q(
                "SELECT id FROM events WHERE kind LIKE 'field_%' OR incident_id IS NOT NULL"
                " AND kind IN ('handle', 'feedback', 'return', 'dispatch') ORDER BY id"
            ).fetchall(),
        }
    finally:
        db.close()
    folder = photo_folder(db_path)
    state["files"] = sorted(p.name for p in folder.rglob("*")) if folder.exists() else []
    return state


def forms(html: str) -> dict[str, tuple[str, str]]:
    return {action.rsplit("/", 1)[1]: (fid, csrf) for action, fid, csrf in FORM.findall(html)}


def unchanged(db_path: Path, request: Callable[[], httpx.Response], status: int) -> None:
    before = snapshot(db_path)
    answer = request()
    assert answer.status_code == status, answer.text[:500]
    assert snapshot(db_path) == before


def test_a_grid_member_handles_the_case_from_a_phone(town_db: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port)
    with config.open("a", encoding="utf-8") as out:
        out.write(f"\n[field]\nphoto_max_bytes = {PHOTO_MAX}\n")
    case = dispatched(town_db, config, base, "G01", "M1", "东湖村后山山体滑坡")
    other = dispatched(town_db, config, base, "G02", "L2", "西岭村道路塌方")
    server = Serve(town_db, config, port, tmp_path / "serve.log").start()
    shots: list[Path] = []
    try:
        chromium = shutil.which("chromium")
        assert chromium, "chromium is installed by .ci/run"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                phone = browser.new_context(
                    viewport={"width": 390, "height": 844},
                    is_mobile=True,
                    has_touch=True,
                    device_scale_factor=2,
                    locale="zh-CN",
                    extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"},
                )
                page = phone.new_page()
                page.goto(case.link)
                assert page.locator("h1").inner_text() == "东湖村后山山体滑坡"
                assert "报告人甲" not in page.content()
                shots.append(tmp_path / "case-before-accept.png")
                page.screenshot(path=str(shots[-1]), full_page=True)

                page.locator("#accept-form button").click()
                page.wait_for_url("**done=accept")
                assert page.locator(".flash").is_visible()

                page.locator("select[name=kind]").select_option("before")
                page.locator("input[name=photo]").set_input_files(
                    str(gps_photo(tmp_path / "p.jpg"))
                )
                page.locator("#photo-form button").click()  # the script uploads with progress
                page.wait_for_url("**done=photo")
                page.locator("ul.updates img").first.wait_for()
                wait_for(
                    lambda: page.evaluate(
                        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"
                    ),
                    10,
                    "the photo to be shown",
                )
                shots.append(tmp_path / "case-after-upload.png")
                page.screenshot(path=str(shots[-1]), full_page=True)

                page.locator("#feedback-form textarea").fill(
                    "落石已清理，村道恢复通行，两户村民已安置"
                )
                page.locator("#feedback-form button").click()
                page.wait_for_url("**done=feedback")
                shots.append(tmp_path / "case-after-feedback.png")
                page.screenshot(path=str(shots[-1]), full_page=True)
                assert "落石已清理" in page.content()
            finally:
                browser.close()

        db = connect(town_db)
        try:
            assert get_incident(db, case.incident_id).stage == "feedback"
            kinds = [
                r[0]
                for r in db.conn.execute(
                    "SELECT kind FROM field_updates u JOIN field_dispatches d"
                    " ON d.id = u.dispatch_id WHERE d.incident_id = ? ORDER BY u.id",
                    (case.incident_id,),
                )
            ]
            assert kinds == ["accepted", "photo", "feedback"]
            sha = db.conn.execute(
                "SELECT photo_sha256 FROM field_updates WHERE kind = 'photo'"
            ).fetchone()[0]
        finally:
            db.close()
        stored = next(photo_folder(town_db).rglob(f"{sha}.*"))
        with Image.open(stored) as image:
            assert image.getexif().get_ifd(GPS_IFD) == {}
        assert b"PhoneMaker" not in stored.read_bytes()

        refusals(town_db, config, server, case, other, sha)
    finally:
        server.stop()
    for shot in shots:
        with Image.open(shot) as image:
            assert image.width == 390 * 2
    if os.environ.get("DUTYDESK_UPDATE_DOCS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copyfile(shot, DOCS / shot.name)
    db = connect(town_db)
    try:
        summaries = [
            json.loads(r[0])
            for r in db.conn.execute("SELECT data FROM events WHERE kind = 'security_summary'")
        ]
    finally:
        db.close()
    assert sum(s["kinds"].get("bad_link", 0) for s in summaries) >= 4


def refusals(db_path: Path, config: Path, server: Serve, case: Case, other: Case, sha: str) -> None:
    url = server.url
    with httpx.Client(base_url=url, timeout=15, follow_redirects=False) as http:
        # The other case's person accepts, so their page offers every form.
        page = http.get(f"/case/{other.token}").text
        fid, csrf = forms(page)["accept"]
        assert http.post(f"/case/{other.token}/accept", data={"form_id": fid, "csrf": csrf})
        page = http.get(f"/case/{other.token}").text
        mine = forms(page)

        forged = other.token[:-4] + ("AAAA" if not other.token.endswith("AAAA") else "BBBB")
        unchanged(db_path, lambda: http.get(f"/case/{forged}"), 403)
        unchanged(db_path, lambda: http.get("/case/not-a-token-at-all"), 403)
        unchanged(
            db_path,
            lambda: http.post(
                f"/case/{forged}/progress", data={"form_id": "x", "csrf": "y", "text": "伪造"}
            ),
            403,
        )
        # A valid link of case B asking for case A's photo.
        unchanged(db_path, lambda: http.get(f"/case/{other.token}/photo/{sha}"), 403)

        fid, csrf = mine["photo"]
        unchanged(
            db_path,
            lambda: http.post(
                f"/case/{other.token}/photo",
                data={"form_id": fid, "csrf": csrf, "kind": "after"},
                files={"photo": ("big.jpg", os.urandom(PHOTO_MAX + 200_000), "image/jpeg")},
            ),
            413,
        )
        unchanged(
            db_path,
            lambda: http.post(
                f"/case/{other.token}/photo",
                data={"form_id": fid, "csrf": csrf, "kind": "after"},
                files={"photo": ("x.jpg", b"%PDF-1.7\n" + b"0" * 5000, "image/jpeg")},
            ),
            400,
        )
        fid, csrf = mine["progress"]
        unchanged(
            db_path,
            lambda: http.post(
                f"/case/{other.token}/progress", data={"form_id": fid, "text": "无令牌"}
            ),
            403,
        )
        body = {"form_id": fid, "csrf": csrf, "text": "已到现场"}
        assert http.post(f"/case/{other.token}/progress", data=body).status_code == 303
        replay = http.post(f"/case/{other.token}/progress", data=body)
        assert replay.headers["location"].endswith("done=again")
        unchanged(db_path, lambda: http.post(f"/case/{other.token}/progress", data=body), 303)

        # The first case goes back to the office: its link ends with the dispatch.
        ctx = open_context(db_path, config)
        try:
            return_case(ctx.db, ctx.clock, ctx.policy, OPERATOR, case.incident_id, "需补充材料")
            field.catch_up(ctx.db, ctx.clock, ctx.config.field_rules, ctx.policy)
        finally:
            ctx.close()
        unchanged(db_path, lambda: http.get(f"/case/{case.token}"), 403)
        unchanged(db_path, lambda: http.get(f"/case/{case.token}/photo/{sha}"), 403)

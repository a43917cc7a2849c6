"""The field case page over the real domain and a real database, through httpx's ASGI transport.

A case of the small town is dispatched to grid G01 and ``catch_up`` gives its people their
links; M1 opens the page, accepts, notes progress, uploads a photo and feeds back. Every refusal
(bad link, missing CSRF, replayed form, feedback before acceptance, a non-image, an oversized
upload, another dispatch's photo, a link after the case was returned) changes nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from console.config import Config
from console.context import keys_for
from console.http.casepage import parse_multipart
from console.http.common import in_page_language
from console.http.server import create_app
from incidents.records import get_incident
from incidents.workflow import return_case
from store.clock import FixedClock
from store.db import Database, connect
from store.errors import InvalidInput
from tests.support.domain import OPERATOR, START
from tests.support.field import dispatch_to_field
from uplink import field
from uplink.field_rules import FieldRules
from uplink.photos import GPS_IFD, photo_folder

BASE = "http://testserver"
FORM = re.compile(r'action="([^"]+)"[^>]*>\s*<input type="hidden" name="form_id" value="([^"]+)">'
                  r'\s*<input type="hidden" name="csrf" value="([^"]+)">')  # fmt: skip


@dataclass
class Field:
    db_path: Path
    db: Database
    clock: FixedClock
    config: Config
    incident_id: int
    dispatch_id: int
    token: str  # M1's

    @asynccontextmanager
    async def client(self, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(self.db_path, self.config, self.clock)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url=BASE, follow_redirects=False, headers=headers
            ) as client:
                client.service = app.state.service  # type: ignore[attr-defined]
                yield client
        finally:
            app.state.service.close()


def make_field(db_path: Path, rules: FieldRules | None = None, grid: str = "G01") -> Field:
    rules = rules or FieldRules()
    db = connect(db_path)
    clock = FixedClock(START)
    config = Config(path=None)
    config = config.with_sections(field_rules=rules)
    person = "M1" if grid == "G01" else "L2"
    case_id, dispatch_id, link = dispatch_to_field(
        db,
        clock,
        config.policy,
        rules,
        keys_for(db, db_path, config),
        grid=grid,
        person=person,
        base=BASE,
        description="后山有落石，道路半幅阻断",
        location="东湖村后山",
        lat=30.5,
        lon=114.3,
        reporter_name="王秘密",
    )
    token = link.rsplit("/", 1)[1]
    return Field(db_path, db, clock, config, case_id, dispatch_id, token)


@pytest.fixture
def fc(town_db: Path) -> Iterator[Field]:
    made = make_field(town_db)
    yield made
    made.db.close()


def state(db: Database) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    one = db.conn.execute
    return {
        # The refusals' security summary is written when the server closes: not a change.
        "events": one("SELECT count(*) FROM events WHERE kind != 'security_summary'").fetchone(),
        "updates": one("SELECT count(*) FROM field_updates").fetchone()[0],
        "people": one(
            "SELECT person_key, accepted_at, declined_at FROM field_people ORDER BY 1"
        ).fetchall(),
        "stages": one("SELECT id, stage FROM incidents ORDER BY id").fetchall(),
    }


def forms(html: str) -> dict[str, tuple[str, str]]:
    """``action name -> (form_id, csrf)`` of the page's forms."""
    return {action.rsplit("/", 1)[1]: (fid, csrf) for action, fid, csrf in FORM.findall(html)}


async def post(client: httpx.AsyncClient, token: str, action: str, **fields: str) -> Any:
    page = await client.get(f"/case/{token}")
    assert page.status_code == 200, page.text
    form_id, csrf = forms(page.text)[action]
    return await client.post(
        f"/case/{token}/{action}", data={"form_id": form_id, "csrf": csrf, **fields}
    )


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (30.0, 30.0, 0.0), 3: "E", 4: (114.0, 18.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 140, 60)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def refusals(client: httpx.AsyncClient) -> int:
    service = client.service  # type: ignore[attr-defined]
    data = service.ledger.take_summary(service.now_s(), force=True)
    return int(data["kinds"].get("bad_link", 0)) if data else 0


async def test_the_page_shows_the_case_in_chinese_without_the_reporter(fc: Field) -> None:
    async with fc.client() as client:
        page = await client.get(f"/case/{fc.token}")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="zh">' in html
    assert "东湖村后山山体滑坡" in html and "后山有落石" in html and "东湖村后山" in html
    assert "https://uri.amap.com/marker?position=114.300000,30.500000" in html
    assert "王秘密" not in html and "13912345678" not in html and "5678" not in html
    assert set(forms(html)) >= {"accept", "decline"}
    assert "feedback" not in forms(html)  # only after acceptance
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'nonce-" in page.headers["content-security-policy"]


async def test_the_page_is_english_when_the_browser_prefers_it(fc: Field) -> None:
    async with fc.client(**{"accept-language": "en-US,en;q=0.9"}) as client:
        html = (await client.get(f"/case/{fc.token}")).text
    assert '<html lang="en">' in html
    assert "Accept the case" in html and "What happened" in html


async def test_accept_progress_photo_feedback_move_the_case(fc: Field) -> None:
    async with fc.client() as client:
        accepted = await post(client, fc.token, "accept")
        assert accepted.status_code == 303
        assert accepted.headers["location"] == f"/case/{fc.token}?done=accept"
        assert get_incident(fc.db, fc.incident_id).stage == "handling"
        flash = (await client.get(accepted.headers["location"])).text
        assert 'class="flash"' in flash

        assert (
            await post(client, fc.token, "progress", text="已到现场，设置警戒")
        ).status_code == 303

        page = (await client.get(f"/case/{fc.token}")).text
        form_id, csrf = forms(page)["photo"]
        uploaded = await client.post(
            f"/case/{fc.token}/photo",
            data={"form_id": form_id, "csrf": csrf, "kind": "before"},
            files={"photo": ("scene.jpg", jpeg_with_gps(), "image/jpeg")},
        )
        assert uploaded.status_code == 303, uploaded.text
        sha = fc.db.conn.execute(
            "SELECT photo_sha256 FROM field_updates WHERE kind = 'photo'"
        ).fetchone()[0]
        stored = next(photo_folder(fc.db_path).rglob(f"{sha}.jpg"))
        with Image.open(stored) as image:
            assert image.getexif().get_ifd(GPS_IFD) == {}
        served = await client.get(f"/case/{fc.token}/photo/{sha}")
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        assert served.content == stored.read_bytes()

        done = await post(client, fc.token, "feedback", text="落石已清理，道路恢复通行")
        assert done.status_code == 303
        page = (await client.get(f"/case/{fc.token}")).text
    assert get_incident(fc.db, fc.incident_id).stage == "feedback"
    assert "已到现场，设置警戒" in page and "落石已清理" in page
    assert f"/case/{fc.token}/photo/{sha}" in page


async def test_a_replayed_form_changes_nothing(fc: Field) -> None:
    async with fc.client() as client:
        page = (await client.get(f"/case/{fc.token}")).text
        form_id, csrf = forms(page)["accept"]
        assert await client.post(
            f"/case/{fc.token}/accept", data={"form_id": form_id, "csrf": csrf}
        )
        progress_id, progress_csrf = forms((await client.get(f"/case/{fc.token}")).text)["progress"]
        body = {"form_id": progress_id, "csrf": progress_csrf, "text": "第一次"}
        assert (await client.post(f"/case/{fc.token}/progress", data=body)).status_code == 303
        before = state(fc.db)
        again = await client.post(f"/case/{fc.token}/progress", data=body)
    assert again.status_code == 303
    assert again.headers["location"].endswith("?done=again")
    assert state(fc.db) == before


@pytest.mark.parametrize(
    "token",
    ["nonsense", "A" * 80, "x.y.z"],
)
async def test_a_forged_link_is_refused_and_counted(fc: Field, token: str) -> None:
    before = state(fc.db)
    async with fc.client() as client:
        page = await client.get(f"/case/{token}")
        posted = await client.post(f"/case/{token}/accept", data={"form_id": "f", "csrf": "c"})
        assert refusals(client) == 2
    assert page.status_code == 403 and posted.status_code == 403
    assert "东湖村" not in page.text
    assert state(fc.db) == before


async def test_an_altered_link_is_refused(fc: Field) -> None:
    altered = fc.token[:-2] + ("AA" if not fc.token.endswith("AA") else "BB")
    async with fc.client() as client:
        assert (await client.get(f"/case/{altered}")).status_code == 403


async def test_a_missing_or_forged_csrf_token_changes_nothing(fc: Field) -> None:
    before = state(fc.db)
    async with fc.client() as client:
        form_id, csrf = forms((await client.get(f"/case/{fc.token}")).text)["accept"]
        missing = await client.post(f"/case/{fc.token}/accept", data={"form_id": form_id})
        forged = await client.post(
            f"/case/{fc.token}/accept", data={"form_id": form_id, "csrf": csrf[:-3] + "abc"}
        )
        other = await client.post(
            f"/case/{fc.token}/accept", data={"form_id": "another-form-id", "csrf": csrf}
        )
    assert (missing.status_code, forged.status_code, other.status_code) == (403, 403, 403)
    assert state(fc.db) == before


async def test_feedback_before_acceptance_is_refused_with_a_reason(fc: Field) -> None:
    async with fc.client() as client:
        page = (await client.get(f"/case/{fc.token}")).text
        form_id, csrf = forms(page)["accept"]  # any form's CSRF pair is bound to its form id
        before = state(fc.db)
        refused = await client.post(
            f"/case/{fc.token}/feedback", data={"form_id": form_id, "csrf": csrf, "text": "好了"}
        )
    assert refused.status_code == 409
    assert 'class="error"' in refused.text
    assert state(fc.db) == before


async def test_a_decline_needs_a_reason_and_tells_the_office(fc: Field) -> None:
    async with fc.client() as client:
        empty = await post(client, fc.token, "decline", reason="  ")
        assert empty.status_code == 400
        declined = await post(client, fc.token, "decline", reason="人在外地")
        assert declined.status_code == 303
        page = (await client.get(f"/case/{fc.token}")).text
    kinds = [r[0] for r in fc.db.conn.execute("SELECT kind FROM events ORDER BY id")]
    assert "field_declined" in kinds
    said = in_page_language("You declined this case at {time}.", False).split("{time}")[0]
    assert said in page
    assert get_incident(fc.db, fc.incident_id).stage == "dispatched"


async def upload(client: httpx.AsyncClient, token: str, data: bytes, name: str = "x.jpg") -> Any:
    await post(client, token, "accept")
    form_id, csrf = forms((await client.get(f"/case/{token}")).text)["photo"]
    return await client.post(
        f"/case/{token}/photo",
        data={"form_id": form_id, "csrf": csrf, "kind": "after"},
        files={"photo": (name, data, "image/jpeg")},
    )


async def test_a_non_image_upload_is_refused_and_nothing_is_stored(fc: Field) -> None:
    async with fc.client() as client:
        await post(client, fc.token, "accept")
        before = state(fc.db)
        form_id, csrf = forms((await client.get(f"/case/{fc.token}")).text)["photo"]
        refused = await client.post(
            f"/case/{fc.token}/photo",
            data={"form_id": form_id, "csrf": csrf, "kind": "after"},
            files={"photo": ("x.jpg", b"%PDF-1.4 not a photo", "image/jpeg")},
        )
    assert refused.status_code == 400
    assert 'class="error"' in refused.text
    assert state(fc.db) == before
    assert not photo_folder(fc.db_path).exists()


async def test_a_photo_of_an_unknown_kind_is_refused_before_it_is_stored(fc: Field) -> None:
    async with fc.client() as client:
        await post(client, fc.token, "accept")
        before = state(fc.db)
        form_id, csrf = forms((await client.get(f"/case/{fc.token}")).text)["photo"]
        refused = await client.post(
            f"/case/{fc.token}/photo",
            data={"form_id": form_id, "csrf": csrf, "kind": "<script>"},
            files={"photo": ("x.jpg", jpeg_with_gps(), "image/jpeg")},
        )
    assert refused.status_code == 400
    assert "<script>" not in refused.text  # what the request said is shown escaped, if at all
    assert state(fc.db) == before
    assert not photo_folder(fc.db_path).exists()


async def test_an_oversized_upload_is_refused_while_it_streams(town_db: Path) -> None:
    made = make_field(town_db, FieldRules(photo_max_bytes=20_000))
    try:
        async with made.client() as client:
            await post(client, made.token, "accept")
            before = state(made.db)
            form_id, csrf = forms((await client.get(f"/case/{made.token}")).text)["photo"]
            big = await client.post(
                f"/case/{made.token}/photo",
                data={"form_id": form_id, "csrf": csrf, "kind": "after"},
                files={"photo": ("big.jpg", b"\xff" * 200_000, "image/jpeg")},
            )
        assert big.status_code == 413
        assert state(made.db) == before
    finally:
        made.db.close()


async def test_another_dispatchs_photo_is_refused(town_db: Path) -> None:
    first = make_field(town_db)
    second = make_field(town_db, grid="G02")
    try:
        async with first.client() as client:
            assert (await upload(client, first.token, jpeg_with_gps())).status_code == 303
            sha = first.db.conn.execute(
                "SELECT photo_sha256 FROM field_updates WHERE kind = 'photo'"
            ).fetchone()[0]
            assert (await client.get(f"/case/{first.token}/photo/{sha}")).status_code == 200
            cross = await client.get(f"/case/{second.token}/photo/{sha}")
            traversal = await client.get(f"/case/{second.token}/photo/..%2F..%2Ftown.db")
            assert refusals(client) == 1
        assert cross.status_code == 403 and traversal.status_code == 404
        assert cross.headers["content-type"].startswith("text/html")
    finally:
        first.db.close()
        second.db.close()


async def test_a_returned_case_ends_the_link(fc: Field) -> None:
    async with fc.client() as client:
        assert (await post(client, fc.token, "accept")).status_code == 303
    return_case(fc.db, fc.clock, fc.config.policy, OPERATOR, fc.incident_id, "派错网格")
    field.catch_up(fc.db, fc.clock, fc.config.field_rules, fc.config.policy)
    before = state(fc.db)
    async with fc.client() as client:
        assert (await client.get(f"/case/{fc.token}")).status_code == 403
    assert state(fc.db) == before


async def test_the_link_is_rate_limited_on_its_own(fc: Field) -> None:
    async with fc.client() as client:
        codes = [(await client.get(f"/case/{fc.token}")).status_code for _ in range(45)]
    assert codes[0] == 200
    assert 429 in codes


def test_parse_multipart_reads_fields_and_refuses_junk() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="kind"\r\n\r\nbefore\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\x00\r\n\xff--Xy\r\n--XyZ--\r\n"
    )
    parts = parse_multipart(body, "multipart/form-data; boundary=XyZ")
    assert parts == {"kind": b"before", "photo": b"\x00\r\n\xff--Xy"}
    with pytest.raises(InvalidInput):
        parse_multipart(body, "application/x-www-form-urlencoded")
    with pytest.raises(InvalidInput):
        parse_multipart(body[:-9], "multipart/form-data; boundary=XyZ")
    many = b"".join(
        b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i for i in range(20)
    )
    with pytest.raises(InvalidInput, match="too many"):
        parse_multipart(many + b"--B--\r\n", "multipart/form-data; boundary=B")


def photo_files(db_path: Path) -> list[str]:
    folder = photo_folder(db_path)
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


async def test_a_photo_that_is_not_taken_leaves_no_file(fc: Field) -> None:
    """A replayed photo form (a second photo sent with it) changes nothing, and the second
    photo's file is not kept: no row names it."""
    async with fc.client() as client:
        await post(client, fc.token, "accept")
        form_id, csrf = forms((await client.get(f"/case/{fc.token}")).text)["photo"]
        fields = {"form_id": form_id, "csrf": csrf, "kind": "after"}
        first = await client.post(
            f"/case/{fc.token}/photo", data=fields, files={"photo": ("a.jpg", jpeg_with_gps())}
        )
        kept = photo_files(fc.db_path)
        before = state(fc.db)
        other = io.BytesIO()
        Image.new("RGB", (640, 480), (200, 30, 30)).save(other, "JPEG")
        replayed = await client.post(
            f"/case/{fc.token}/photo", data=fields, files={"photo": ("b.jpg", other.getvalue())}
        )
    assert first.status_code == 303 and len(kept) == 1
    assert replayed.status_code == 303 and replayed.headers["location"].endswith("done=again")
    assert state(fc.db) == before
    assert photo_files(fc.db_path) == kept


@pytest.mark.parametrize("token", ["nonsense", "A" * 80])
async def test_forged_links_leave_the_log_and_the_photos_as_they_were(
    fc: Field, token: str
) -> None:
    """Every route behind a link, called with a forged one: a 403, nothing read of an upload,
    nothing stored, and the permanent log grows by at most the one security summary however
    many were refused."""
    events = fc.db.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    before = state(fc.db)
    async with fc.client() as client:
        codes = []
        for _ in range(5):
            codes.append((await client.get(f"/case/{token}")).status_code)
            codes.append((await client.post(f"/case/{token}/feedback", data={})).status_code)
            photo = await client.post(
                f"/case/{token}/photo", files={"photo": ("a.jpg", jpeg_with_gps())}
            )
            codes.append(photo.status_code)
            codes.append((await client.get(f"/case/{token}/photo/{'0' * 64}")).status_code)
    assert set(codes) == {403}
    assert state(fc.db) == before
    assert photo_files(fc.db_path) == []
    grown = fc.db.conn.execute("SELECT count(*) FROM events").fetchone()[0] - events
    assert grown <= 1  # the refusals' one summary, written when the server closed

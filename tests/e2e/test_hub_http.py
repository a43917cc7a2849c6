"""The hub's HTTP surface (protocol v1) against a real ``dutydesk serve`` on 127.0.0.1.

A hub database with registered units, a real server with ``[hub] enabled``, and real requests:
ingestion over HTTP (accepted, duplicate, held, conflict, the replayed answer), every refusal
of the protocol with nothing stored, the per-unit rate, the OpenAPI document, and a flood of
unauthenticated requests that leaves only the security summary in the audit log. The
document's copy in ``docs/`` is checked against the code here too, so it never drifts.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.config import Config, HubSettings
from console.http.common import HttpService
from console.http.server import build_app
from store.clock import SystemClock
from store.db import connect
from store.errors import DatabaseBusy
from tests.support.domain import events_since
from tests.support.serve import Serve, free_port, write_config
from uplink.hub import add_unit, cases, revoke_unit, unit_state
from uplink.models import Kind, Result
from uplink.openapi import openapi

ROOT = Path(__file__).resolve().parents[2]
A, B, C = "330106001", "330106002", "330106003"  # townships; C's token gets revoked
slow = pytest.mark.slow


# --- a hub and what is sent to it -------------------------------------------------------------


class Hub:
    """A hub database with units A, B and C and a running ``serve`` with the hub's routes."""

    def __init__(
        self,
        tmp_path: Path,
        factory: Callable[[Path, Path, int], Serve],
        *,
        hub: dict[str, Any] | None = None,
    ) -> None:
        self.db = tmp_path / "hub.db"
        self.tokens: dict[str, str] = {}
        db = connect(self.db)
        try:
            for code in (A, B, C):
                _unit, self.tokens[code] = add_unit(db, SystemClock().now(), code, f"town {code}")
        finally:
            db.close()
        self.port = free_port()
        config = write_config(tmp_path, self.port)
        table = {"enabled": True, "max_body_kb": 64, **(hub or {})}
        with config.open("a", encoding="utf-8") as out:
            out.write("\n[hub]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
        self.server = factory(self.db, config, self.port).start()
        self.url = self.server.url
        self.log = self.server.log

    def headers(self, unit: str | None = A, **more: str) -> dict[str, str]:
        headers = {"Dutydesk-Protocol": "1"}
        if unit is not None:
            headers["Authorization"] = f"Bearer {self.tokens[unit]}"
        return {**headers, **more}

    def post(
        self, body: Any, unit: str | None = A, key: str | None = None, **headers: str
    ) -> httpx.Response:
        """``POST /v1/events`` with ``body`` (JSON, or bytes as they are)."""
        more = {"Idempotency-Key": key or new_id(), "Content-Type": "application/json", **headers}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(
            f"{self.url}/v1/events", content=content, headers=self.headers(unit, **more), timeout=10
        )

    def state(self, code: str = A, unit: str | None = A, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.url}/v1/units/{code}/state", params=params, headers=self.headers(unit)
        )

    def subjects(self, code: str = A) -> dict[str, tuple[int, str, int]]:
        """What the hub holds of ``code``, read from its database: subject -> (seq, id, held)."""
        db = connect(self.db)
        try:
            state = unit_state(db, code, limit=5000)
        finally:
            db.close()
        return {s.subject: (s.seq, s.id, s.held) for s in state.subjects}

    def stored(self) -> int:
        """Events the hub keeps (applied or held), of every unit, and batches answered."""
        db = connect(self.db)
        try:
            events = db.conn.execute("SELECT count(*) FROM hub_events").fetchone()[0]
            batches = db.conn.execute("SELECT count(*) FROM hub_batches").fetchone()[0]
            return int(events) + int(batches)
        finally:
            db.close()


@pytest.fixture
def hub(tmp_path: Path, serve_factory: Callable[..., Serve]) -> Hub:
    return Hub(tmp_path, serve_factory)


def new_id() -> str:
    return uuid.uuid4().hex


def case(number: str, title: str = "Basement flooded", stage: str = "reported") -> dict[str, Any]:
    """A case as a township projects it (the fields the hub's read model takes)."""
    return {
        "number": number,
        "title": title,
        "category": "natural_disaster",
        "type": "flood",
        "severity": "III",
        "stage": stage,
        "active": True,
        "deadline": "2026-11-26T03:00:00Z",
        "overdue": False,
        "supervised": False,
    }


def event(
    number: str, seq: int, unit: str = A, event_id: str | None = None, **case_fields: Any
) -> dict[str, Any]:
    return {
        "id": event_id or new_id(),
        "unit": unit,
        "subject": f"case:{number}",
        "seq": seq,
        "kind": Kind.CASE_REPORTED.value if seq == 1 else Kind.CASE_STAGE.value,
        "at": "2026-11-26T02:00:00Z",
        "payload": {
            "change": {"kind": "reported", "operator": "wang.li"},
            "case": case(number, **case_fields),
        },
    }


def batch(*events: dict[str, Any], unit: str = A) -> dict[str, Any]:
    return {"version": 1, "unit": unit, "events": list(events)}


def results(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [r["result"] for r in answer.json()["results"]]


def refused(answer: httpx.Response, status: int, field: str | None = None) -> str:
    """Assert the protocol's refusal: ``status``, ``{"error", "field"}``; returns the error."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) <= {"error", "field"} and body["error"], body
    assert body.get("field") == field, body
    return str(body["error"])


def no_traceback(log: Path) -> None:
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "Exception in ASGI" not in text, text


# --- ingestion --------------------------------------------------------------------------------


@slow
def test_events_are_accepted_held_applied_and_answered_exactly_once(hub: Hub) -> None:
    first = event("2026-000001", 1)
    key = new_id()
    body = batch(first, event("2026-000002", 1, title="Gas smell"))
    answer = hub.post(body, key=key)
    assert results(answer) == ["accepted", "accepted"]
    assert answer.headers["dutydesk-protocol"] == "1"
    assert answer.json()["unit"] == A and answer.json()["version"] == 1
    assert [r["id"] for r in answer.json()["results"]] == [e["id"] for e in body["events"]]

    # The same key and body: the stored answer, not a second ingestion ("duplicate").
    again = hub.post(body, key=key)
    assert again.json() == answer.json() and again.headers["idempotency-replayed"] == "true"
    # Another key, the same events: each a duplicate, nothing changes.
    assert results(hub.post(body)) == ["duplicate", "duplicate"]
    # The key of that batch for another body: refused, and the other body is not stored.
    other = batch(event("2026-000003", 1))
    assert "different body" in refused(hub.post(other, key=key), 422, "Idempotency-Key")
    assert "case:2026-000003" not in hub.subjects()

    # Ahead of a gap: held, not applied; its predecessor arrives and both apply, in order.
    third = event("2026-000001", 3, stage="dispatched")
    assert results(hub.post(batch(third))) == ["held"]
    assert hub.subjects()["case:2026-000001"] == (1, first["id"], 1)
    second = event("2026-000001", 2, stage="registered")
    assert results(hub.post(batch(second))) == ["accepted"]
    assert hub.subjects()["case:2026-000001"] == (3, third["id"], 0)
    db = connect(hub.db)
    try:
        read = {c.number: c for c in cases(db, SystemClock().now(), unit=A)}
    finally:
        db.close()
    assert read["2026-000001"].stage == "dispatched" and read["2026-000002"].title == "Gas smell"

    # Another event at a seq already applied: conflict, with the reason; nothing changes.
    clash = hub.post(batch(event("2026-000001", 2, stage="closed")))
    assert results(clash) == ["conflict"]
    assert "case:2026-000001" in clash.json()["results"][0]["reason"]
    assert hub.subjects()["case:2026-000001"] == (3, third["id"], 0)

    # What a unit reads to resynchronise: its subjects, sorted, a page at a time.
    page = hub.state(limit=1)
    assert page.status_code == 200, page.text
    assert page.json()["subjects"] == [
        {"subject": "case:2026-000001", "seq": 3, "id": third["id"], "held": 0}
    ]
    assert page.json()["next"] == "case:2026-000001" and page.json()["version"] == 1
    rest = hub.state(after=page.json()["next"]).json()
    assert [s["subject"] for s in rest["subjects"]] == ["case:2026-000002"]
    assert rest["next"] is None and rest["last_contact_at"] is not None and rest["unit"] == A
    # One subject's events, held ones included: what a restored unit rebases on.
    assert results(hub.post(batch(event("2026-000002", 3)))) == ["held"]
    detail = hub.state(subject="case:2026-000002").json()
    assert detail["subject"] == "case:2026-000002" and detail["seq"] == 1
    assert [(e["seq"], e["state"]) for e in detail["events"]] == [(1, "applied"), (3, "held")]
    assert detail["events"][0]["id"] == body["events"][1]["id"]
    refused(hub.state(subject="case: spaced"), 400, "subject")
    no_traceback(hub.log)


@slow
def test_a_unit_writes_and_reads_only_its_own(hub: Hub) -> None:
    """403 for another unit's state and for a batch of another unit; nothing stored."""
    assert "own state" in refused(hub.state(B, unit=A), 403, "code")
    forged = batch(event("2026-000009", 1, unit=B), unit=B)
    assert "own events" in refused(hub.post(forged, unit=A), 403, "unit")
    # An envelope of A carrying an event of B is invalid whole.
    mixed = batch(event("2026-000009", 1), event("2026-000010", 1, unit=B))
    refused(hub.post(mixed, unit=A), 422, "events[1].unit")
    assert hub.stored() == 0
    assert hub.state(B, unit=B).json()["subjects"] == []


# --- refusals ---------------------------------------------------------------------------------


@slow
def test_every_refusal_is_a_clear_4xx_and_stores_nothing(hub: Hub) -> None:
    good = batch(event("2026-000001", 1))
    # 400: the body is not JSON, or nested too deeply for the parser.
    refused(hub.post(b'{"version": 1, "unit": '), 400, "body")
    assert "nested" in refused(hub.post(b"[" * 5000), 400, "body")
    # 400: the protocol header missing or of another version; the body of another version.
    no_header = hub.headers()
    del no_header["Dutydesk-Protocol"]
    answer = httpx.post(
        f"{hub.url}/v1/events", json=good, headers={**no_header, "Idempotency-Key": new_id()}
    )
    refused(answer, 400, "Dutydesk-Protocol")
    refused(hub.post(good, **{"Dutydesk-Protocol": "2"}), 400, "Dutydesk-Protocol")
    assert "version" in refused(hub.post({**good, "version": 2}), 400, "version")
    # 400: the Idempotency-Key missing or malformed.
    refused(hub.post(good, key="short"), 400, "Idempotency-Key")
    refused(hub.post(good, key="has space in it"), 400, "Idempotency-Key")
    # 401, with WWW-Authenticate: no token, an unknown one, a revoked one (said so).
    for answer in (
        hub.post(good, unit=None),
        httpx.post(f"{hub.url}/v1/events", json=good, headers={"Authorization": "Basic eDp5"}),
    ):
        refused(answer, 401, "Authorization")
        assert answer.headers["www-authenticate"] == "Bearer"
    unknown = hub.post(good, Authorization="Bearer ddh_" + "x" * 43)
    assert refused(unknown, 401, "Authorization") == "unknown token"
    db = connect(hub.db)
    try:
        revoke_unit(db, SystemClock().now(), C)
    finally:
        db.close()
    revoked = hub.post(batch(event("2026-000001", 1, unit=C), unit=C), unit=C)
    assert refused(revoked, 401, "Authorization") == "token revoked"
    assert revoked.headers["www-authenticate"] == "Bearer"
    assert refused(hub.state(C, unit=C), 401, "Authorization") == "token revoked"
    # 413: over [hub] max_body_kb (64 here), whether declared or not.
    big = json.dumps(batch(event("2026-000001", 1, title="x" * 70_000))).encode()
    refused(hub.post(big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it arrives
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = httpx.post(
        f"{hub.url}/v1/events",
        content=chunks(),
        headers=hub.headers(**{"Idempotency-Key": new_id()}),
    )
    assert "content-length" not in streamed.request.headers
    assert refused(streamed, 413) == "body too large"
    assert streamed.headers["dutydesk-protocol"] == "1"
    # 422: an unknown kind, whichever event it is in: the whole batch is refused.
    unknown_kind = {**event("2026-000001", 1), "kind": "case_teleported"}
    assert "case_teleported" in refused(hub.post(batch(unknown_kind)), 422, "events[0].kind")
    later = batch(event("2026-000001", 1), {**event("2026-000002", 1), "kind": "nope"})
    refused(hub.post(later), 422, "events[1].kind")
    refused(hub.post(batch(event("2026-000001", 0))), 422, "events[0].seq")
    refused(hub.post([good]), 422, "body")
    # 400 for the state's parameters.
    refused(hub.state(limit=0), 400, "limit")
    refused(hub.state(limit="many"), 400, "limit")
    assert hub.stored() == 0
    # The same valid batch is taken once the request is right.
    assert results(hub.post(good)) == ["accepted"]
    assert hub.stored() == 2  # the event and the answer kept under its key
    no_traceback(hub.log)


@slow
def test_a_flooding_unit_gets_429_with_retry_after_and_others_do_not(
    tmp_path: Path, serve_factory: Callable[..., Serve]
) -> None:
    """``requests_per_minute = 6``: a burst of 10 (the minimum), then one every 10 s."""
    hub = Hub(tmp_path, serve_factory, hub={"requests_per_minute": 6})
    answers = [hub.state() for _ in range(14)]
    codes = [a.status_code for a in answers]
    assert codes[:10] == [200] * 10 and set(codes[10:]) == {429}, codes
    limited = answers[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert A in refused(limited, 429)
    # A batch over the rate is refused before it is read: nothing stored.
    assert hub.post(batch(event("2026-000001", 1))).status_code == 429
    assert hub.stored() == 0
    # Another unit has its own bucket.
    assert hub.state(B, unit=B).status_code == 200


# --- the description --------------------------------------------------------------------------


@slow
def test_the_openapi_document_is_served_to_units(hub: Hub) -> None:
    answer = httpx.get(f"{hub.url}/v1/openapi.json", headers=hub.headers(B))
    assert answer.status_code == 200
    document = answer.json()
    assert document == json.loads(json.dumps(openapi()))
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/v1/events",
        "/v1/units/{code}/state",
        "/v1/units/{code}/inbox",
        "/v1/openapi.json",
    }
    # The header is optional here (a tool fetches it with the token alone); the token is not.
    token_only = {"Authorization": hub.headers(B)["Authorization"]}
    assert httpx.get(f"{hub.url}/v1/openapi.json", headers=token_only).status_code == 200
    refused(httpx.get(f"{hub.url}/v1/openapi.json"), 401, "Authorization")


def test_the_document_in_docs_is_the_codes() -> None:
    """``docs/uplink-openapi.json`` is regenerated, never edited::

    .venv/bin/python -c "import json; from uplink.openapi import openapi; print(json.dumps(
        openapi(), indent=2, ensure_ascii=False))" > docs/uplink-openapi.json
    """
    expected = json.dumps(openapi(), indent=2, ensure_ascii=False) + "\n"
    assert (ROOT / "docs" / "uplink-openapi.json").read_text(encoding="utf-8") == expected


def test_the_document_speaks_the_models_vocabulary() -> None:
    schemas = openapi()["components"]["schemas"]
    mapping = schemas["UplinkEvent"]["discriminator"]["mapping"]
    assert set(mapping) == {kind.value for kind in Kind}
    for kind, target in mapping.items():
        name = target.rsplit("/", 1)[1]
        assert kind in schemas[name]["properties"]["kind"]["enum"]
    assert schemas["EventResult"]["properties"]["result"]["enum"] == [r.value for r in Result]


async def test_a_busy_database_is_503_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's database locked past the busy timeout: the unit is told to come back, and the
    request is not counted against it (its token could not even be looked up)."""
    config = dataclasses.replace(Config(path=None), hub=HubSettings(enabled=True))
    service = HttpService(tmp_path / "hub.db", config, SystemClock(), None)

    async def busy(fn: Callable[..., Any]) -> Any:
        raise DatabaseBusy("database is locked")

    monkeypatch.setattr(service, "db_call", busy)
    app = build_app(service, owns_service=False)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.get("/v1/openapi.json", headers={"Authorization": "Bearer ddh_x"})
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.json() == {"error": "busy, try again"}
    assert not service.ledger.pending()


# --- floods -----------------------------------------------------------------------------------


@slow
def test_unauthenticated_floods_add_only_the_security_summary(hub: Hub) -> None:
    before = events_since(hub.db)[-1][0]
    statuses: dict[int, int] = {}
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        for i in range(1500):
            if i % 3 == 0:
                answer = client.post("/v1/events", content=b"{}")
            elif i % 3 == 1:
                answer = client.post(
                    "/v1/events",
                    json=batch(event("2026-000001", 1)),
                    headers={"Authorization": f"Bearer ddh_guess{i}", "Dutydesk-Protocol": "1"},
                )
            else:
                answer = client.get(
                    f"/v1/units/{A}/state", headers={"Authorization": f"Bearer nope{i}"}
                )
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    assert set(statuses) <= {401, 429} and statuses.get(401, 0) >= 60, statuses
    assert hub.stored() == 0
    hub.server.stop()  # the last summary is written on the way out
    added = events_since(hub.db, before)
    kinds = [kind for _id, kind, _data in added]
    assert set(kinds) == {"security_summary"} and len(kinds) <= 3, kinds
    counted: dict[str, int] = {}
    for _id, _kind, data in added:
        for name, n in data["kinds"].items():
            counted[name] = counted.get(name, 0) + n
    assert counted.get("bad_token") == statuses[401], (counted, statuses)
    assert sum(counted.values()) == 1500
    no_traceback(hub.log)


# --- when the routes are there ----------------------------------------------------------------


class HubFlagServe(Serve):
    """``dutydesk serve --hub``."""

    def _command(self) -> list[str]:
        return [*super()._command(), "--hub"]


@slow
def test_the_routes_are_there_only_for_a_hub(
    tmp_path: Path, serve_factory: Callable[..., Serve]
) -> None:
    db_path = tmp_path / "hub.db"
    db = connect(db_path)
    try:
        _unit, token = add_unit(db, SystemClock().now(), A, "town")
    finally:
        db.close()
    headers = {"Authorization": f"Bearer {token}", "Dutydesk-Protocol": "1"}
    port = free_port()
    config = write_config(tmp_path, port)
    plain = serve_factory(db_path, config, port).start()
    assert httpx.get(f"{plain.url}/v1/openapi.json", headers=headers).status_code == 404
    plain.stop()
    flagged = HubFlagServe(db_path, config, port, tmp_path / "flag.log")
    try:
        flagged.start()
        assert httpx.get(f"{flagged.url}/v1/openapi.json", headers=headers).status_code == 200
        assert "hub /v1" in flagged.log.read_text()
    finally:
        flagged.stop()

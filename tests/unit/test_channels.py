"""The senders: settings validation, the log file, and SMS/webhook/e-mail against real servers.

The HTTP senders talk to :class:`tests.support.gateway.Gateway` (uvicorn on 127.0.0.1) and the
e-mail sender to :class:`tests.support.smtp.SmtpServer` (aiosmtpd); timeouts and retry windows
are fractions of a second so the whole file runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import json
import socket
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from mobilization import make_token, read_token
from mobilization.acks import TokenInvalid
from mobilization.channels import (
    NOT_SENT,
    Delivery,
    EmailSender,
    LogSender,
    Outgoing,
    SmsSender,
    WebhookSender,
    build_senders,
    local_fault,
)
from mobilization.settings import (
    ChannelSettings,
    EmailSettings,
    LogSettings,
    SmsSettings,
    WebhookSettings,
    parse_channels,
)
from store.clock import FixedClock
from store.errors import InvalidInput
from store.keys import KeyRing
from tests.conftest import START
from tests.support.gateway import Gateway
from tests.support.smtp import SmtpServer

S = TypeVar("S", SmsSender, WebhookSender)
URL = "http://127.0.0.1:9/send"


def outgoing(n: int, channel: str = "sms", **fields: Any) -> list[Outgoing]:
    return [
        Outgoing(
            attempt_id=f"att-{i}",
            recipient_id=i,
            channel=channel,
            address=f"+86138{i:08d}",
            text=f"【演练】3号楼火灾，请到岗 #{i}",
            ack_code=f"{i:06d}",
            ack_url=f"https://ack.example/a/att-{i}",
            **fields,
        )
        for i in range(n)
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def running_gateway() -> Iterator[Gateway]:
    with Gateway() as running:
        yield running


@pytest.fixture
def gateway(running_gateway: Gateway) -> Gateway:
    """The module's gateway, reset: no switches on, nothing received."""
    running_gateway.reset()
    return running_gateway


@pytest.fixture
async def made() -> AsyncIterator[Callable[[S], S]]:
    """Register a sender to be closed at the end of the test: ``sms = made(SmsSender(...))``."""
    senders: list[SmsSender | WebhookSender] = []

    def register(sender: S) -> S:
        senders.append(sender)
        return sender

    yield register
    for sender in senders:
        await sender.aclose()


def sms(url: str, **settings: Any) -> SmsSender:
    return SmsSender(SmsSettings(url=url, **settings))


# --- settings -----------------------------------------------------------------------------


def test_no_channels_table_leaves_only_the_log() -> None:
    assert parse_channels(None).configured == {"log"}
    assert parse_channels({}) == ChannelSettings()


def test_a_full_channels_table_is_read() -> None:
    settings = parse_channels(
        {
            "log": {"path": "/var/log/dutydesk/messages.jsonl"},
            "sms": {
                "url": "https://sms.example/send",
                "batch": 200,
                "concurrency": 4,
                "rate": 50,
                "timeout_s": 5,
                "retry_window_s": 60,
                "token": "s3cret",
            },
            "webhook": {},
            "email": {
                "host": "smtp.example",
                "port": 587,
                "sender": "值班室 <duty@example.com>",
                "username": "duty",
                "password": "pw",
                "starttls": True,
            },
        }
    )
    assert settings.configured == {"log", "sms", "webhook", "email"}
    assert settings.log == LogSettings(Path("/var/log/dutydesk/messages.jsonl"))
    assert settings.sms == SmsSettings(
        url="https://sms.example/send",
        batch=200,
        concurrency=4,
        rate=50.0,
        timeout_s=5.0,
        retry_window_s=60.0,
        token="s3cret",
    )
    assert settings.webhook == WebhookSettings()
    assert settings.email is not None
    assert (settings.email.port, settings.email.starttls, settings.email.concurrency) == (
        587,
        True,
        2,
    )


def test_batch_zero_means_one_message_per_request() -> None:
    settings = parse_channels({"sms": {"url": "http://gw.local/send", "batch": 0}})
    assert settings.sms is not None and settings.sms.batch == 1


OK_SMS = {"url": "http://gw.local/send"}
OK_EMAIL = {"host": "smtp.local", "sender": "duty@example.com"}


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ({"fax": {}}, "channels.fax", "unknown channel"),
        ({"sms": "http://gw"}, "channels.sms", "must be a table"),
        ({"sms": {}}, "channels.sms.url", "is required"),
        ({"sms": {"url": "ftp://gw.local/x"}}, "channels.sms.url", "http"),
        ({"sms": {**OK_SMS, "batch": 1001}}, "channels.sms.batch", "from 1 to 1000"),
        ({"sms": {**OK_SMS, "batch": "10"}}, "channels.sms.batch", "from 1 to 1000"),
        ({"sms": {**OK_SMS, "batch": True}}, "channels.sms.batch", "integer"),
        ({"sms": {**OK_SMS, "colour": "red"}}, "channels.sms.colour", "unknown setting"),
        ({"sms": {**OK_SMS, "rate": -1}}, "channels.sms.rate", "per second"),
        ({"sms": {**OK_SMS, "timeout_s": 0}}, "channels.sms.timeout_s", "seconds"),
        ({"sms": {**OK_SMS, "token": "a b"}}, "channels.sms.token", "spaces"),
        ({"webhook": {"concurrency": 0}}, "channels.webhook.concurrency", "from 1 to 100"),
        ({"webhook": {"url": "http://x"}}, "channels.webhook.url", "unknown setting"),
        ({"email": {"host": "smtp.local"}}, "channels.email.sender", "is required"),
        ({"email": {**OK_EMAIL, "sender": "duty"}}, "channels.email.sender", "e-mail"),
        ({"email": {**OK_EMAIL, "port": 70000}}, "channels.email.port", "1 to 65535"),
        ({"email": {**OK_EMAIL, "username": "u"}}, "channels.email.password", "together"),
        ({"email": {**OK_EMAIL, "starttls": "yes"}}, "channels.email.starttls", "true or false"),
        ({"log": {"path": 3}}, "channels.log.path", "non-empty string"),
    ],
)
def test_a_bad_setting_names_its_dotted_key(raw: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_channels(raw)
    assert caught.value.field == field
    assert reason in caught.value.reason


async def test_build_senders_gives_the_configured_channels(tmp_path: Path) -> None:
    settings = parse_channels({"sms": OK_SMS, "email": OK_EMAIL})
    senders = build_senders(settings, log_path=tmp_path / "default.jsonl")
    assert sorted(senders) == ["email", "log", "sms"]
    assert {name: s.name for name, s in senders.items()} == {n: n for n in senders}
    log = senders["log"]
    assert isinstance(log, LogSender) and log.path == tmp_path / "default.jsonl"
    for sender in senders.values():
        await sender.aclose()


# --- log ----------------------------------------------------------------------------------


async def test_the_log_sender_appends_one_json_line_per_message(tmp_path: Path) -> None:
    path = tmp_path / "out" / "messages.jsonl"
    sender = LogSender(path, clock=FixedClock(START))
    first = await sender.send(outgoing(2, channel="log", exercise=True))
    second = await sender.send(outgoing(1, channel="log"))
    assert first == [Delivery("att-0", True), Delivery("att-1", True)]
    assert second == [Delivery("att-0", True)]
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 3
    assert lines[1] == {
        "at": "2026-11-26T02:00:00Z",
        "attempt_id": "att-1",
        "channel": "log",
        "address": "+8613800000001",
        "kind": "notify",
        "exercise": True,
        "text": "【演练】3号楼火灾，请到岗 #1",
        "ack_code": "000001",
        "ack_url": "https://ack.example/a/att-1…",  # the link's last segment, cut: see below
    }


async def test_the_log_sender_reports_a_file_it_cannot_write_as_its_own_fault(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    sender = LogSender(tmp_path / "file" / "messages.jsonl")
    [delivery] = await sender.send(outgoing(1, channel="log"))
    assert not delivery.ok and delivery.error and delivery.error.startswith("log: ")
    assert delivery.local  # our file: never charged to the recipient


async def test_the_log_keeps_no_live_ack_link_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    """Before: the log (0644) held every live ack link; whoever read it could answer for
    anyone. Now the token is cut to its first characters and the file is 0600 in a 0700 dir."""
    keys = KeyRing.ephemeral()
    token = make_token(keys.current, 7, START + timedelta(days=1))
    url = f"https://duty.example/ack/{token}"
    message = Outgoing(
        "att-7", 7, "log", "+8613800000007", f"请到岗 回复“123456 1” {url}", "notify", "123456", url
    )
    path = tmp_path / "logs" / "messages.jsonl"
    await LogSender(path, clock=FixedClock(START)).send([message])
    raw = path.read_text(encoding="utf-8")
    assert token not in raw and token[:10] not in raw
    line = json.loads(raw)
    assert line["ack_url"] == f"https://duty.example/ack/{token[:6]}…"
    assert line["text"] == f"请到岗 回复“123456 1” https://duty.example/ack/{token[:6]}…"
    with pytest.raises(TokenInvalid):  # what is left of the link answers for nobody
        read_token(keys, line["ack_url"].rsplit("/", 1)[1], START)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_a_log_left_readable_by_an_older_version_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_text("")
    path.chmod(0o644)
    await LogSender(path).send(outgoing(1, channel="log"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- sms: one message per request ----------------------------------------------------------


async def test_sms_posts_each_message_with_its_attempt_id_as_idempotency_key(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    sender = made(sms(gateway.url, token="s3cret"))
    messages = outgoing(5)
    deliveries = await sender.send(messages)
    assert deliveries == [Delivery(m.attempt_id, True) for m in messages]
    assert sorted(gateway.keys) == [m.attempt_id for m in messages]  # type: ignore[type-var]
    first = next(m for m in gateway.messages if m["id"] == "att-0")
    assert first == {
        "id": "att-0",
        "to": "+8613800000000",
        "text": "【演练】3号楼火灾，请到岗 #0",
        "kind": "notify",
        "exercise": False,
        "ack_code": "000000",
        "ack_url": "https://ack.example/a/att-0",
    }
    headers = gateway.requests[0].headers
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer s3cret"


async def test_sms_keeps_its_clients_across_sends_and_closes_them(gateway: Gateway) -> None:
    sender = sms(gateway.url, concurrency=2)
    await sender.send(outgoing(6))
    await sender.send(outgoing(6))
    await sender.aclose()
    assert len(gateway.requests) == 12
    assert len(gateway.connections) == 2


async def test_a_refused_number_fails_at_once_with_the_gateways_reason(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.fail(400, "bad number", to={"+8613800000001"})
    deliveries = await made(sms(gateway.url)).send(outgoing(3))
    assert [d.ok for d in deliveries] == [True, False, True]
    assert deliveries[1].error == "gateway: HTTP 400: bad number"
    assert gateway.keys.count("att-1") == 1  # not retried


async def test_throttling_is_waited_out_as_the_gateway_asks(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.throttle(1, retry_after=0.3)
    started = time.monotonic()
    [delivery] = await made(sms(gateway.url)).send(outgoing(1))
    assert delivery.ok
    assert time.monotonic() - started >= 0.28
    assert [r.status for r in gateway.requests] == [429, 200]
    assert gateway.keys == ["att-0", "att-0"]


async def test_server_errors_are_retried_with_backoff(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.error_5xx(2)
    started = time.monotonic()
    [delivery] = await made(sms(gateway.url)).send(outgoing(1))
    assert delivery.ok
    assert [r.status for r in gateway.requests] == [503, 503, 200]
    assert time.monotonic() - started >= 0.2 + 0.4 - 0.05  # backoff 0.2 s, then 0.4 s


async def test_a_hanging_gateway_fails_the_message_when_the_window_closes(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.hang(100, seconds=5)
    sender = made(sms(gateway.url, timeout_s=0.15, retry_window_s=0.5))
    started = time.monotonic()
    [delivery] = await sender.send(outgoing(1))
    elapsed = time.monotonic() - started
    assert not delivery.ok
    tries = len(gateway.requests)
    assert tries >= 2
    assert delivery.error == f"gateway: timed out after {tries} tries"
    assert 0.5 <= elapsed < 1.5


async def test_server_errors_past_the_window_fail_with_the_last_reason(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.error_5xx(100, status=502)
    [delivery] = await made(sms(gateway.url, retry_window_s=0.3)).send(outgoing(1))
    assert delivery == Delivery("att-0", False, "gateway: HTTP 502 after 3 tries")


async def test_a_retry_after_longer_than_the_window_is_cut_to_it(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.throttle(100, retry_after=30)
    started = time.monotonic()
    [delivery] = await made(sms(gateway.url, retry_window_s=0.3)).send(outgoing(1))
    assert time.monotonic() - started < 1.5
    assert delivery == Delivery("att-0", False, "gateway: throttled (HTTP 429) after 2 tries")


async def test_an_unreachable_gateway_fails_with_connection_errors(
    made: Callable[[SmsSender], SmsSender],
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/send"
    [delivery] = await made(sms(url, retry_window_s=0.1)).send(outgoing(1))
    assert not delivery.ok
    assert delivery.error and delivery.error.startswith("gateway: connection failed (ConnectError)")


async def test_a_retry_window_of_zero_tries_once(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.error_5xx(1)
    [delivery] = await made(sms(gateway.url, retry_window_s=0)).send(outgoing(1))
    assert delivery == Delivery("att-0", False, "gateway: HTTP 503 after 1 try")


async def test_a_resent_attempt_is_seen_once_by_a_deduplicating_gateway(
    made: Callable[[SmsSender], SmsSender],
) -> None:
    with Gateway(dedupe=True) as gateway:
        sender = made(sms(gateway.url))
        assert all(d.ok for d in await sender.send(outgoing(3)))
        assert all(d.ok for d in await sender.send(outgoing(3)))  # after a crash: same attempts
        assert (gateway.unique, gateway.duplicates, len(gateway.accepted)) == (3, 3, 3)


# --- sms: flow control ---------------------------------------------------------------------


async def test_the_rate_limit_spaces_messages_out(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    started = time.monotonic()
    deliveries = await made(sms(gateway.url, rate=20)).send(outgoing(7))
    assert all(d.ok for d in deliveries)
    assert time.monotonic() - started >= 6 / 20 - 0.02
    arrivals = [r.at for r in gateway.requests]
    assert arrivals[-1] - arrivals[0] >= 6 / 20 - 0.03


async def test_no_more_requests_are_in_flight_than_the_concurrency(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.latency = 0.05
    deliveries = await made(sms(gateway.url, concurrency=3)).send(outgoing(12))
    assert all(d.ok for d in deliveries)
    assert gateway.max_in_flight == 3
    assert len(gateway.connections) == 3


# --- sms: batches --------------------------------------------------------------------------


async def test_batches_group_messages_and_carry_a_key_of_their_ids(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    deliveries = await made(sms(gateway.url, batch=4, concurrency=1)).send(outgoing(10))
    assert all(d.ok for d in deliveries)
    requests = gateway.requests
    assert [len(r.body["messages"]) for r in requests] == [4, 4, 2]
    ids = [m["id"] for m in requests[0].body["messages"]]
    assert ids == ["att-0", "att-1", "att-2", "att-3"]
    assert (
        requests[0].headers["idempotency-key"]
        == hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()
    )
    assert requests[0].body["messages"][0]["to"] == "+8613800000000"


async def test_a_refusal_inside_a_batch_fails_only_that_message(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.fail(400, "bad number", to={"+8613800000002"})
    deliveries = await made(sms(gateway.url, batch=5)).send(outgoing(5))
    assert [d.ok for d in deliveries] == [True, True, False, True, True]
    assert deliveries[2].error == "gateway: 400: bad number"
    assert len(gateway.requests) == 1


async def test_a_message_missing_from_the_results_goes_in_a_later_batch(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.drop(1)
    deliveries = await made(sms(gateway.url, batch=5, concurrency=1)).send(outgoing(5))
    assert all(d.ok for d in deliveries)
    sizes = [len(r.body["messages"]) for r in gateway.requests]
    assert sizes == [5, 1]
    assert gateway.requests[1].body["messages"][0]["id"] == "att-0"
    assert len(gateway.accepted) == 5


async def test_a_throttled_batch_is_sent_again_whole(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    gateway.throttle(1, retry_after=0.1)
    deliveries = await made(sms(gateway.url, batch=3, concurrency=1)).send(outgoing(3))
    assert all(d.ok for d in deliveries)
    first, second = gateway.requests
    assert (first.status, second.status) == (429, 200)
    assert first.body == second.body
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


async def test_a_batch_answer_without_results_is_retried() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(200, text="OK")
        ids = [m["id"] for m in json.loads(request.content)["messages"]]
        return httpx.Response(200, json={"results": [{"id": i, "status": 200} for i in ids]})

    factory = functools.partial(httpx.AsyncClient, transport=httpx.MockTransport(answer))
    sender = SmsSender(SmsSettings(url=URL, batch=10), client_factory=factory)
    deliveries = await sender.send(outgoing(2))
    await sender.aclose()
    assert all(d.ok for d in deliveries)
    assert len(calls) == 2


# --- webhook ------------------------------------------------------------------------------


async def test_webhooks_post_the_chat_robot_shape_to_each_persons_url(
    gateway: Gateway, made: Callable[[WebhookSender], WebhookSender]
) -> None:
    messages = [
        Outgoing("att-a", 1, "webhook", f"{gateway.hook_url}/a", "请到岗", ack_url="https://k/a"),
        Outgoing("att-b", 2, "webhook", f"{gateway.hook_url}/b", "请到岗", ack_code="42"),
    ]
    sender = made(WebhookSender(WebhookSettings()))
    assert await sender.send(messages) == [Delivery("att-a", True), Delivery("att-b", True)]
    by_path = {r.path: r for r in gateway.requests}
    assert by_path["/hook/a"].body == {
        "msgtype": "text",
        "text": {"content": "请到岗\nhttps://k/a"},
        "id": "att-a",
        "ack_code": "",
        "ack_url": "https://k/a",
    }
    assert by_path["/hook/a"].headers["idempotency-key"] == "att-a"
    assert by_path["/hook/b"].body["text"] == {"content": "请到岗"}


async def test_webhooks_retry_like_the_gateway_and_refuse_bad_urls(
    gateway: Gateway, made: Callable[[WebhookSender], WebhookSender]
) -> None:
    gateway.error_5xx(1)
    messages = [
        Outgoing("att-a", 1, "webhook", gateway.hook_url, "请到岗"),
        Outgoing("att-b", 2, "webhook", "ftp://robot.example/x", "请到岗"),
    ]
    sender = made(WebhookSender(WebhookSettings(concurrency=1, retry_window_s=2)))
    ok, bad = await sender.send(messages)
    assert ok.ok
    assert [r.status for r in gateway.requests] == [503, 200]
    assert not bad.ok and bad.error and bad.error.startswith("webhook: bad URL")


async def test_a_robot_that_answers_200_with_an_errcode_refused_the_message() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/bad":
            return httpx.Response(200, json={"errcode": 93000, "errmsg": "invalid webhook url"})
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    factory = functools.partial(httpx.AsyncClient, transport=httpx.MockTransport(answer))
    sender = WebhookSender(WebhookSettings(), client_factory=factory)
    messages = [
        Outgoing("att-a", 1, "webhook", "https://robot.example/good", "x"),
        Outgoing("att-b", 2, "webhook", "https://robot.example/bad", "x"),
    ]
    deliveries = await sender.send(messages)
    await sender.aclose()
    assert deliveries == [
        Delivery("att-a", True),
        Delivery("att-b", False, "webhook: errcode 93000: invalid webhook url"),
    ]


# --- e-mail -------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def mailer(smtp: SmtpServer, **settings: Any) -> EmailSender:
    return EmailSender(
        EmailSettings(
            host=smtp.host, port=smtp.port, sender="值班室 <duty@example.com>", **settings
        )
    )


async def test_email_carries_subject_link_and_a_stable_message_id(smtp: SmtpServer) -> None:
    messages = [
        Outgoing(
            "att-1",
            1,
            "email",
            "zhang@example.com",
            "3号楼火灾，请到岗",
            ack_url="https://ack.example/a/1",
            exercise=True,
        ),
        Outgoing("att-2", 2, "email", "li@example.com", "已足额到岗，解除动员", kind="stand_down"),
    ]
    deliveries = await mailer(smtp).send(messages)
    assert deliveries == [Delivery("att-1", True), Delivery("att-2", True)]
    mails = {r.rcpt_tos: r for r in smtp.received}
    first = mails[("zhang@example.com",)]
    assert first.mail_from == "duty@example.com"
    assert first.message["Subject"] == "[演练 EXERCISE] 动员通知 Mobilization"
    assert first.message["Message-ID"] == "<att-1@dutydesk>"
    body = first.message.get_content()
    assert "3号楼火灾，请到岗" in body and "https://ack.example/a/1" in body
    assert mails[("li@example.com",)].message["Subject"] == "解除动员 Stand down"


async def test_a_refused_recipient_fails_alone(smtp: SmtpServer) -> None:
    smtp.reject.add("nobody@example.com")
    messages = [
        Outgoing(f"att-{i}", i, "email", address, "请到岗")
        for i, address in enumerate(["a@example.com", "nobody@example.com", "b@example.com"])
    ]
    deliveries = await mailer(smtp, concurrency=1).send(messages)
    assert [d.ok for d in deliveries] == [True, False, True]
    assert deliveries[1].error == "smtp: 550 5.1.1 no such user"
    assert len(smtp.received) == 2


async def test_an_unreachable_relay_fails_every_message() -> None:
    sender = EmailSender(
        EmailSettings(host="127.0.0.1", port=closed_port(), sender="duty@example.com", timeout_s=1)
    )
    deliveries = await sender.send(
        [Outgoing(f"att-{i}", i, "email", "a@example.com", "x") for i in range(2)]
    )
    assert [d.ok for d in deliveries] == [False, False]
    assert all(d.error and d.error.startswith("smtp: ") for d in deliveries)


# --- outcomes as they come, a stop, and our own faults ---------------------------------------


async def test_each_outcome_is_reported_before_the_worker_sends_again(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    """The engine's loss window: a worker waits for its outcome to be recorded before its next
    request, so what a crash can send twice is the requests in flight, not a whole chunk."""
    sender = made(sms(gateway.url, concurrency=2))
    recorded = 0
    unrecorded: list[int] = []  # requests the gateway had beyond the outcomes recorded

    async def report(deliveries: Sequence[Delivery]) -> None:
        nonlocal recorded
        unrecorded.append(gateway.count - recorded)
        await asyncio.sleep(0.02)  # a slow commit: the worker must wait for it
        unrecorded.append(gateway.count - recorded)
        recorded += len(deliveries)

    deliveries = await sender.send(outgoing(8), report)
    assert all(d.ok for d in deliveries)
    assert recorded == 8  # each outcome reported once
    assert max(unrecorded) <= 2  # never more than one request per worker


async def test_after_a_halt_nothing_new_is_sent_and_the_rest_comes_back_unsent(
    gateway: Gateway, made: Callable[[SmsSender], SmsSender]
) -> None:
    sender = made(sms(gateway.url, concurrency=1))
    halt = asyncio.Event()

    async def report(deliveries: Sequence[Delivery]) -> None:
        halt.set()  # the engine was told to stop while the first request was out

    deliveries = await sender.send(outgoing(5), report, halt)
    assert gateway.count == 1
    assert deliveries[0].ok
    assert deliveries[1:] == [
        Delivery(f"att-{i}", False, NOT_SENT, local=True) for i in range(1, 5)
    ]


def test_a_local_fault_is_found_however_deep_the_libraries_wrap_it() -> None:
    def chain(*errors: BaseException) -> BaseException:
        for outer, inner in zip(errors, errors[1:], strict=False):
            outer.__cause__ = inner
        return errors[0]

    emfile = OSError(errno.EMFILE, "Too many open files")
    wrapped = chain(httpx.ConnectError("All connection attempts failed"), OSError("All"), emfile)
    assert local_fault(wrapped) == "EMFILE"
    group = ExceptionGroup("attempts", [ConnectionRefusedError(), OSError(errno.ENFILE, "x")])
    assert local_fault(chain(OSError("All connection attempts failed"), group)) == "ENFILE"
    assert local_fault(OSError(errno.ENOSPC, "No space left on device")) == "ENOSPC"
    assert local_fault(httpx.ConnectError("refused")) is None
    assert local_fault(chain(httpx.ConnectError("x"), ConnectionRefusedError())) is None


HOG = """
import asyncio, json, os, resource, sys
from mobilization.channels import EmailSender, Outgoing, SmsSender
from mobilization.settings import EmailSettings, SmsSettings

resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
url, smtp_port = sys.argv[1], int(sys.argv[2])


async def main():
    senders = {
        "sms": SmsSender(SmsSettings(url=url, concurrency=2, timeout_s=2, retry_window_s=1)),
        "email": EmailSender(EmailSettings(host="127.0.0.1", port=smtp_port, sender="d@x.org")),
    }
    out = {}
    for name, sender in senders.items():
        messages = [Outgoing(f"{name}-{i}", i, name, f"p{i}@x.org", "x") for i in range(3)]
        hog = []
        try:  # every file descriptor this process may still open
            while True:
                hog.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        held = await sender.send(messages)
        for fd in hog:
            os.close(fd)
        again = await sender.send(messages)
        await sender.aclose()
        out[name] = {
            "held": [[d.ok, d.local, d.error] for d in held],
            "again": [[d.ok, d.local, d.error] for d in again],
        }
    print(json.dumps(out))


asyncio.run(main())
"""


def test_running_out_of_file_descriptors_is_our_fault_not_the_recipients(
    gateway: Gateway, smtp: SmtpServer
) -> None:
    """Before: with the process out of file descriptors, every send failed as "connection
    failed" and was charged to the person (nine marked unreachable). Now a sender in a process
    that really ran out says ``local``, sends nothing, and sends the same messages once the
    descriptors are back."""
    done = subprocess.run(
        [sys.executable, "-c", HOG, gateway.url, str(smtp.port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("sms", "email"):
        held = out[name]["held"]
        assert all(not ok and local and "EMFILE" in error for ok, local, error in held), held
        assert out[name]["again"] == [[True, False, None]] * 3
    assert sorted(m["id"] for m in gateway.messages) == ["sms-0", "sms-1", "sms-2"]  # once each
    assert len(smtp.received) == 3

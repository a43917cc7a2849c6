"""The limits of ``serve``'s listeners computed from the file limit, and ``/healthz``'s rules.

The end-to-end proofs (a real server, real sockets, a file limit of 256) are in
``tests/e2e/test_serve_hardening.py``; these check the arithmetic over many limits and the
parts a real client on 127.0.0.1 cannot reach (a client from another address).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from console.config import Config
from console.http.limits import (
    ACCEPT_TURNS,
    MAX_REQUESTS,
    bind,
    engine_files,
    limits_for,
    uvicorn_options,
)
from console.http.server import HEALTH_TOKEN_MIN, Surface, create_app, read_health_token
from mobilization.settings import ChannelSettings, EmailSettings, SmsSettings
from store.errors import DutydeskError, InvalidInput

SMS = ChannelSettings(sms=SmsSettings(url="http://gw.example/send", concurrency=8))


@pytest.mark.parametrize("listeners", [1, 2])
def test_the_connections_never_reach_the_file_limit(listeners: int) -> None:
    config = Config(path=None).with_sections(channels=SMS)
    reserve = engine_files(config)
    for nofile in range(reserve + 40 * listeners, 20_000, 7):
        limits = limits_for(config, listeners, nofile)
        # The cap, plus what a few turns of the accept loop can hold before closing it.
        worst = limits.max_connections + ACCEPT_TURNS * limits.backlog
        assert reserve + listeners * worst <= nofile, (nofile, limits)
        assert 4 <= limits.max_requests <= MAX_REQUESTS
        assert limits.max_connections > limits.max_requests  # a 503 before a drop


def test_at_the_usual_limits_the_defaults_hold() -> None:
    config = Config(path=None).with_sections(channels=SMS)
    assert limits_for(config, 1, 256).max_requests == MAX_REQUESTS
    assert limits_for(config, 1, 1024).backlog == 32
    both = limits_for(config, 2, 256)  # two listeners share what is left
    assert both.max_requests < MAX_REQUESTS


def test_the_channels_senders_are_kept_out_of_the_budget() -> None:
    more = ChannelSettings(
        sms=SmsSettings(url="http://gw.example/send", concurrency=100),
        email=EmailSettings(host="smtp.example", sender="duty@example", concurrency=20),
    )
    assert (
        engine_files(Config(path=None).with_sections(channels=more))
        == engine_files(Config(path=None)) + 120
    )


def test_a_file_limit_too_low_is_one_clear_error() -> None:
    with pytest.raises(DutydeskError, match=r"ulimit -n\) of 80 .* raise it to \d+"):
        limits_for(Config(path=None).with_sections(channels=SMS), 1, 80)


def test_uvicorn_gets_the_limits_and_a_protocol_carrying_them() -> None:
    limits = limits_for(Config(path=None), 1, 1024)
    options = uvicorn_options(limits)
    assert options["limit_concurrency"] == limits.max_requests
    assert options["timeout_keep_alive"] == limits.keep_alive_s
    assert options["h11_max_incomplete_event_size"] == 16 * 1024
    assert options["http"].limits is limits
    assert uvicorn_options(limits)["http"].overload is not options["http"].overload


def test_an_address_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DutydeskError, match=f"could not listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)


# --- the health token


def _token_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "health-token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_health_token_file_is_checked(tmp_path: Path) -> None:
    good = "t" * HEALTH_TOKEN_MIN
    assert read_health_token(_token_file(tmp_path, f"{good}\n")) == good
    for text, mode, why in (
        (good, 0o644, "chmod 600"),
        ("short", 0o600, "characters or more"),
        ("two words here and more", 0o600, "one word"),
        ("", 0o600, "one word"),
    ):
        with pytest.raises(InvalidInput, match=why) as caught:
            read_health_token(_token_file(tmp_path, text, mode))
        assert caught.value.field == "serve.health_token_file"
    with pytest.raises(InvalidInput, match="cannot read"):
        read_health_token(tmp_path / "missing")


def _health(app: object, client: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://dd") as http:
            return await http.get("/healthz", headers=headers)

    return asyncio.run(get())


def test_without_a_token_file_only_loopback_learns_it_is_alive(tmp_path: Path) -> None:
    app = create_app(tmp_path / "x.db", Config(path=None))
    assert _health(app, "127.0.0.1").json() == {"ok": True}
    assert _health(app, "::1").json() == {"ok": True}
    # Another address (or loopback sending a credential there is nothing to check against).
    assert _health(app, "203.0.113.7").status_code == 401
    assert _health(app, "127.0.0.1", {"Authorization": "Bearer x"}).status_code == 401


def test_with_a_token_only_its_holder_learns_the_details(tmp_path: Path) -> None:
    token = "s" * 32
    app = create_app(tmp_path / "x.db", Config(path=None), health_token=token)
    for client in ("127.0.0.1", "203.0.113.7"):
        refused = _health(app, client)
        assert refused.status_code == 401 and refused.json() == {"ok": False}
        assert refused.headers["www-authenticate"] == "Bearer"
        assert _health(app, client, {"Authorization": f"Bearer {token[:-1]}x"}).status_code == 401
        allowed = _health(app, client, {"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200 and allowed.json()["engine"] == "none"


def test_each_surface_routes_only_its_endpoints(tmp_path: Path) -> None:
    def paths(surface: Surface) -> set[str]:
        app = create_app(tmp_path / "x.db", Config(path=None), surface=surface)
        return {getattr(r, "path", "") for r in app.routes}

    assert "/inbound/sms" not in paths(Surface.PUBLIC) and "/ack/{token}" in paths(Surface.PUBLIC)
    assert "/inbound/sms" in paths(Surface.INBOUND) and "/ack/{token}" not in paths(Surface.INBOUND)
    assert {"/inbound/sms", "/ack/{token}", "/healthz"} <= paths(Surface.ALL)


def test_a_big_declared_body_gets_time_at_the_slowest_rate_and_a_small_one_does_not() -> None:
    """A field photo of 10 MB from a phone on a slow link must not be cut off at 20 s; a form
    (16 KB at most) still is; a body declared nonsensically gets the plain deadline."""
    from types import SimpleNamespace

    from console.http.limits import SMALL_BODY, GuardedH11Protocol, HttpLimits

    limits = HttpLimits()

    def seconds(length: bytes | None) -> float:
        headers = [] if length is None else [(b"content-length", length)]
        fake = SimpleNamespace(scope={"headers": headers}, limits=limits)
        return GuardedH11Protocol._body_seconds(fake)  # type: ignore[arg-type]

    assert seconds(None) == limits.body_timeout_s
    assert seconds(str(SMALL_BODY).encode()) == limits.body_timeout_s
    assert seconds(b"nonsense") == limits.body_timeout_s
    ten_mb = seconds(b"10000000")
    assert ten_mb == limits.body_timeout_s + (10_000_000 - SMALL_BODY) / limits.body_rate_bytes_s
    assert ten_mb > 300

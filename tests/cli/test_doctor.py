"""``dutydesk doctor``: each check against the real thing — a gateway and an SMTP server started
on 127.0.0.1 and stopped again, a damaged page, a stale lease, a key file others can read."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from store import lease
from store.clock import to_iso
from store.db import connect
from tests.support.gateway import Gateway
from tests.support.smtp import SmtpServer
from tests.unit.test_store import corrupt_a_page

# The coming weeks' official holidays are known whatever today is (the package covers only the
# years it was released for): this year's and next are declared. test_the_holiday_calendar_*
# pins the doctor's clock to see the warning.
THIS_YEAR = date.today().year
BASE_CONFIG = (
    'operator = "王伟"\ntimezone = "Asia/Shanghai"\n'
    f"[calendar]\nholidays = [{THIS_YEAR}-01-01, {THIS_YEAR + 1}-01-01]\n"
    f"declared_years = [{THIS_YEAR}, {THIS_YEAR + 1}]\n"
)


def configure(run, extra: str = "") -> None:
    run.config.write_text(BASE_CONFIG + extra, encoding="utf-8")


def checks(run) -> tuple[int, dict]:
    result = run("doctor", "--json")
    data = result.json()
    assert data["ok"] is (result.code == 0)
    return result.code, data["checks"]


def healthy(run, tmp_path: Path) -> None:
    """A database with a case, a signed head, a fresh backup and a live engine lease."""
    assert run("incident", "new", "--title", "路灯不亮", "--category", "facilities").code == 0
    assert run("audit", "head").code == 0
    (tmp_path / "backups").mkdir()
    assert run("backup", str(tmp_path / "backups" / "today.db")).code == 0
    db = connect(run.db)
    try:
        assert lease.acquire(db, "engine:host:1:ab", datetime.now(UTC), timedelta(minutes=5))
    finally:
        db.close()


def test_a_healthy_installation_is_all_ok(run, tmp_path: Path) -> None:
    configure(run)
    healthy(run, tmp_path)
    code, found = checks(run)
    assert code == 0, found
    assert {name: c["status"] for name, c in found.items()} == {
        "config": "ok",
        "database": "ok",
        "integrity": "ok",
        "permissions": "ok",
        "audit": "ok",
        "backup": "ok",
        "lease": "ok",
        "key_file": "ok",
        "public_url": "skip",
        "channel_sms": "skip",
        "channel_email": "skip",
        "channel_webhook": "skip",
        "uplink": "skip",
        "calendar": "ok",
    }
    assert found["lease"]["holder"] == "engine:host:1:ab" and found["lease"]["stale"] is False
    assert found["audit"]["entries"] == 1 and found["audit"]["checkpoints"] >= 1
    assert found["uplink"]["message"] == "not configured"
    text = run("doctor")
    assert text.code == 0
    lines = text.out.splitlines()
    assert len(lines) == 14 and lines[0].startswith("ok    configuration")


def test_the_doctor_never_creates_a_database(run, tmp_path: Path) -> None:
    configure(run)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, found = checks(run)
    assert code == 1
    assert found["database"]["status"] == "fail"
    assert "does not exist" in found["database"]["message"]
    assert found["integrity"]["status"] == "skip"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_configuration_error_is_its_one_line(run, tmp_path: Path) -> None:
    healthy(run, tmp_path)
    run.config.write_text('operator = "x"\n[calendar]\nhours = ["8:30-"]\n', encoding="utf-8")
    code, found = checks(run)
    assert code == 1
    assert found["config"]["status"] == "fail"
    assert "line 3" in found["config"]["message"]
    assert found["channel_sms"]["status"] == "skip"
    assert found["integrity"]["status"] == "ok"  # the database is still checked


def test_sms_gateway_up_and_down(run, tmp_path: Path) -> None:
    with Gateway() as gateway:
        configure(
            run,
            f'[serve]\npublic_url = "https://duty.example.cn"\n'
            f'[channels.sms]\nurl = "{gateway.url}"\ntoken = "s3cret"\n',
        )
        healthy(run, tmp_path)
        code, found = checks(run)
        assert found["channel_sms"]["status"] == "ok", found["channel_sms"]
        assert found["channel_sms"]["http_status"] == 405  # answers; HEAD is not a send
        assert gateway.messages == []  # nothing was sent
        assert found["public_url"]["status"] == "ok"
        assert code == 0
        url = gateway.url
    code, found = checks(run)  # the gateway is gone now
    assert code == 1
    assert found["channel_sms"]["status"] == "fail"
    assert url in found["channel_sms"]["message"]
    assert "s3cret" not in run("doctor").out


def test_smtp_relay_up_and_down(run, tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        configure(
            run,
            '[serve]\npublic_url = "https://duty.example.cn"\n'
            f'[channels.email]\nhost = "{smtp.host}"\nport = {smtp.port}\n'
            'sender = "duty@example.cn"\n',
        )
        healthy(run, tmp_path)
        code, found = checks(run)
        assert found["channel_email"]["status"] == "ok", found["channel_email"]
        assert found["channel_email"]["smtp_status"] == 250
        assert smtp.received == []
        assert code == 0
    code, found = checks(run)
    assert code == 1 and found["channel_email"]["status"] == "fail"


def test_links_through_real_channels_need_a_public_url(run, tmp_path: Path) -> None:
    """Without [serve] public_url, SMS links would point at 127.0.0.1: nobody can open them."""
    with Gateway() as gateway:
        configure(run, f'[channels.sms]\nurl = "{gateway.url}"\n[channels.webhook]\n')
        healthy(run, tmp_path)
        code, found = checks(run)
    assert code == 1
    assert found["public_url"]["status"] == "warn"
    assert "127.0.0.1" in found["public_url"]["message"]
    assert found["channel_webhook"]["status"] == "skip"


def test_a_damaged_page_fails_the_integrity_check(run, tmp_path: Path) -> None:
    configure(run)
    for i in range(30):
        assert run("incident", "new", "--title", f"路灯{i}", "--category", "facilities").code == 0
    corrupt_a_page(run.db)
    code, found = checks(run)
    assert code == 1
    assert found["integrity"]["status"] == "fail"
    assert found["integrity"]["problems"]


def test_a_stale_lease_and_an_old_backup_are_warnings(run, tmp_path: Path) -> None:
    configure(run)
    healthy(run, tmp_path)
    db = connect(run.db)
    try:
        lease.acquire(db, "engine:h:2:cd", datetime.now(UTC) - timedelta(hours=1), timedelta(1))
        db.conn.execute("DELETE FROM engine_lease")
        lease.acquire(db, "engine:h:2:cd", datetime.now(UTC) - timedelta(hours=1), timedelta(0))
        old = to_iso(datetime.now(UTC) - timedelta(hours=30))
        db.conn.execute("UPDATE meta SET value = ? WHERE key = 'last_backup_at'", (old,))
    finally:
        db.close()
    code, found = checks(run)
    assert code == 1
    assert found["lease"]["status"] == "warn" and found["lease"]["stale"] is True
    assert "engine:h:2:cd" in found["lease"]["message"]
    assert found["backup"]["status"] == "warn" and found["backup"]["age_hours"] >= 30


def test_a_key_file_others_can_read_fails(run, tmp_path: Path) -> None:
    configure(run)
    healthy(run, tmp_path)
    os.chmod(tmp_path / "cli.keys", 0o644)
    code, found = checks(run)
    assert code == 1 and found["key_file"]["status"] == "fail"
    assert "chmod 600" in found["key_file"]["message"]


def test_a_wiped_history_fails_the_audit_check(run, tmp_path: Path) -> None:
    configure(run)
    healthy(run, tmp_path)
    conn = sqlite3.connect(run.db)
    conn.executescript("DELETE FROM events; DELETE FROM audit_head; DELETE FROM audit_checkpoints;")
    conn.close()
    code, found = checks(run)
    assert code == 1 and found["audit"]["status"] == "fail"
    assert "had 1 entries" in found["audit"]["message"]


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_database_others_can_read_is_a_warning(run, tmp_path: Path, mode: int) -> None:
    configure(run)
    healthy(run, tmp_path)
    os.chmod(run.db, mode)
    code, found = checks(run)
    assert code == 1 and found["permissions"]["status"] == "warn"
    assert str(run.db) in found["permissions"]["message"]


def test_the_uplink_check_names_an_unsafe_token_file_and_a_refused_token(
    run, tmp_path: Path
) -> None:
    token = tmp_path / "uplink.token"
    token.write_text("u" * 32 + "\n", encoding="utf-8")
    token.chmod(0o644)
    configure(
        run,
        f'[uplink]\nurl = "http://127.0.0.1:9"\nunit = "330106001"\ntoken_file = "{token}"\n',
    )
    assert run("incident", "new", "--title", "路灯不亮", "--category", "facilities").code == 0
    _code, found = checks(run)
    assert found["uplink"]["status"] == "fail"
    assert "uplink.token" in found["uplink"]["message"]
    token.chmod(0o600)
    _code, found = checks(run)
    assert found["uplink"]["status"] == "ok", found["uplink"]
    assert found["uplink"]["state"] == "idle"
    # The engine recorded that the hub refused the token: the doctor says so.
    from store.db import write
    from uplink.models import LinkState
    from uplink.status import record_failure

    db = connect(run.db)
    try:
        with write(db):
            now = datetime.now(UTC)
            record_failure(db, now, LinkState.UNAUTHORIZED, "token revoked", now)
    finally:
        db.close()
    _code, found = checks(run)
    assert found["uplink"]["status"] == "fail"
    assert found["uplink"]["last_error"] == "token revoked"


@pytest.fixture
def december_2026(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor's clock stands at 2026-12-07 09:00 in Shanghai: 2027 is 25 days away."""
    import console.cli.doctor
    from store.clock import FixedClock

    at = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    monkeypatch.setattr(console.cli.doctor, "SystemClock", lambda: FixedClock(at))


def test_the_holiday_calendar_warns_of_a_year_the_package_does_not_cover(
    run, tmp_path: Path, december_2026: None
) -> None:
    """chinesecalendar 1.11 knows 2004-2026: in December 2026 the next 60 days reach 2027,
    whose deadlines would count weekdays only. A warning, not a silent natural-day count."""
    run.config.write_text('operator = "王伟"\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    healthy(run, tmp_path)
    code, found = checks(run)
    calendar = found["calendar"]
    assert code == 1 and calendar["status"] == "warn", calendar
    assert calendar["uncovered_years"] == [2027] and calendar["last_year"] == 2026
    assert calendar["source"].startswith("chinesecalendar ")
    assert "2027 not in the official holidays" in calendar["message"]
    assert "declared_years" in calendar["message"]
    line = next(x for x in run("doctor").out.splitlines() if "holiday calendar" in x)
    assert line.startswith("warn  holiday calendar: 2027")
    # The office typed in 2027's notice: the year is declared, the warning goes.
    run.config.write_text(
        'operator = "王伟"\n[calendar]\nholidays = [2027-01-01]\ndeclared_years = [2027]\n',
        encoding="utf-8",
    )
    _code, found = checks(run)
    assert found["calendar"]["status"] == "ok"
    assert "declared in [calendar]: 2027" in found["calendar"]["message"]
    # An office that turned the official calendar off is not warned about it.
    run.config.write_text('operator = "王伟"\n[calendar]\nofficial = false\n', encoding="utf-8")
    _code, found = checks(run)
    assert found["calendar"]["status"] == "skip"

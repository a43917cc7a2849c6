"""``dutydesk service`` writes, reports and removes a systemd unit for ``dutydesk serve``;
``mobilization show`` says since when no engine runs while one is active.

The unit goes to a temporary directory (``--dir``, or the system and user directories pointed
at one), and ``systemctl`` is a recorder: no test touches the machine's systemd.
"""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from console.cli import service as service_module
from console.timefmt import clock
from mobilization import Target, build_default_tree, start_mobilization
from store import lease
from store.clock import SystemClock
from store.db import connect
from tests.support.town import build_town

ZONE = ZoneInfo("Asia/Shanghai")


def unit_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(autouse=True)
def database(run) -> None:
    """The database exists before a service is installed for it."""
    assert run("init").code == 0


def test_install_status_uninstall_in_a_directory(run, tmp_path: Path) -> None:
    units = tmp_path / "units"
    done = run("service", "install", "--dir", str(units), "--run-as", "duty")
    assert done.code == 0, done.err
    unit = units / "dutydesk.service"
    lines = unit_lines(unit)
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    assert f"--db {run.db.resolve()}" in exec_start
    assert f"--config {run.config.resolve()}" in exec_start
    assert exec_start.endswith(" serve")
    for expected in (
        "Restart=on-failure",
        "KillSignal=SIGTERM",
        "User=duty",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        f"ReadWritePaths={run.db.resolve().parent}",
        "WantedBy=multi-user.target",
    ):
        assert expected in lines, expected
    assert "systemd was not told" in done.out

    again = run("service", "install", "--dir", str(units), "--run-as", "duty")
    assert again.code == 0, "the same unit again is fine"
    other = run("service", "install", "--dir", str(units), "--run-as", "other")
    assert other.code == 2 and "--force" in other.err
    assert "User=duty" in unit_lines(unit), "a refused install changes nothing"
    forced = run("service", "install", "--dir", str(units), "--run-as", "other", "--force")
    assert forced.code == 0 and "User=other" in unit_lines(unit)

    status = run("service", "status", "--dir", str(units))
    assert status.code == 0
    assert str(unit) in status.out and exec_start.partition("=")[2] in status.out
    assert "no engine running" in status.out
    facts = run("service", "status", "--dir", str(units), "--json").json()
    assert facts["installed"] is True and facts["serves_this_database"] is True
    assert facts["engine"]["running"] is False and facts["systemd"] is None

    taken = datetime.now(UTC).replace(microsecond=0)
    db = connect(run.db)
    try:
        lease.acquire(db, "engine:h:9:ab", taken, timedelta(minutes=5))
    finally:
        db.close()
    facts = run("service", "status", "--dir", str(units), "--json").json()
    assert facts["engine"] == {
        "holder": "engine:h:9:ab",
        "running": True,
        "since": taken.isoformat(),
        "stopped_at": None,
        "last_holder": None,
    }
    shown = run("service", "status", "--dir", str(units)).out
    local = taken.astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    assert f"engine: running since {local}, held by engine:h:9:ab" in shown

    gone = run("service", "uninstall", "--dir", str(units))
    assert gone.code == 0 and not unit.exists()
    assert run("service", "status", "--dir", str(units), "--json").json()["installed"] is False
    missing = run("service", "uninstall", "--dir", str(units))
    assert missing.code == 2 and "no unit at" in missing.err


def test_a_user_unit(run, tmp_path: Path) -> None:
    units = tmp_path / "user-units"
    done = run("service", "install", "--user", "--dir", str(units), "--name", "street-2")
    assert done.code == 0, done.err
    lines = unit_lines(units / "street-2.service")
    assert "WantedBy=default.target" in lines
    assert not any(line.startswith(("User=", "ProtectSystem=")) for line in lines)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--name", "bad name"), "is not a unit name"),
        (("--name", "dutydesk.service"), "is not a unit name"),
        (("--user", "--run-as", "duty"), "--run-as is for a system unit"),
        (("--run-as", "Not A User"), "is not an account name"),
    ],
)
def test_bad_input_is_refused(run, tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    units = tmp_path / "units"
    done = run("service", "install", "--dir", str(units), *args)
    assert done.code == 2 and says in done.err
    assert not units.exists() or not any(units.iterdir())


def test_no_database_no_unit(run, tmp_path: Path) -> None:
    """The service's database is made by its account, never by root installing the unit."""
    other = tmp_path / "none.db"
    units = tmp_path / "units"
    done = run("--db", str(other), "service", "install", "--dir", str(units))
    assert done.code == 2 and f"no database at {other}" in done.err
    assert not other.exists() and not units.exists()
    status = run("--db", str(other), "service", "status", "--dir", str(units), "--json")
    assert status.json()["database_exists"] is False and not other.exists()


def test_a_file_as_dir_is_refused(run, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    done = run("service", "install", "--dir", str(afile))
    assert done.code == 2 and "is not a directory" in done.err


@pytest.fixture
def systemctl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """The system and user unit directories in tmp_path, and systemctl a recorder."""
    calls: list[list[str]] = []

    def fake_run(command: list[str]) -> tuple[int, str]:
        calls.append(command)
        return (
            0,
            "active" if "is-active" in command else "enabled" if "is-enabled" in command else "",
        )

    monkeypatch.delenv("SUDO_USER", raising=False)
    monkeypatch.setattr(service_module, "SYSTEM_DIR", tmp_path / "etc-systemd")
    monkeypatch.setattr(service_module, "user_unit_dir", lambda: tmp_path / "user-systemd")
    monkeypatch.setattr(service_module, "_run", fake_run)
    monkeypatch.setattr(service_module, "_has_systemctl", lambda: True)
    return calls


def test_systemd_is_told_where_it_reads_units(run, tmp_path: Path, systemctl) -> None:
    done = run("service", "install")
    assert done.code == 0, done.err
    assert (tmp_path / "etc-systemd" / "dutydesk.service").exists()
    assert f"User={getpass.getuser()}" in unit_lines(tmp_path / "etc-systemd" / "dutydesk.service")
    assert systemctl == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "dutydesk.service"],
    ]
    facts = run("service", "status", "--json").json()
    assert facts["systemd"] == {"is-active": "active", "is-enabled": "enabled"}
    systemctl.clear()
    assert run("service", "uninstall").code == 0
    assert systemctl == [
        ["systemctl", "disable", "--now", "dutydesk.service"],
        ["systemctl", "daemon-reload"],
    ]

    systemctl.clear()
    assert run("service", "install", "--user", "--no-start").code == 0
    assert (tmp_path / "user-systemd" / "dutydesk.service").exists()
    assert systemctl == [], "--no-start leaves systemd alone"
    assert run("service", "uninstall", "--user").code == 0
    assert systemctl[0] == ["systemctl", "--user", "disable", "--now", "dutydesk.service"]


def test_mobilization_show_says_since_when_no_engine_runs(run) -> None:
    db = connect(run.db)
    try:
        now = SystemClock().now()
        build_town(db, SystemClock(), starts_on=date(2020, 1, 1))
        build_default_tree(db, SystemClock(), "tester", timeout_s=60, repeats=1)
        mob = start_mobilization(
            db, SystemClock(), "tester", targets=[Target.parse("grid:G01")], message="集结"
        )
    finally:
        db.close()
    never = run("mobilization", "show", str(mob))
    assert never.code == 0
    assert "no engine running — escalations paused" in never.err

    stopped = now - timedelta(minutes=3)
    db = connect(run.db)
    try:
        assert lease.acquire(db, "engine:h:1:ab", stopped, timedelta(seconds=6))
        lease.release(db, "engine:h:1:ab", stopped)
    finally:
        db.close()
    shown = run("mobilization", "show", str(mob))
    assert "no engine running since" in shown.err and "escalations paused" in shown.err
    assert clock(stopped, ZONE) in shown.err  # in the office's zone
    as_json = run("mobilization", "show", str(mob), "--json")
    assert "escalations paused" in as_json.err
    as_json.json()  # stdout stays JSON

    db = connect(run.db)
    try:
        assert lease.acquire(db, "engine:h:2:cd", SystemClock().now(), timedelta(minutes=5))
    finally:
        db.close()
    assert "escalations paused" not in run("mobilization", "show", str(mob)).err

"""``dutydesk keys show`` and ``keys rotate``: ids and dates only; links survive a rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from console.cli.common import State
from console.cli.keys import keys_group
from mobilization.acks import make_token, read_token
from store.db import connect
from store.keys import load_keys, read_keys


def run(db: Path, *args: str) -> str:
    config = db.with_name("config.toml")
    config.write_text("", encoding="utf-8")
    state = State(db, config, None)
    try:
        result = CliRunner().invoke(keys_group, list(args), obj=state, catch_exceptions=False)
    finally:
        state.close()
    assert result.exit_code == 0, result.output
    return result.output


def test_show_lists_ids_and_dates_never_a_secret(tmp_path: Path) -> None:
    db = tmp_path / "office.db"
    connect(db).close()
    shown = run(db, "show")
    ring = read_keys(tmp_path / "office.keys")
    assert ring.current.kid in shown and "signs" in shown
    as_json = json.loads(run(db, "show", "--json"))
    assert as_json["file"] == str(tmp_path / "office.keys")
    assert [k["id"] for k in as_json["keys"]] == [k.kid for k in ring.keys]
    for key in ring.keys:
        for text in (shown, json.dumps(as_json)):
            assert key.secret.hex() not in text and key.secret.hex()[:16] not in text


def test_rotate_adds_a_signing_key_and_old_links_keep_working(tmp_path: Path) -> None:
    db = tmp_path / "office.db"
    connect(db).close()
    created = datetime.now(UTC) - timedelta(days=3)
    old = load_keys(tmp_path / "office.keys", created)
    link = make_token(old.current, 42, datetime.now(UTC) + timedelta(hours=24))
    said = run(db, "rotate")
    ring = read_keys(tmp_path / "office.keys")
    assert len(ring.keys) == 2 and ring.current.kid != old.current.kid
    assert ring.current.kid in said and old.current.kid in said
    assert read_token(ring, link, datetime.now(UTC)) == 42  # sent before the rotation
    fresh = make_token(ring.current, 43, datetime.now(UTC) + timedelta(hours=1))
    assert read_token(ring, fresh, datetime.now(UTC)) == 43
    shown = json.loads(run(db, "show", "--json"))["keys"]
    assert [k["signing"] for k in shown] == [False, True]
    assert shown[0]["retired"] is not None and shown[1]["retired"] is None
    conn = connect(db)
    [(data,)] = conn.conn.execute("SELECT data FROM events WHERE kind = 'keys_rotated'")
    conn.close()
    assert json.loads(data) == {"new": ring.current.kid, "retired": old.current.kid}
    assert ring.current.secret.hex() not in data

"""The key file: created 0600 outside the database, refused when others can read it, rotated."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store.keys import (
    KeyFileError,
    KeyRing,
    key_path_for,
    load_keys,
    read_keys,
    rotate_keys,
    unsafe_permissions,
)

T0 = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def test_a_new_key_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "dutydesk.keys"
    ring = load_keys(path, T0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(ring.keys) == 1 and len(ring.current.secret) == 32
    assert unsafe_permissions(path) is None
    # Loading again reads the same key; it is not made anew.
    assert load_keys(path).current == ring.current


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dutydesk.keys"
    load_keys(path, T0)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_keys(path)


def test_a_line_that_is_not_a_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dutydesk.keys"
    load_keys(path, T0)
    with path.open("a") as out:
        out.write("k2 yesterday deadbeef\n")
    with pytest.raises(KeyFileError, match=r"line 4"):
        read_keys(path)


def test_rotation_keeps_the_old_key_and_says_when_it_was_retired(tmp_path: Path) -> None:
    path = tmp_path / "dutydesk.keys"
    first = load_keys(path, T0).current
    later = T0 + timedelta(days=3)
    ring = rotate_keys(path, later)
    assert [k.kid for k in ring.keys] == [first.kid, ring.current.kid]
    assert ring.get(first.kid) == first
    assert ring.retired_at(first.kid) == later
    assert ring.retired_at(ring.current.kid) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_derived_keys_differ_by_purpose_and_never_show_the_secret() -> None:
    key = KeyRing.ephemeral().current
    assert key.derive("links") != key.derive("audit")
    assert key.secret.hex() not in repr(key)


def test_a_legacy_secret_is_kept_as_a_retired_key(tmp_path: Path) -> None:
    ring = load_keys(tmp_path / "k.keys", T0, legacy=b"\1" * 32)
    assert ring.get("legacy") is not None and ring.get("legacy").secret == b"\1" * 32  # type: ignore[union-attr]
    assert ring.retired_at("legacy") == ring.current.created


def test_the_default_key_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert key_path_for(tmp_path / "duty.db") == tmp_path / "duty.keys"
    assert key_path_for(tmp_path / "duty.db", tmp_path / "x.keys") == tmp_path / "x.keys"

"""Provides the composition root's bundle: the opened database, clock, configuration, operator.

The CLI and the console build one :class:`Context` at start and hand its parts to the domain
functions; nothing else in dutydesk opens the database or reads the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from console.config import Config, load_config
from incidents.limits import Policy
from store.clock import Clock, SystemClock
from store.db import MEMORY, Database, connect
from store.keys import KeyRing
from store.paths import default_config_path, default_db_path


@dataclass
class Context:
    db: Database
    db_path: Path
    config: Config
    operator: str
    clock: Clock = field(default_factory=SystemClock)
    _keys: KeyRing | None = field(default=None, repr=False)

    @property
    def policy(self) -> Policy:
        return self.config.policy

    @property
    def keys(self) -> KeyRing:
        """The installation's key ring (created on first use; see :mod:`store.keys`)."""
        if self._keys is None:
            self._keys = keys_for(self.db, self.db_path, self.config)
        return self._keys

    def close(self) -> None:
        self.db.close()


def keys_for(db: Database, db_path: Path, config: Config) -> KeyRing:
    """The key ring of the database at ``db_path``: its key file, created 0600 on first use,
    with the signing secret an older version kept in the database moved into it."""
    from mobilization import adopt_legacy_secret

    if str(db_path) == MEMORY:
        return KeyRing.ephemeral()
    return adopt_legacy_secret(db, config.key_path(db_path))


def open_context(
    db_path: Path | None = None,
    config_path: Path | None = None,
    operator: str | None = None,
    clock: Clock | None = None,
    *,
    config_required: bool = False,
) -> Context:
    """Load the configuration, open (and migrate) the database, settle who the operator is."""
    config = load_config(config_path or default_config_path(), must_exist=config_required)
    path = db_path or default_db_path()
    db = connect(path)
    return Context(
        db=db,
        db_path=Path(path),
        config=config,
        operator=(operator or "").strip() or config.operator,
        clock=clock or SystemClock(),
    )


def uplink_unit(db: Database, config: Config) -> str | None:
    """The division code this database reports as: ``[uplink] unit``, else its top unit's code
    (the township, or the county of a county hub) when the jurisdiction has exactly one."""
    if config.uplink.unit:
        return config.uplink.unit
    from jurisdiction.models import Level
    from jurisdiction.units import list_units

    for level in Level:
        units = list_units(db, level=level)
        if units:
            return units[0].code if len(units) == 1 else None
    return None


def uplink_token(config: Config) -> str | None:
    """The unit's bearer token for the hub (``[uplink] token``, or the file ``token_file``).

    Raises:
        InvalidInput: the token file is missing, unsafe or malformed.
    """
    if config.uplink.token:
        return config.uplink.token
    if config.uplink.token_file is not None:
        from uplink.drain import read_token

        return read_token(config.uplink.token_file)
    return None

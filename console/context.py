"""Provides the composition root's bundle: the opened database, clock, configuration, operator.

The CLI and the console build one :class:`Context` at start and hand its parts to the domain
functions; nothing else in dutydesk opens the database or reads the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from console.config import Config, load_config
from incidents.limits import Policy
from store.clock import Clock, SystemClock
from store.db import MEMORY, Database, connect
from store.keys import KeyRing
from store.paths import default_config_path, default_db_path

if TYPE_CHECKING:
    from console.acting import Acting


@dataclass
class Context:
    """The opened installation and who acts at it.

    ``operator`` is the name every write is recorded under; ``acting`` says who that is (a
    person of the directory, or the configuration's operator) and why (:mod:`console.acting`).
    """

    db: Database
    db_path: Path
    config: Config
    operator: str
    clock: Clock = field(default_factory=SystemClock)
    _keys: KeyRing | None = field(default=None, repr=False)
    acting: Acting | None = None
    _leads: tuple[str, ...] | None = field(default=None, repr=False)

    @property
    def policy(self) -> Policy:
        """The configuration's policy, with the shift leads as the roster names them.

        The leads are read on first use and again by :meth:`refresh_leads` (the console does
        that in its workers, so the UI thread never reads them from the database).
        """
        if self._leads is None:
            self.refresh_leads()
        leads = self._leads or ()
        if leads == self.config.policy.shift_leads:
            return self.config.policy
        return replace(self.config.policy, shift_leads=leads)

    def refresh_leads(self) -> tuple[str, ...]:
        """Read who may approve extensions now (:func:`console.acting.shift_leads`)."""
        from console.acting import shift_leads

        self._leads = shift_leads(self.db, self.config, self.clock.now())
        return self._leads

    def act_as(self, acting: Acting) -> None:
        """From now on, what is written here is ``acting``'s."""
        self.acting = acting
        self.operator = acting.name

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
    deferred_sections: bool = False,
) -> Context:
    """Load the configuration, open (and migrate) the database, settle who is acting.

    ``deferred_sections``: the configuration's :class:`~console.config.Sections` are checked
    on first use rather than now (the console checks them right after its first frame).

    Raises:
        InvalidInput: ``operator`` (``--as``) names nobody known; the closest are listed.
    """
    from console.acting import resolve_acting

    config = load_config(
        config_path or default_config_path(),
        must_exist=config_required,
        deferred=deferred_sections,
    )
    path = db_path or default_db_path()
    db = connect(path)
    clock = clock or SystemClock()
    try:
        acting = resolve_acting(db, config, clock.now(), operator)
    except BaseException:
        db.close()
        raise
    return Context(
        db=db,
        db_path=Path(path),
        config=config,
        operator=acting.name,
        clock=clock,
        acting=acting,
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

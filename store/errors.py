"""The exception hierarchy every dutydesk package raises.

Provides one base, :class:`DutydeskError`, so the shell can turn any expected failure into one
clear line (the CLI) or a notification (the console) and never a traceback::

    DutydeskError                 every expected failure; exit code 1
    ├── InvalidInput              a value a person typed or a file held is wrong; exit code 2
    │   ├── ConfigError           the TOML configuration is malformed (file, line, key)
    │   └── ImportRejected        an imported file has bad rows (file, line, field)
    ├── InvalidTransition         the case is not in a stage that allows the step; exit code 2
    ├── NotFound                  no such case, task, ...; exit code 2
    ├── PermissionDenied          the operator may not do this (e.g. approve own extension); exit 2
    ├── SchemaTooNew              the database was written by a newer dutydesk; exit code 1
    ├── DatabaseBusy              another process held the write lock past the busy timeout
    ├── AuditBroken               the hash chain of the audit log does not verify; exit code 1
    └── UplinkRejected            the platform above refused what we sent; exit code 1
"""

from __future__ import annotations


class DutydeskError(Exception):
    """Base of every expected failure; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class InvalidInput(DutydeskError):
    """A value given by a person or read from a file is wrong.

    Args:
        message: what was wrong.
        field: the field (or option) it was given for, when there is one.
    """

    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        self.reason = message  # without the field, for reports that name the field themselves
        super().__init__(f"{field}: {message}" if field else message)


class ConfigError(InvalidInput):
    """The configuration file is malformed; the message names file, line and key."""


class ImportRejected(InvalidInput):
    """An imported file has rows that cannot be taken."""


class InvalidTransition(DutydeskError):
    """The requested step is not allowed from the case's current stage."""

    exit_code = 2


class NotFound(DutydeskError):
    """The referenced record does not exist."""

    exit_code = 2


class PermissionDenied(DutydeskError):
    """The operator is not allowed to take this step."""

    exit_code = 2


class SchemaTooNew(DutydeskError):
    """The database was written by a newer version of dutydesk."""


class DatabaseBusy(DutydeskError):
    """Another process held the database's write lock for longer than the busy timeout."""


class AuditBroken(DutydeskError):
    """The audit hash chain does not verify."""


class UplinkRejected(DutydeskError):
    """The platform above refused an event."""

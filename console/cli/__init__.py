"""The ``dutydesk`` command line: the root group in :mod:`console.cli.main`, one module a group.

``main`` runs the command line; the script's entry point (``dutydesk = "console.launch:main"``)
calls it with the garbage collector off until the command starts (:mod:`console.launch`).
Groups other than the root's own are imported when first named, so a command loads only what it
needs. Shared pieces: :mod:`console.cli.common` (the global options' state, JSON, errors),
:mod:`console.cli.tables` (every listing's table, aligned by display width) and
:mod:`console.cli.render` (cases).
"""

from console.cli.main import cli, main

__all__ = ["cli", "main"]

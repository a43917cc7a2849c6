"""``python -m console.cli``: the same as the ``dutydesk`` script."""

from console.cli.main import main

main()

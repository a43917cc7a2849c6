"""The dutydesk shell: the CLI, the Textual console and the composition root that wires them."""

"""The dutydesk shell, on top of every other package: nothing but tests and benchmarks imports it.

The composition root (:mod:`console.config`, :mod:`console.context`, :mod:`console.engine`, the
demo and time formatting) is the only place that wires store, the domains, the scheduler and the
HTTP client and server together. Its three surfaces: :mod:`console.cli` (click groups),
:mod:`console.tui` (the Textual app) and :mod:`console.http` (the endpoints of
``dutydesk serve``). The shell reads and writes through domain functions, never domain tables.
"""

"""Incidents: the case model, the closed-loop workflow with time limits, timeline, tasks, search,
the overdue sweep (督办) and the shift handover's record.

Above ``jurisdiction`` (a case is filed in a grid), beside contacts and mobilization, which it
does not import; ``uplink`` (events up) and ``reports`` sit above it. Its vocabulary — stages,
``OPEN_STAGES``, levels, the case's JSON — has its one owner in :mod:`incidents.models`.
Plain functions over a ``store.db.Database`` and an injected clock; no UI imports.
"""

"""Incidents: the case model, the closed-loop workflow with time limits, timeline, tasks, search.

Plain functions over a ``store.db.Database`` and an injected clock; no UI imports.
"""

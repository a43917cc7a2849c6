"""The uplink: status flows up to the level above, directives come down.

:mod:`uplink.models` owns the protocol's words and JSON forms; :mod:`uplink.outbox` turns the
timeline into uplink events (a cursor over the append-only ``events`` chain);
:mod:`uplink.drain` sends them to the hub in order, exactly once; :mod:`uplink.hub` is the
receiving side (units, tokens, idempotent ingestion, the read model).
"""

"""dutydesk's storage layer: the only package that opens SQLite.

Provides the connection policy and migrations (:mod:`store.db`), the hash-chained audit log
(:mod:`store.audit`), the error hierarchy (:mod:`store.errors`), clocks (:mod:`store.clock`),
Chinese-aware search segmentation (:mod:`store.textsearch`) and default paths
(:mod:`store.paths`).
"""

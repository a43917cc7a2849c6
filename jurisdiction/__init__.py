"""Jurisdiction: the unit tree township -> community/village -> grid, and the four grid rules.

Units and their validity periods (:mod:`jurisdiction.units`), boundaries and geometry
(:mod:`jurisdiction.geo`), the rules check — scale, boundary, coverage, addresses
(:mod:`jurisdiction.gridcheck`) — and dynamic adjustment, grid splits and merges with history
kept (:mod:`jurisdiction.adjust`). Just above ``store``, the only package it imports; below
contacts, incidents and mobilization. A split or merge moves the old grids' open cases and people
itself (the listed exceptions of ``tests/unit/test_table_owners.py``).
"""

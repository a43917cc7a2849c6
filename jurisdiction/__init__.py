"""Jurisdiction: the unit tree township -> community/village -> grid, and the four grid rules.

Units and their validity periods (:mod:`jurisdiction.units`), boundaries and geometry
(:mod:`jurisdiction.geo`), the rules check — scale, boundary, coverage, addresses
(:mod:`jurisdiction.gridcheck`) — and dynamic adjustment, grid splits and merges with history
kept (:mod:`jurisdiction.adjust`). Below contacts, incidents and mobilization: it imports only
``store``.
"""

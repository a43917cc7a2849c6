"""Reports: read-only views and documents over the domains, the owner of reads that cross them.

The dashboard's counts and live feed (:mod:`reports.overview`), the console's notices feed
(:mod:`reports.notices`) and the shift handover brief (:mod:`reports.handover`) read incidents,
mobilizations and the timeline together; the post-incident report, the duty log, statistics and
the drill after-action report will land here. Above every domain package it reads (incidents,
mobilization, and later drills and uplink), below the console; it never writes.
"""

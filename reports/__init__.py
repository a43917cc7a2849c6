"""Reports: read-only views and documents over the domains.

The dashboard's counts and live feed (:mod:`reports.overview`) and the console's notices feed
(:mod:`reports.notices`) read incidents, mobilizations and the timeline together; the
post-incident report, the duty log, statistics and the drill after-action report will land here.
Above every domain package it reads; it never writes.
"""

"""Helpers the test folders share, and the benchmarks reuse: a test imports them from here,
never from another folder's conftest or test module.

* :mod:`~tests.support.wait` — ``wait_for``: wait on a condition with a deadline, never a sleep;
* :mod:`~tests.support.domain` — ``START``, ``OPERATOR``, ``events_count``;
* :mod:`~tests.support.town` — the small town (codes, phones, ``person``), the ``town_db``
  fixture (a plugin of ``tests/conftest.py``) and ``big_grid_db``;
* :mod:`~tests.support.shapes` — grid shapes for the grid rules: ``box``, ``layout``;
* :mod:`~tests.support.console` — ``settle`` and ``wait_until`` for Pilot tests;
* :mod:`~tests.support.serve` — ``dutydesk serve`` as a child process, ``free_port``,
  ``write_config``;
* :mod:`~tests.support.gateway`, :mod:`~tests.support.smtp` — a real SMS gateway / chat robot
  and a real SMTP server on 127.0.0.1;
* :mod:`~tests.support.terminal` — a command in tmux, typed at and read;
* :mod:`~tests.support.faultproxy` — a real HTTP proxy on 127.0.0.1 that drops, delays,
  answers 5xx/429, hangs, cuts responses or goes down, switched at run time or by schedule;
* :mod:`~tests.support.uplink` — townships and hubs as real ``dutydesk serve`` processes,
  their activity, and ``assert_converged`` (the hub's read model equals the township's state).
"""

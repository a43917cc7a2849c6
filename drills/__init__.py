"""Drills (演练): plans, schedules and reminders, runs, evaluation and the improvement plan.

A township exercises its plans in the cycle plan → prepare → run → evaluate → improve (HSEEP's,
and the Chinese practice's): a plan names what is exercised and its measurable objectives, a
schedule says when (one occurrence or an RFC 5545 RRULE, in the office's time zone), reminders
go out before, a run exercises the plan (a call-tree drill is an exercise mobilization), the
evaluator confirms a P/S/M/U rating per objective from the run's figures, and each area for
improvement is tracked until a later run proves it fixed.

Above ``mobilization`` (runs are exercise mobilizations) and ``contacts`` (organizers,
participants, their channels); below ``reports`` (the after-action report) and the console
(the engine's scheduler, the CLI, the screens). Callers import from its modules:

* :mod:`~drills.models` — the vocabulary and records, each with its one JSON form;
* :mod:`~drills.plans` — plans and objectives: add, edit, read, the objective syntax;
* :mod:`~drills.schedules` — schedules, occurrences across DST, claims and the catch-up policy;
* :mod:`~drills.notices` — reminders, injects and stop notices through the contact channels;
* :mod:`~drills.runs` — starting, advancing, ending and stopping runs; notes and milestones;
* :mod:`~drills.evaluation` — metrics, proposed and confirmed ratings;
* :mod:`~drills.improvements` — the improvement plan's items, closed only by a retest;
* :mod:`~drills.trends` — a plan's runs side by side, people silent twice in a row;
* :mod:`~drills.ical` — the drill calendar as iCalendar.
"""

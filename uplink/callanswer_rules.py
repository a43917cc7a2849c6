"""Provides the rules of the 叫应 (call and answer): which warnings start one, whom it calls.

The ``[warning]`` table of the configuration (read by :mod:`console.config`) becomes a
:class:`WarningRules`; :mod:`uplink.callanswer` applies it. Kept apart from that module, and
importing nothing heavy, because the configuration is read by every command and by the
console's first frame.

* ``call_levels``: the CAP severities whose warnings start a 叫应 at once on receipt (default
  Severe and Extreme, i.e. orange and red);
* ``exercise_calls``: whether an alert of status ``Exercise`` starts one too (default no: a
  drill starts its 叫应 by hand or from a drill plan);
* ``roles``: the roles called in every unit of the jurisdiction the warning covers (default
  the community/village secretaries and the grid leaders);
* ``posts``: the roster posts of the township called (default the leader on duty ``LD``, or
  the shift lead ``SL`` where there is no post ``LD``, and the duty officer ``DO``);
* ``answer_minutes`` and ``repeats``: how long a person has to answer and how many times they
  are called again before the call escalates to their alternates (default 5 minutes, once);
* ``[[warning.rule]]``: per CAP event name (``event = "暴雨"``), its own ``levels``, ``roles``
  and ``posts`` (whatever a rule leaves out is the table's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_LEVELS = ("Severe", "Extreme")
DEFAULT_ROLES = ("community_secretary", "grid_leader")
LEADER_POST = "LD"  # the leader on duty (带班领导); where the roster has none, the shift lead
LEADER_FALLBACK = "SL"
DUTY_POST = "DO"
DEFAULT_POSTS = (LEADER_POST, DUTY_POST)
DEFAULT_ANSWER_MINUTES = 5
DEFAULT_REPEATS = 1
MAX_ANSWER_MINUTES = 24 * 60
MAX_REPEATS = 10


@dataclass(frozen=True)
class CallRule:
    """``[[warning.rule]]``: what one CAP event name calls; ``None`` takes the table's value."""

    event: str
    levels: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    posts: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.event}
        for name in ("levels", "roles", "posts"):
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value)
        return out


@dataclass(frozen=True)
class Applied:
    """The rule in force for one event: what starts a 叫应 and whom it calls."""

    levels: tuple[str, ...]
    roles: tuple[str, ...]
    posts: tuple[str, ...]
    rule: str | None  # the event name of the ``[[warning.rule]]`` applied; None: the defaults


def event_key(event: str) -> str:
    """An event name as rules match it: spaces and case ignored, a trailing 预警 dropped."""
    text = "".join(event.split()).lower()
    return text[: -len("预警")] if text.endswith("预警") and len(text) > 2 else text


@dataclass(frozen=True)
class WarningRules:
    """The effective ``[warning]`` configuration (see the module docstring)."""

    call_levels: tuple[str, ...] = DEFAULT_LEVELS
    exercise_calls: bool = False
    roles: tuple[str, ...] = DEFAULT_ROLES
    posts: tuple[str, ...] = DEFAULT_POSTS
    answer_minutes: int = DEFAULT_ANSWER_MINUTES
    repeats: int = DEFAULT_REPEATS
    rules: tuple[CallRule, ...] = field(default=())

    def for_event(self, event: str) -> Applied:
        """The levels, roles and posts for a warning of ``event`` (the last matching rule)."""
        key = event_key(event)
        for rule in reversed(self.rules):
            if event_key(rule.event) == key:
                return Applied(
                    levels=self.call_levels if rule.levels is None else rule.levels,
                    roles=self.roles if rule.roles is None else rule.roles,
                    posts=self.posts if rule.posts is None else rule.posts,
                    rule=rule.event,
                )
        return Applied(self.call_levels, self.roles, self.posts, None)

    def to_json(self) -> dict[str, object]:
        """As ``config show`` prints it."""
        return {
            "call_levels": list(self.call_levels),
            "exercise_calls": self.exercise_calls,
            "roles": list(self.roles),
            "posts": list(self.posts),
            "answer_minutes": self.answer_minutes,
            "repeats": self.repeats,
            "rule": [rule.to_json() for rule in self.rules],
        }


__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_POSTS",
    "DEFAULT_ROLES",
    "DUTY_POST",
    "LEADER_FALLBACK",
    "LEADER_POST",
    "Applied",
    "CallRule",
    "WarningRules",
    "event_key",
]

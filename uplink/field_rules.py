"""Provides the rules of a dispatch's delivery to the field: ``[field]`` of the configuration.

Read by :mod:`console.config` into a :class:`FieldRules`; :mod:`uplink.field` applies it and
:mod:`uplink.photos` takes its photo limits. Kept apart from :mod:`uplink.field`, and importing
nothing, because the configuration is read by every command and by the console's first frame.

* ``accept_minutes``: how long the people a case is dispatched to have to accept it (签收),
  default 30; ``urgent_accept_minutes`` for urgent and very urgent cases, default 10. Past
  half of it the call-out is repeated (a reminder), past all of it the target's alternates are
  called and the duty officer's screen shows ``field_accept_overdue``;
* ``keep_photo_location``: keep a photo's GPS position (default no: removed with the rest of
  its EXIF);
* ``photo_max_bytes``, ``photo_max_count`` (per person per dispatch), ``photo_max_pixels``;
* ``link_days``: the longest a case link lives, even while its dispatch stays open.
"""

from __future__ import annotations

from dataclasses import dataclass

URGENT_LEVELS = ("urgent", "very_urgent")


@dataclass(frozen=True)
class FieldRules:
    """``[field]``: acceptance limits, photo limits and the case links' lifetime."""

    accept_minutes: int = 30
    urgent_accept_minutes: int = 10
    keep_photo_location: bool = False
    photo_max_bytes: int = 10_000_000
    photo_max_count: int = 12
    photo_max_pixels: int = 40_000_000
    link_days: int = 7

    def accept_limit(self, urgency: str) -> int:
        """The minutes to accept a case of ``urgency`` (an ``incidents`` urgency code)."""
        return self.urgent_accept_minutes if urgency in URGENT_LEVELS else self.accept_minutes

    def to_json(self) -> dict[str, object]:
        return {
            "accept_minutes": self.accept_minutes,
            "urgent_accept_minutes": self.urgent_accept_minutes,
            "keep_photo_location": self.keep_photo_location,
            "photo_max_bytes": self.photo_max_bytes,
            "photo_max_count": self.photo_max_count,
            "photo_max_pixels": self.photo_max_pixels,
            "link_days": self.link_days,
        }

"""Provides the contacts' vocabularies: people's roles and channel kinds, and their parser.

Each is a StrEnum whose value is the stored code and whose ``label`` is the word shown in the
current language; :func:`parse_labelled` accepts the code or the official Chinese label.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, TypeVar

from store.i18n import N_, _


class Labelled(Protocol):
    """A vocabulary value with a Chinese label (roles, team kinds)."""

    @property
    def value(self) -> str: ...

    @property
    def label_zh(self) -> str: ...

    @property
    def label(self) -> str: ...


L = TypeVar("L", bound=Labelled)


def parse_labelled(cls: type[L], text: str, what: str) -> L:
    """The member of ``cls`` named by its code (``-``/``_``/space alike) or its Chinese label.

    Args:
        what: what is parsed, marked with ``N_`` (translated here).

    Raises:
        ValueError: naming ``what`` and listing every code with its Chinese label (both are
            accepted as input).
    """
    value = text.strip().lower().replace("-", "_").replace(" ", "_")
    members = list(cls)  # type: ignore[call-overload]
    for member in members:
        if value in (member.value, member.label_zh):
            return member  # type: ignore[no-any-return]
    names = ", ".join(f"{m.value.replace('_', '-')} ({m.label_zh})" for m in members)
    raise ValueError(
        _("unknown {what} {text!r}; use one of {names}").format(
            what=_(what), text=text, names=names
        )
    )


class Role(StrEnum):
    """What a person does in the jurisdiction; a person may hold several roles."""

    GRID_LEADER = "grid_leader"
    GRID_MEMBER = "grid_member"
    COMMUNITY_SECRETARY = "community_secretary"
    DUTY_OFFICER = "duty_officer"
    SHIFT_LEAD = "shift_lead"
    OFFICE_HEAD = "office_head"  # 办公室主任: signs information reports off (uplink.sitreps)
    TEAM_LEADER = "team_leader"
    TEAM_MEMBER = "team_member"
    VOLUNTEER = "volunteer"

    @property
    def label_zh(self) -> str:
        """The official Chinese name (also accepted as input, whatever the language)."""
        return ROLE_LABELS[self]

    @property
    def label(self) -> str:
        """The role's name in the current language."""
        return _(ROLE_NAMES[self])

    @classmethod
    def parse(cls, text: str) -> Role:
        """Accept the code (``grid-leader`` or ``grid_leader``) or the Chinese label (网格长)."""
        return parse_labelled(cls, text, N_("role"))


# The Chinese labels are data: accepted as input whatever the language, and the default labels
# of contact-tree nodes (stored); ROLE_NAMES is what is shown.
ROLE_LABELS = {
    Role.GRID_LEADER: "网格长",
    Role.GRID_MEMBER: "网格员",
    Role.COMMUNITY_SECRETARY: "社区书记",
    Role.DUTY_OFFICER: "值班员",
    Role.SHIFT_LEAD: "值班长",
    Role.OFFICE_HEAD: "办公室主任",
    Role.TEAM_LEADER: "队长",
    Role.TEAM_MEMBER: "队员",
    Role.VOLUNTEER: "志愿者",
}
ROLE_NAMES = {
    Role.GRID_LEADER: N_("grid leader"),
    Role.GRID_MEMBER: N_("grid member"),
    Role.COMMUNITY_SECRETARY: N_("community secretary"),
    Role.DUTY_OFFICER: N_("duty officer"),
    Role.SHIFT_LEAD: N_("shift lead"),
    Role.OFFICE_HEAD: N_("office head"),
    Role.TEAM_LEADER: N_("team leader"),
    Role.TEAM_MEMBER: N_("team member"),
    Role.VOLUNTEER: N_("volunteer"),
}


class ChannelKind(StrEnum):
    """How a person can be reached, in the order offices usually prefer them."""

    SMS = "sms"
    WEBHOOK = "webhook"
    EMAIL = "email"

"""Provides the dialog that records a person's answer to a mobilization after a phone call.

The duty officer rings someone who has not answered the message, then records what they said:
who (by the ack code the message carried, or from the list of the mobilization's people), yes
or no, and optionally in how many minutes they will arrive. The dialog only collects and
checks the answer; the screen records it with :func:`mobilization.record_answer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Label, Select

from console.tui.dialogs.form import FormDialog, error_line, form_row
from store.i18n import N_, _

MAX_ETA_MIN = 24 * 60  # what record_answer accepts


@dataclass(frozen=True)
class AnswerCandidate:
    """One person of the mobilization the answer may be for.

    Attributes:
        recipient_id: the recipient row the answer is recorded on.
        name: the person's name.
        code: the ack code their message carried (``None`` once it has been freed).
        status: how the screen shows their state now, e.g. ``"⏳ 未应答 silent"``.
    """

    recipient_id: int
    name: str
    code: str | None
    status: str


@dataclass(frozen=True)
class AnswerResult:
    """What the dialog returns: whose answer, yes or no, and the ETA in minutes if given."""

    recipient_id: int
    name: str
    yes: bool
    eta_min: int | None


def parse_eta(text: str) -> int | None:
    """Minutes until the person arrives, blank for unknown.

    Raises:
        ValueError: not a whole number of minutes between 0 and 1440 (the message says so).
    """
    value = text.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) > MAX_ETA_MIN:
        raise ValueError(_("0-{max} minutes, or blank").format(max=MAX_ETA_MIN))
    return int(value)


class AnswerDialog(FormDialog[AnswerResult]):
    """记录应答 — record who answered the phone, and what.

    Args:
        candidates: the mobilization's people, the still-silent ones first.
        selected: the recipient to start with (the highlighted silent row), if any.
        title: the dialog's title (already translated); by default "Record an answer".
    """

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "save", N_("Record")),
    ]
    DIALOG_ID = "answer-dialog"
    SAVE_BUTTON = N_("Record (enter)")
    SUBTITLE = N_("enter / ctrl+s record · esc cancel")
    ENTER_SAVES = None

    def __init__(
        self,
        candidates: Sequence[AnswerCandidate],
        *,
        selected: int | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__()
        self._candidates = {c.recipient_id: c for c in candidates}
        self._by_code = {c.code: c for c in candidates if c.code}
        first = next(iter(self._candidates), None)
        self._selected = selected if selected in self._candidates else first
        self._title = title if title is not None else _("Record an answer")

    def form_title(self) -> str:
        return self._title

    def fields(self) -> ComposeResult:
        chosen = self._candidates.get(self._selected) if self._selected is not None else None
        yield Label(
            _("After calling, record who answered and what they said."),
            classes="dialog--prompt",
            markup=False,
        )
        yield form_row(
            _("Ack code"),
            Input(
                (chosen.code or "") if chosen else "",
                placeholder=_("the code in their message"),
                id="answer-code",
                compact=True,
            ),
        )
        yield error_line("code-error")
        yield form_row(
            _("Person"),
            Select(
                [
                    (f"{c.name}  {c.code or '—'}  {c.status}", c.recipient_id)
                    for c in self._candidates.values()
                ],
                value=self._selected if self._selected is not None else Select.NULL,
                prompt=_("Choose a person"),
                id="answer-who",
                compact=True,
            ),
        )
        yield error_line("who-error")
        yield form_row(
            _("Answer"),
            Select(
                [("✔ " + _("yes, coming"), "yes"), ("✘ " + _("no, can't come"), "no")],
                value="yes",
                allow_blank=False,
                id="answer-yes",
                compact=True,
            ),
        )
        yield form_row(
            _("ETA (min)"),
            Input(placeholder=_("optional: minutes to arrive"), id="answer-eta", compact=True),
        )
        yield error_line("eta-error")

    def on_mount(self) -> None:
        self.query_one("#answer-code", Input).focus()

    # ---- choosing the person ------------------------------------------------------------------

    @on(Input.Changed, "#answer-code")
    def _code_typed(self, event: Input.Changed) -> None:
        candidate = self._by_code.get(event.value.strip())
        if candidate is not None:
            self.query_one("#answer-who", Select).value = candidate.recipient_id
            self.show_error("code-error", "", "answer-code")

    @on(Select.Changed, "#answer-who")
    def _person_chosen(self, event: Select.Changed) -> None:
        candidate = self._candidate(event.value)
        if candidate is None:
            return
        self.show_error("who-error", "", "answer-who")
        code_input = self.query_one("#answer-code", Input)
        if code_input.value.strip() != (candidate.code or ""):
            code_input.value = candidate.code or ""
        self.show_error("code-error", "", "answer-code")

    # ---- submitting ---------------------------------------------------------------------------

    def _candidate(self, value: object) -> AnswerCandidate | None:
        """The person a value of the person select stands for (none while blank)."""
        return self._candidates.get(value) if isinstance(value, int) else None

    def result(self) -> AnswerResult | None:
        """Check the code, the person and the ETA; the answer when all are fine."""
        code = self.query_one("#answer-code", Input).value.strip()
        who = self.query_one("#answer-who", Select).value
        bad: list[str] = []
        if code and code not in self._by_code:
            message = _("no one in this mobilization has code {code}").format(code=code)
            self.show_error("code-error", message, "answer-code")
            bad.append("answer-code")
        candidate = self._candidate(who)
        if candidate is None:
            self.show_error("who-error", _("choose who answered"), "answer-who")
            bad.append("answer-who")
        eta: int | None = None
        try:
            eta = parse_eta(self.query_one("#answer-eta", Input).value)
        except ValueError as exc:
            self.show_error("eta-error", str(exc), "answer-eta")
            bad.append("answer-eta")
        else:
            self.show_error("eta-error", "", "answer-eta")
        if bad or candidate is None:
            self.query_one(f"#{bad[0]}").focus()
            return None
        yes = self.query_one("#answer-yes", Select).value == "yes"
        return AnswerResult(candidate.recipient_id, candidate.name, yes, eta)

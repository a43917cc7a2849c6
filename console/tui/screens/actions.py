"""Provides the case actions both case screens share: advance, note, extend, return, void, park.

The incidents table and the detail screen act on "the selected case"; this base screen holds
the keys, asks for text where a step needs it and runs the step from :mod:`incidents.workflow`
in a write worker (:meth:`~console.tui.screens.live.LiveScreen.write`): a
:class:`~store.errors.DutydeskError` becomes a notification, a success a notice of what was
done, and every screen reads again. :func:`log_new_case` saves the new-case form the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from textual.app import SystemCommand
from textual.binding import Binding
from textual.timer import Timer

from console.tui.dialogs import ExtensionDialog, ExtensionRequest, TextDialog, YesNoDialog
from console.tui.dialogs.text import TargetDialog
from console.tui.screens.live import LiveScreen
from contacts.directory import Target
from incidents import workflow
from incidents.limits import Policy
from incidents.models import Incident
from incidents.records import NewIncident, create_incident
from store.clock import Clock
from store.db import Database
from store.i18n import N_, _

CaseStep = Callable[[Database, Clock, Policy, str, int], object]
"""A step on one case, given what every workflow step takes: ``(db, clock, policy, operator,
case id)``."""
ReasonedStep = Callable[[Database, Clock, Policy, str, int, str], object]
"""A step that takes a reason after those."""

KEYS_SETTLE_SECONDS = 0.15
# What a notification says an action did (translated where shown).
ACTION_LABELS = {
    "register": N_("registered"),
    "dispatch": N_("dispatched"),
    "handle": N_("handling"),
    "feedback": N_("feedback given"),
    "verify": N_("verified"),
    "verify_failed": N_("failed verification, back to handling"),
    "close": N_("closed"),
    "void": N_("voided"),
    "return": N_("returned"),
    "park": N_("parked"),
    "unpark": N_("unparked"),
    "note": N_("note added"),
    "extend": N_("extension requested"),
    "approve_extension": N_("extension approved"),
    "reject_extension": N_("extension rejected"),
    "assign": N_("assigned"),
    "reopen": N_("reopened"),
    "merge": N_("merged"),
    "add_task": N_("task added"),
    "complete_task": N_("task done"),
}
# The title of the dialog an action asks its text in, before the case number.
ACTION_TITLES = {
    "feedback": N_("Feedback"),
    "verify_failed": N_("Verification failed"),
    "void": N_("Void"),
    "return": N_("Return"),
    "park": N_("Park"),
    "note": N_("Note"),
    "dispatch": N_("Dispatch"),
    "assign": N_("Assign"),
    "reject_extension": N_("Reject extension"),
    "reopen": N_("Reopen"),
    "merge": N_("Merge"),
    "add_task": N_("Task"),
}

# (action, palette title, palette help), translated where shown; each screen lists the ones
# it offers.
CASE_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("advance", N_("Advance case"), N_("Take the next step of the closed loop (a)")),
    ("note", N_("Add note"), N_("Add a note to the case's timeline (o)")),
    ("extend", N_("Request extension"), N_("Ask for a later deadline, with a reason (x)")),
    ("return_case", N_("Return case"), N_("Send a case in handling back to dispatch (r)")),
    ("void", N_("Void case"), N_("Void a false report before dispatch (v)")),
    (
        "park",
        N_("Park / unpark case"),
        N_("Take a long-running case out of the queue, or back (p)"),
    ),
    (
        "dispatch_to",
        N_("Dispatch to…"),
        N_("Dispatch to a grid, team, office or person, picked by name or pinyin (s)"),
    ),
    (
        "assign",
        N_("Assign to…"),
        N_("Name who is responsible, picked by name or pinyin, stage unchanged (w)"),
    ),
    ("approve_extension", N_("Approve extension"), N_("Approve the case's pending extension")),
    ("reject_extension", N_("Reject extension"), N_("Reject the case's pending extension")),
    (
        "reopen",
        N_("Reopen case"),
        N_("Reopen a closed case, back to handling, with a reason"),
    ),
    ("merge", N_("Merge into…"), N_("Merge this duplicate report into its original case")),
)


def log_new_case(
    screen: LiveScreen, new: NewIncident | None, then: Callable[[Incident], object] | None = None
) -> None:
    """Save a case from the new-case form (``None``: the form was cancelled), in a worker, and
    say so on ``screen``: the case's number and title, or why it could not be saved.

    Args:
        then: runs on the UI thread with the case once it is saved (before the screens re-read).
    """
    if new is None:
        return
    policy = screen.desk.ctx.policy
    logged: list[Incident] = []  # filled by the worker, read once it succeeded

    def step(db: Database, clock: Clock, operator: str) -> str:
        incident = create_incident(db, clock, policy, operator, new)
        logged.append(incident)
        return f"{incident.number} {incident.title}"

    def after() -> None:
        if then is not None:
            then(logged[0])

    screen.write(step, after, title=_("Logged"), error_title=_("New case"))


def step_of(action: str, incident: Incident) -> str | None:
    """The workflow step an action key stands for on this case (``None``: always allowed)."""
    if action == "advance":
        return workflow.NEXT_STEP.get(incident.stage, "none")
    if action == "park":
        return "unpark" if incident.parked else "park"
    return {
        "extend": "extend",
        "return_case": "return",
        "void": "void",
        "dispatch_to": "dispatch",
        "assign": "edit",
        "approve_extension": "extend",
        "reject_extension": "extend",
        "reopen": "reopen",
        "merge": "merge",
    }.get(action)


class CaseScreen(LiveScreen):
    """A screen with a selected case and the keys that act on it."""

    BINDINGS = [
        Binding("a", "advance", N_("Advance")),
        Binding("o", "note", N_("Note")),
        Binding("x", "extend", N_("Extend")),
        Binding("r", "return_case", N_("Return")),
        Binding("v", "void", N_("Void")),
        Binding("p", "park", N_("Park")),
        # Not in the footer (it is full at 80 columns): the palette and the help name them.
        Binding("s", "dispatch_to", N_("Dispatch to"), show=False),
        Binding("w", "assign", N_("Assign"), show=False),
    ]
    COMMANDS_OFFERED: tuple[tuple[str, str, str], ...] = CASE_COMMANDS
    CASE_ACTIONS = frozenset(action for action, _title, _help in CASE_COMMANDS)

    def __init__(self) -> None:
        super().__init__()
        self._key_state: tuple[bool | None, ...] = ()
        self._keys_timer: Timer | None = None

    def selected_incident(self) -> Incident | None:
        """The case the keys act on; each screen says which one that is."""
        return None

    # ---- which keys apply -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Grey out the keys that do not apply to the selected case's stage."""
        if action not in self.CASE_ACTIONS:
            return True
        incident = self.selected_incident()
        if incident is None:
            return None
        step = step_of(action, incident)
        if step is None:
            return True
        return True if step in workflow.allowed_actions(incident) else None

    def update_keys(self) -> None:
        """Refresh the footer once the cursor rests, when what the keys can do has changed.

        Textual's footer recomposes on every refresh (13-45 ms measured): scrolling through
        cases of different stages would rebuild it on every row, so it waits for a pause.
        """
        if self._keys_timer is not None:
            self._keys_timer.stop()
        self._keys_timer = self.set_timer(KEYS_SETTLE_SECONDS, self._update_keys_now)

    def _update_keys_now(self) -> None:
        self._keys_timer = None
        state = tuple(
            self.check_action(action, ()) for action, _title, _help in self.COMMANDS_OFFERED
        )
        if state != self._key_state:
            self._key_state = state
            self.refresh_bindings()

    def palette_commands(self) -> Iterable[SystemCommand]:
        """The command-palette entries of this screen that apply right now."""
        for action, title, help_text in self.COMMANDS_OFFERED:
            if self.check_action(action, ()) is True:
                yield SystemCommand(_(title), _(help_text), getattr(self, f"action_{action}"))

    # ---- running a step -------------------------------------------------------------------

    def apply(self, incident: Incident, action: str, run: CaseStep, *, to: str = "") -> None:
        """Run one step on ``incident`` in a worker; notify the outcome (see ``write``).

        Args:
            to: whom the step sends the case to, in people's words (dispatch, assign).
        """
        label = _(ACTION_LABELS[action]) if action in ACTION_LABELS else action
        said = f"{incident.number}: {label}" + (f" → {to}" if to else "")
        policy = self.desk.ctx.policy

        def step(db: Database, clock: Clock, operator: str) -> str:
            run(db, clock, policy, operator, incident.id)
            return said

        self.write(step, title="", error_title=said)

    def _target(self) -> Incident | None:
        incident = self.selected_incident()
        if incident is None:
            self.notify(_("no case selected"), severity="warning")
        return incident

    def _ask(
        self,
        incident: Incident,
        action: str,
        prompt: str,
        run: Callable[[str], CaseStep],
        *,
        value: str = "",
    ) -> None:
        """Ask for one line of text, then run the step ``run(text)`` unless cancelled."""

        def answered(text: str | None) -> None:
            if text is not None:
                self.apply(incident, action, run(text))

        title = f"{_(ACTION_TITLES[action])} {incident.number}"
        self.app.push_screen(TextDialog(title, prompt, value=value), answered)

    # ---- the keys -------------------------------------------------------------------------

    def action_advance(self) -> None:
        incident = self._target()
        if incident is None:
            return
        step = workflow.NEXT_STEP.get(incident.stage)
        if step is None or incident.parked:
            if incident.parked:
                why = _("{number} is parked; unpark it first (p)")
            else:
                why = _("{number} is finished")
            self.notify(why.format(number=incident.number), severity="warning")
        elif step == "feedback":
            self._ask(
                incident,
                "feedback",
                _("What was done?"),
                lambda text: partial(workflow.feedback, result=text),
            )
        elif step == "verify":

            def verified(passed: bool | None) -> None:
                if passed:
                    self.apply(incident, "verify", partial(workflow.verify, passed=True))
                elif passed is False:
                    self._ask(
                        incident,
                        "verify_failed",
                        _("Why did it fail verification? (back to handling)"),
                        lambda text: partial(workflow.verify, passed=False, reason=text),
                    )

            question = f"{incident.number} {incident.title}\n" + _("Did the handling pass?")
            dialog = YesNoDialog(_("Verify"), question, yes=_("Passed"), no=_("Failed"))
            self.app.push_screen(dialog, verified)
        else:
            self.apply(incident, step, getattr(workflow, step))

    def action_note(self) -> None:
        incident = self._target()
        if incident is not None:
            self._ask(
                incident,
                "note",
                _("Note"),
                lambda text: (
                    lambda db, clock, _policy, operator, ref: workflow.add_note(
                        db, clock, operator, ref, text
                    )
                ),
            )

    def action_extend(self) -> None:
        incident = self._target()
        if incident is None:
            return
        ctx = self.desk.ctx

        def requested(request: ExtensionRequest | None) -> None:
            if request is not None:
                self.apply(
                    incident,
                    "extend",
                    partial(
                        workflow.request_extension,
                        reason=request.reason,
                        until=request.until,
                        max_extension=ctx.config.security.max_extension,
                    ),
                )

        dialog = ExtensionDialog(
            incident.number, incident.deadline, ctx.clock.now(), ctx.config.zone
        )
        self.app.push_screen(dialog, requested)

    def _reasoned(self, action: str, prompt: str, step: ReasonedStep) -> None:
        """Ask why, then run ``step(db, clock, policy, operator, ref, reason)``."""
        incident = self._target()
        if incident is not None:
            self._ask(
                incident,
                action,
                prompt,
                lambda text: (
                    lambda db, clock, policy, operator, ref: step(
                        db, clock, policy, operator, ref, text
                    )
                ),
            )

    def action_return_case(self) -> None:
        self._reasoned("return", _("Why return it to dispatch?"), workflow.return_case)

    def action_void(self) -> None:
        self._reasoned("void", _("Why is this report void?"), workflow.void)

    def action_park(self) -> None:
        incident = self._target()
        if incident is None:
            return
        if incident.parked:
            self.apply(incident, "unpark", workflow.unpark)
        else:
            self._reasoned("park", _("Why park this case?"), workflow.park)

    def _pick(
        self,
        incident: Incident,
        action: str,
        prompt: str,
        run: Callable[[str], CaseStep],
        *,
        value: str | None,
    ) -> None:
        """Ask for a target with the picker, then run ``run(written target)`` unless cancelled."""
        ctx = self.desk.ctx

        def answered(target: Target | None) -> None:
            if target is not None:
                self.apply(incident, action, run(target.format()), to=target.label)

        title = f"{_(ACTION_TITLES[action])} {incident.number}"
        dialog = TargetDialog(
            title, prompt, ctx.db, offices=[ctx.policy.office_name], value=value or None
        )
        self.app.push_screen(dialog, answered)

    def action_dispatch_to(self) -> None:
        incident = self._target()
        if incident is None:
            return
        self._pick(
            incident,
            "dispatch",
            _("Dispatch to a grid, team, office or person"),
            lambda target: partial(workflow.dispatch, to=target),
            value=f"grid:{incident.grid}" if incident.grid else None,
        )

    def action_assign(self) -> None:
        incident = self._target()
        if incident is None:
            return
        self._pick(
            incident,
            "assign",
            _("Responsible person, team or grid"),
            lambda who: (
                lambda db, clock, _policy, operator, ref: workflow.assign(
                    db, clock, operator, ref, who
                )
            ),
            value=incident.assignee,
        )

    def action_approve_extension(self) -> None:
        incident = self._target()
        if incident is not None:
            self.apply(incident, "approve_extension", workflow.approve_extension)

    def action_reject_extension(self) -> None:
        incident = self._target()
        if incident is None:
            return
        self._ask(
            incident,
            "reject_extension",
            _("Why reject the extension?"),
            lambda text: partial(workflow.approve_extension, reject=True, reason=text),
        )

    def action_reopen(self) -> None:
        self._reasoned("reopen", _("Why reopen this case?"), workflow.reopen)

    def action_merge(self) -> None:
        incident = self._target()
        if incident is None:
            return
        self._ask(
            incident,
            "merge",
            _("Number of the original case (e.g. 2026-000123)"),
            lambda original: partial(workflow.merge, into=original.strip()),
        )

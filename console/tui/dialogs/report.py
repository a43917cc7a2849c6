"""Provides :class:`ReportDialog`: a report's key figures, then the file, written and opened.

Opened by ``O`` on the case screen (that case's post-incident report) or by the palette's
"Reports…" on any screen (a chooser: the current case's report, the duty log of a day, the
statistics of a period, a drill run's after-action report). The document is built in a thread
worker (:mod:`reports.case`, :mod:`reports.duty_log`, :mod:`reports.stats`,
:mod:`reports.aar`), its key figures shown as soon as it is; a format key (``h`` HTML, the
default on enter, ``p`` PDF, ``w`` Word, ``m`` Markdown) renders it and writes
``<reports folder>/<name>-<YYYYMMDD-HHMM>.<ext>`` atomically in a worker, then hands the file
to the system's viewer (:attr:`DutydeskApp.open_file`). The phase being run shows under the
figures; escape closes the dialog at any time and what a worker then brings is discarded.
Errors (a bad date, a bad template, a full disk) are shown, never a traceback; nothing is half
written. Reports made here are always masked: the unmasked one is the CLI's, audited.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, LoadingIndicator, RadioButton, RadioSet, Static

from console.tui.dialogs.form import error_line, form_row
from store.db import SQLError
from store.errors import DutydeskError, InvalidInput
from store.i18n import N_, _

if TYPE_CHECKING:
    from console.tui.app import DutydeskApp
    from reports.document import Document

KINDS: tuple[tuple[str, str], ...] = (
    ("case", N_("Case report")),
    ("duty_log", N_("Duty log")),
    ("stats", N_("Statistics")),
    ("aar", N_("Drill after-action report")),
)
"""The kinds the chooser offers: (kind, label shown with ``_()``)."""
FORMAT_KEYS: tuple[tuple[str, str, str], ...] = (
    ("html", "h", "HTML"),
    ("pdf", "p", "PDF"),
    ("docx", "w", "Word"),
    ("md", "m", "Markdown"),
)
"""(format, key, name) of the formats offered, HTML first: the default on enter."""
SUFFIX = {"html": ".html", "pdf": ".pdf", "docx": ".docx", "md": ".md"}
FIELD_LABELS = {"date": N_("Date"), "from": N_("From"), "to": N_("To"), "run": N_("Drill run")}
"""How an error names the chooser's fields (shown with ``_()``)."""


@dataclass(frozen=True)
class ReportAsk:
    """What to build: the kind and what it needs (checked by the dialog)."""

    kind: str
    case_id: int | None = None
    case_number: str = ""
    day: date | None = None
    start: date | None = None
    end: date | None = None
    run_id: int | None = None

    def stem(self) -> str:
        """The file name before the time stamp (no path separators)."""
        if self.kind == "case":
            name = f"{self.case_number or self.case_id}-case"
        elif self.kind == "duty_log":
            name = f"duty-log-{self.day}"
        elif self.kind == "stats":
            name = f"stats-{self.start}-{self.end}"
        else:
            name = f"aar-run{self.run_id}" if self.run_id is not None else "aar"
        return name.replace("/", "-").replace("\\", "-")


def report_path(folder: Path, ask: ReportAsk, fmt: str, at: datetime) -> Path:
    """``<folder>/<stem>-<YYYYMMDD-HHMM>.<ext>``, ``at`` in the office's zone."""
    return folder / f"{ask.stem()}-{at:%Y%m%d-%H%M}{SUFFIX[fmt]}"


def parse_day(text: str, field: str) -> date:
    """A date typed as YYYY-MM-DD.

    Raises:
        InvalidInput: not such a date (naming ``field``).
    """
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            _("{field}: not a date (YYYY-MM-DD): {value}").format(
                field=_(FIELD_LABELS.get(field, field)), value=text
            ),
            field,
        ) from None


def figures_table(figures: tuple[tuple[str, str, str], ...]) -> Table:
    """The key figures: label, value (bold), note (dim)."""
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_column()
    for label, value, note in figures:
        table.add_row(Text(label), Text(value, style="bold"), Text(note, style="dim"))
    if not figures:
        table.add_row(Text(_("(no figures in this report)"), style="dim"), "", "")
    return table


class ReportDialog(ModalScreen[None]):
    """Build a report, show its key figures, write it in a chosen format and open it.

    Args:
        case_id: the case shown (its report is built at once unless ``chooser``; in the
            chooser it is the first kind offered).
        case_number: that case's number, for the file's name.
        chooser: offer the kinds and their inputs first (the palette's "Reports…").
    """

    CSS_PATH = "report.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("h", "write('html')", "HTML"),
        Binding("p", "write('pdf')", "PDF"),
        Binding("w", "write('docx')", "Word"),
        Binding("m", "write('md')", "Markdown"),
    ]

    def __init__(
        self, *, case_id: int | None = None, case_number: str = "", chooser: bool = False
    ) -> None:
        super().__init__()
        self.case_id = case_id
        self.case_number = case_number
        self.chooser = chooser or case_id is None
        self.doc: Document | None = None
        self.ask: ReportAsk | None = None
        self.busy = False
        self.written: Path | None = None
        # Bumped by every new job and by escape: a worker whose number is no longer current
        # brings nothing back.
        self._job = 0

    @property
    def desk(self) -> DutydeskApp:
        return cast("DutydeskApp", self.app)

    # ---- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="report-dialog", classes="dialog") as box:
            if self.chooser or not self.case_number:
                box.border_title = _("Reports")
            else:
                box.border_title = _("Report of {number}").format(number=self.case_number)
            box.border_subtitle = _("h HTML · p PDF · w Word · m Markdown · esc close")
            if self.chooser:
                yield from self._chooser()
            yield Static("", id="report-title", markup=False)
            yield Static("", id="report-figures")
            with Horizontal(id="report-progress"):
                yield LoadingIndicator(id="report-loading")
                yield Static("", id="report-phase", markup=False)
            with Horizontal(id="report-formats", classes="dialog--buttons"):
                for fmt, key, name in FORMAT_KEYS:
                    yield Button(f"{name} ({key})", id=f"report-{fmt}", disabled=True)
            yield Static("", id="report-written", markup=False)

    def _chooser(self) -> ComposeResult:
        with RadioSet(id="report-kind"):
            for kind, label in KINDS:
                if kind == "case" and self.case_id is None:
                    continue
                yield RadioButton(_(label), id=f"report-kind-{kind}")
        now = self.desk.ctx.clock.now().astimezone(self.desk.ctx.config.zone)
        today = now.date()
        yield form_row(
            _(FIELD_LABELS["date"]),
            Input(today.isoformat(), id="report-day", placeholder="YYYY-MM-DD"),
        )
        yield form_row(
            _(FIELD_LABELS["from"]),
            Input(today.replace(day=1).isoformat(), id="report-from", placeholder="YYYY-MM-DD"),
            Label(_("to"), classes="form-inline-label"),
            Input(today.isoformat(), id="report-to", placeholder="YYYY-MM-DD"),
        )
        yield form_row(
            _(FIELD_LABELS["run"]),
            Input("", id="report-run", placeholder=_("run id (empty: the latest evaluated)")),
        )
        yield error_line("report-error")
        with Horizontal(classes="dialog--buttons"):
            yield Button(_("Build (enter)"), variant="primary", id="report-build")

    def on_mount(self) -> None:
        self._show_phase("")
        if self.chooser:
            first = self.query_one("#report-kind", RadioSet).query(RadioButton).first()
            first.value = True
            self._show_inputs()
        else:
            self.start(ReportAsk("case", case_id=self.case_id, case_number=self.case_number))

    # ---- the chooser ------------------------------------------------------------------------

    def chosen_kind(self) -> str:
        pressed = self.query_one("#report-kind", RadioSet).pressed_button
        if pressed is None or pressed.id is None:
            return "case" if self.case_id is not None else "duty_log"
        return pressed.id.removeprefix("report-kind-")

    def _show_inputs(self) -> None:
        kind = self.chosen_kind()
        for input_id, kinds in (
            ("report-day", {"duty_log"}),
            ("report-from", {"stats"}),
            ("report-run", {"aar"}),
        ):
            row = self.query_one(f"#{input_id}", Input).parent
            if row is not None:
                cast("Horizontal", row).display = kind in kinds

    @on(RadioSet.Changed, "#report-kind")
    def _kind_changed(self) -> None:
        self._show_inputs()
        self._forget()
        self._show_error("")

    @on(Input.Changed)
    def _input_changed(self) -> None:
        self._forget()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_build()

    def _forget(self) -> None:
        """What was built no longer matches the choice: the formats wait for a new build."""
        if self.doc is not None or self.busy:
            self._job += 1
            self.doc = None
            self.busy = False
            self._show_phase("")
            self._show_document(None)

    def _show_error(self, message: str) -> None:
        if self.chooser:
            line = self.query_one("#report-error", Static)
            line.update(message)
            line.set_class(bool(message), "-shown")

    def asked(self) -> ReportAsk | None:
        """The choice, checked (errors shown inline, naming the field); ``None`` if wrong."""
        kind = self.chosen_kind()
        try:
            if kind == "case":
                return ReportAsk("case", case_id=self.case_id, case_number=self.case_number)
            if kind == "duty_log":
                day = parse_day(self.query_one("#report-day", Input).value, "date")
                return ReportAsk("duty_log", day=day)
            if kind == "stats":
                start = parse_day(self.query_one("#report-from", Input).value, "from")
                end = parse_day(self.query_one("#report-to", Input).value, "to")
                if end < start:
                    raise InvalidInput(
                        _("{to} {end} is before {start}").format(
                            to=_(FIELD_LABELS["to"]), end=end, start=start
                        ),
                        "to",
                    )
                return ReportAsk("stats", start=start, end=end)
            text = self.query_one("#report-run", Input).value.strip()
            if not text:
                return ReportAsk("aar")
            if not text.isdigit() or int(text) <= 0:
                raise InvalidInput(
                    _("{field}: not a run id (a whole number): {value}").format(
                        field=_(FIELD_LABELS["run"]), value=text
                    ),
                    "run",
                )
            return ReportAsk("aar", run_id=int(text))
        except InvalidInput as exc:
            self._show_error(str(exc))
            return None

    def action_build(self) -> None:
        ask = self.asked()
        if ask is not None:
            self._show_error("")
            self.start(ask)

    # ---- building ---------------------------------------------------------------------------

    def start(self, ask: ReportAsk) -> None:
        """Build ``ask``'s document in a worker; its figures show when it is built."""
        self._job += 1
        self.ask = ask
        self.doc = None
        self.busy = True
        self._show_document(None)
        phase = {
            "case": N_("reading the case"),
            "duty_log": N_("reading the day's log"),
            "stats": N_("counting the statistics"),
            "aar": N_("reading the drill run"),
        }[ask.kind]
        self._show_phase(_(phase))
        self._build(ask, self._job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report-build")
    def _build(self, ask: ReportAsk, job: int) -> None:
        app = self.desk
        try:
            with app.db_lock:
                doc = build_document(app, ask)
        except (DutydeskError, SQLError, OSError) as exc:
            app.call_from_thread(self._failed, job, str(exc))
            return
        app.call_from_thread(self._built, job, doc)

    def _built(self, job: int, doc: Document) -> None:
        if not self._current(job):
            return  # cancelled, or another choice since: discarded
        self.busy = False
        self.doc = doc
        self._show_phase("")
        self._show_document(doc)
        self.query_one("#report-html", Button).focus()

    def _failed(self, job: int, message: str) -> None:
        if not self._current(job):
            return
        self.busy = False
        self._show_phase("")
        if self.chooser:
            self._show_error(message)
        self.notify(message, title=_("Report"), severity="error", markup=False)

    def _current(self, job: int) -> bool:
        """Whether a worker's ``job`` is still wanted (not cancelled, not replaced)."""
        return job == self._job and self in self.app.screen_stack

    def _show_document(self, doc: Document | None) -> None:
        self.query_one("#report-title", Static).update(doc.title if doc is not None else "")
        figures = self.query_one("#report-figures", Static)
        figures.update(figures_table(doc.key_figures()) if doc is not None else "")
        figures.display = doc is not None
        for fmt, _key, _name in FORMAT_KEYS:
            self.query_one(f"#report-{fmt}", Button).disabled = doc is None
        self.refresh_bindings()

    def _show_phase(self, phase: str) -> None:
        self.query_one("#report-phase", Static).update(phase + "…" if phase else "")
        self.query_one("#report-progress").display = bool(phase)

    # ---- writing ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "write":
            return self.doc is not None and not self.busy
        return True

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        button = event.button.id or ""
        if button == "report-build":
            self.action_build()
        elif button.startswith("report-"):
            self.action_write(button.removeprefix("report-"))

    def action_write(self, fmt: str) -> None:
        """Render the document as ``fmt``, write it to the reports folder and open it."""
        if self.doc is None or self.ask is None or self.busy:
            return
        ctx = self.desk.ctx
        folder = ctx.config.report_folder or _default_folder()
        at = ctx.clock.now().astimezone(ctx.config.zone)
        path = report_path(folder, self.ask, fmt, at)
        name = dict((f, n) for f, _k, n in FORMAT_KEYS)[fmt]
        self._job += 1
        self.busy = True
        self.refresh_bindings()
        self._show_phase(
            _("drawing charts") if fmt != "md" else _("writing {format}").format(format=name)
        )
        self._write(self.doc, fmt, name, path, self._job)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report-write")
    def _write(self, doc: Document, fmt: str, name: str, path: Path, job: int) -> None:
        from reports.render import render, write_file

        app = self.desk
        templates = app.ctx.config.report_templates
        try:
            data = render(doc, fmt, templates=templates)
            app.call_from_thread(self._phase_of, job, _("writing {format}").format(format=name))
            path.parent.mkdir(parents=True, exist_ok=True)
            write_file(path, data)
        except (DutydeskError, OSError) as exc:
            app.call_from_thread(self._failed, job, str(exc))
            return
        opener: Callable[[Path], bool] = app.open_file
        opened = opener(path)
        app.call_from_thread(self._wrote, job, path, opened)

    def _phase_of(self, job: int, phase: str) -> None:
        if self._current(job):
            self._show_phase(phase)

    def _wrote(self, job: int, path: Path, opened: bool) -> None:
        # Said even when the dialog was closed meanwhile: the file is there.
        if opened:
            message = _("Report written and opened: {path}").format(path=path)
        else:
            message = _("Report written: {path}").format(path=path)
        self.app.notify(message, title=_("Report"), markup=False, timeout=15)
        if not self._current(job):
            return
        self.written = path
        self.busy = False
        self._show_phase("")
        self.query_one("#report-written", Static).update(message)
        self.refresh_bindings()

    def action_cancel(self) -> None:
        """Close; a worker still running brings nothing back (a file being written is still
        written whole, and said)."""
        self._job += 1
        self.dismiss(None)


def _default_folder() -> Path:
    from store.paths import reports_dir

    return reports_dir()


def build_document(app: DutydeskApp, ask: ReportAsk) -> Document:
    """``ask``'s document, masked, read from the app's database (under its lock).

    Raises:
        DutydeskError: the case, the day, the period or the run cannot be reported.
    """
    ctx = app.ctx
    now = ctx.clock.now()
    zone = ctx.config.zone
    if ask.kind == "case":
        from reports.case import build_case_report

        assert ask.case_id is not None
        return build_case_report(
            ctx.db, ask.case_id, now=now, zone=zone, masked=True, policy=ctx.policy
        )
    if ask.kind == "duty_log":
        from reports.duty_log import build_duty_log

        assert ask.day is not None
        return build_duty_log(ctx.db, ask.day, zone=zone, now=now, masked=True)
    if ask.kind == "stats":
        from reports.stats import build_stats_report, compute_stats, previous_period

        assert ask.start is not None and ask.end is not None
        stats = compute_stats(ctx.db, ask.start, ask.end, zone=zone, policy=ctx.policy)
        p_start, p_end = previous_period(ask.start, ask.end)
        previous = compute_stats(ctx.db, p_start, p_end, zone=zone, policy=ctx.policy)
        return build_stats_report(stats, previous, now=now)
    from drills import evaluation, trends
    from drills.models import RunState
    from drills.runs import list_runs
    from reports.aar import aar_document

    run_id = ask.run_id
    if run_id is None:
        runs = list_runs(ctx.db, states=[RunState.EVALUATED], limit=1)
        if not runs:
            raise InvalidInput(_("no drill run has been evaluated yet"), "run")
        run_id = runs[0].id
    ev = evaluation.evaluation(ctx.db, run_id)
    trend = trends.trend(ctx.db, ev.plan.id)
    return aar_document(ev, trend, zone, now=now)

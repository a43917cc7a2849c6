"""Provides the duty roster screen (值班表): who holds each post now, who is next, and the gaps.

One table lists, post by post, the shift running now, the next few shifts and every gap (time
nobody covers the post) in the next seven days, each with its times in the office's zone and
where it comes from (轮值 rotation or 调班 override). A gap is marked with a glyph and a word
as well as a colour. ``o`` adds an override, prefilled from the highlighted row (so a gap is
filled by highlighting it and pressing ``o``). Reads and writes run in thread workers under the
app's database lock; the screen reads again whenever the app announces a change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from console.timefmt import short
from console.tui.dialogs.override import OverrideDialog, OverrideRequest
from console.tui.screens.live import LiveScreen
from console.tui.widgets.cells import fit
from console.tui.widgets.keybar import KeyBar
from contacts.roster import Post, Shift, add_override, gaps, list_posts, shifts
from store.clock import Clock, to_iso
from store.db import Database
from store.i18n import N_, _

WINDOW = timedelta(days=7)  # gaps are looked for this far ahead
NEXT_SHIFTS = 4  # upcoming shifts shown per post besides the one running now
HOLDER_WIDTH = 28
# (key, header shown with _())
COLUMNS = (
    ("post", N_("post")),
    ("state", N_("state")),
    ("holder", N_("holder")),
    ("time", N_("from → to")),
    ("source", N_("source")),
)
# state -> (glyph, word shown with _(), style)
STATES = {
    "now": ("●", N_("on duty"), "bold green"),
    "next": ("→", N_("next shift"), "cyan"),
    "later": ("·", N_("later shift"), ""),
    "gap": ("⚠", N_("GAP"), "bold red"),
}
# where a shift comes from -> its name, shown with _()
SOURCES = {"rotation": N_("rotation"), "override": N_("override")}


@dataclass(frozen=True)
class RosterRow:
    """One line of the roster: a shift (``now``/``next``/``later``) or a ``gap``."""

    post: Post
    state: str
    starts_at: datetime
    ends_at: datetime
    shift: Shift | None = None

    @property
    def key(self) -> str:
        return f"{self.post.code}|{self.state}|{to_iso(self.starts_at)}"


@dataclass(frozen=True)
class RosterView:
    """What one read of the roster found."""

    now: datetime
    posts: list[Post]
    rows: list[RosterRow]
    gaps: int


def roster_rows(db: Database, now: datetime) -> RosterView:
    """Every post's shift now, its next :data:`NEXT_SHIFTS` shifts and its gaps in the window."""
    posts = list_posts(db)
    if not posts:
        return RosterView(now, [], [], 0)
    end = now + WINDOW
    by_post: dict[int, list[RosterRow]] = {p.id: [] for p in posts}
    upcoming: dict[int, int] = {p.id: 0 for p in posts}
    for shift in shifts(db, now, end):
        if shift.covers(now):
            state = "now"
        elif upcoming[shift.post.id] < NEXT_SHIFTS:
            state = "next" if upcoming[shift.post.id] == 0 else "later"
            upcoming[shift.post.id] += 1
        else:
            continue
        by_post[shift.post.id].append(
            RosterRow(shift.post, state, shift.starts_at, shift.ends_at, shift)
        )
    holes = gaps(db, now, end)
    for gap in holes:
        by_post[gap.post.id].append(RosterRow(gap.post, "gap", gap.starts_at, gap.ends_at))
    rows = [
        row for p in posts for row in sorted(by_post[p.id], key=lambda r: (r.starts_at, r.state))
    ]
    return RosterView(now, posts, rows, len(holes))


def state_cell(state: str) -> Text:
    glyph, word, style = STATES[state]
    return Text(f"{glyph} {_(word)}", style=style, no_wrap=True)


class RosterTable(DataTable[object]):
    """The roster: one row per shift or gap."""


class RosterScreen(LiveScreen):
    """值班表 — the duty posts, who holds them now and next, and the gaps ahead."""

    READ_TITLE = N_("Duty roster")

    CSS_PATH = "roster.tcss"
    BINDINGS = [
        Binding("o", "override", N_("Override")),
        Binding("escape", "back", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: RosterView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="roster-status")
        yield RosterTable(id="roster", cursor_type="row", zebra_stripes=True)
        yield Static(
            _(
                'No duty posts yet: add one with `dutydesk duty post-add DO "Duty officer"`,'
                " then a rotation with `dutydesk duty rotation-add`."
            ),
            id="roster-empty",
            markup=False,
        )
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = _("Duty roster")
        table = self.query_one(RosterTable)
        for key, label in COLUMNS:
            table.add_column(_(label), key=key)
        table.focus()
        self.load()

    # ---- reading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="roster-read")
    def load(self) -> None:
        """Read the posts, their shifts and gaps, then show them on the UI thread."""
        ctx = self.desk.ctx
        self.read_and_show(lambda: roster_rows(ctx.db, ctx.clock.now()), self._show)

    # ---- showing ----------------------------------------------------------------------------

    def _show(self, view: RosterView) -> None:
        if not self.is_attached:
            return
        self.view = view
        zone = self.desk.ctx.config.zone
        table = self.query_one(RosterTable)
        selected = self.selected_row()
        table.clear()
        previous: int | None = None
        for row in view.rows:
            post = Text(f"{row.post.code} {row.post.name}", no_wrap=True)
            if row.post.id == previous:
                post.stylize("dim")
            previous = row.post.id
            if row.shift is not None:
                person = row.shift.person
                holder = fit(f"{person.name} ({person.shown_key})", HOLDER_WIDTH)
                source = _(SOURCES.get(row.shift.source, row.shift.source))
            else:
                holder = Text("— " + _("nobody on duty"), style="bold red")
                source = "—"
            table.add_row(
                post,
                state_cell(row.state),
                holder,
                f"{short(row.starts_at, zone)} → {short(row.ends_at, zone)}",
                source,
                key=row.key,
            )
        if selected is not None and selected.key in table.rows:
            table.move_cursor(row=table.get_row_index(selected.key))
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(
            _("Now {time}  posts {posts}").format(time=short(view.now, zone), posts=len(view.posts))
            + "  "
        )
        if view.gaps:
            status.append(
                "⚠ " + _("Gaps in 7 days: {count}").format(count=view.gaps), style="bold red"
            )
        elif view.posts:
            status.append("✔ " + _("No gaps in 7 days"), style="green")
        self.query_one("#roster-status", Static).update(status)
        table.display = bool(view.rows)
        self.query_one("#roster-empty").display = not view.posts
        self.refresh_bindings()

    def selected_row(self) -> RosterRow | None:
        """The roster row under the cursor, if there is one."""
        table = self.query_one(RosterTable)
        if self.view is None or not table.row_count:
            return None
        row_key, _column = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next((r for r in self.view.rows if r.key == row_key.value), None)

    # ---- keys -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """An override needs a post to put someone on."""
        if action == "override":
            return self.view is not None and bool(self.view.posts) or None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_override(self) -> None:
        """调班: put someone on a post for a while, prefilled from the highlighted row."""
        if self.view is None or not self.view.posts:
            return
        row = self.selected_row()
        now = self.desk.ctx.clock.now()
        self.app.push_screen(
            OverrideDialog(
                [(p.code, p.name) for p in self.view.posts],
                now,
                self.desk.ctx.config.zone,
                post=row.post.code if row else None,
                start=max(row.starts_at, now) if row else None,
                end=row.ends_at if row else None,
            ),
            self._override_chosen,
        )

    def _override_chosen(self, request: OverrideRequest | None) -> None:
        if request is None:
            return

        def step(db: Database, clock: Clock, operator: str) -> str:
            item = add_override(
                db,
                clock,
                operator,
                request.post,
                request.person,
                request.starts_at,
                request.ends_at,
                request.reason,
            )
            zone = self.desk.ctx.config.zone
            return _("Override #{id}: {person} holds {post} {start} → {end}").format(
                id=item.id,
                person=item.person.name,
                post=item.post.code,
                start=short(item.starts_at, zone),
                end=short(item.ends_at, zone),
            )

        self.write(step)

    # ---- writing ----------------------------------------------------------------------------

    def written(
        self, done: str, after: Callable[[], object] | None = None, title: str | None = None
    ) -> None:
        super().written(done, after, title)
        self.desk.show_on_duty()  # the header's "on duty" names the new holder at once

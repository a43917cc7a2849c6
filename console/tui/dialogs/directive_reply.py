"""Provides :class:`DirectiveReplyDialog`: the reply (反馈) to a directive from the level above.

The dialog shows the directive's title and text above a text area for the reply; saving
checks the reply (not empty, no control characters, within a note's length: the error is
under the field, naming it) and dismisses with its text. The inbox records it in a worker
(:func:`uplink.directives.reply`), where it is checked again and goes up the chain.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Static, TextArea

from console.tui.dialogs.form import FormDialog, error_line
from store.errors import InvalidInput
from store.i18n import N_, _
from store.text import clean_text


class DirectiveReplyDialog(FormDialog[str]):
    """Reply to a directive; dismisses with the reply's text, or ``None`` on escape.

    Args:
        title: the directive's title (the box's title).
        text: the directive's text, shown above the reply for reference.
    """

    DIALOG_ID = "directive-reply-dialog"
    CSS_PATH = "directive_reply.tcss"
    SAVE_BUTTON = N_("Reply (ctrl+s)")
    SUBTITLE = N_("ctrl+s reply · esc cancel")

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._title = title
        self._text = text

    def form_title(self) -> str:
        return _("Reply · {title}").format(title=self._title)

    def fields(self) -> ComposeResult:
        with VerticalScroll(id="directive-reply-text"):
            yield Static(self._text, markup=False)
        yield Label(_("Your reply"), classes="form-label")
        yield TextArea(id="directive-reply", compact=True)
        yield error_line("directive-reply-error")

    def on_mount(self) -> None:
        self.query_one("#directive-reply", TextArea).focus()

    def result(self) -> str | None:
        raw = self.query_one("#directive-reply", TextArea).text
        try:
            text = clean_text(raw, "reply", kind="note", multiline=True, required=True)
        except InvalidInput as exc:
            reason = _("{field}: {reason}").format(field=_("Reply"), reason=exc.reason)
            self.show_error("directive-reply-error", reason, "directive-reply")
            self.query_one("#directive-reply", TextArea).focus()
            return None
        self.show_error("directive-reply-error", "", "directive-reply")
        return text

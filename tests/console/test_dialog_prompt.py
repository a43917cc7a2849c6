"""A dialog's question wraps inside the dialog: a long one was cut off at the border."""

from __future__ import annotations

from textual.app import App
from textual.widgets import Label

from console.tui.dialogs.yes_no import YesNoDialog

QUESTION = (
    "现在报送 2026-000241 的 续报一（签发人 陈队长）？报送后不可修改：更正须另发续报。"
    " A sent report is never changed: a correction is a new follow-up."
)


class _Host(App[None]):
    CSS_PATH = "../../console/tui/app.tcss"


async def test_a_long_question_wraps_inside_the_dialog() -> None:
    app = _Host()
    async with app.run_test(size=(100, 30)) as pilot:
        app.push_screen(YesNoDialog("报送", QUESTION))
        await pilot.pause()
        prompt = app.screen.query_one(".dialog--prompt", Label)
        box = app.screen.query_one("#yes-no-dialog")
        assert prompt.region.right <= box.content_region.right
        assert prompt.region.height >= 3  # the whole question, over several lines
        shown = "".join(
            strip.text for strip in prompt.render_lines(prompt.region.reset_offset)
        ).replace(" ", "")
        assert "更正须另发续报" in shown and "follow-up" in shown

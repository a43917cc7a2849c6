"""Modal dialogs of the console; each returns a typed result through ``dismiss``.

The forms share :class:`~console.tui.dialogs.form.FormDialog` (field rows, error lines, save
and cancel); :class:`YesNoDialog` is a question.
"""

from console.tui.dialogs.answer import AnswerCandidate, AnswerDialog, AnswerResult
from console.tui.dialogs.extension import ExtensionDialog, ExtensionRequest
from console.tui.dialogs.form import FormDialog
from console.tui.dialogs.mobilize import MobilizeDialog, MobilizeRequest
from console.tui.dialogs.new_incident import NewIncidentDialog
from console.tui.dialogs.override import OverrideDialog, OverrideRequest
from console.tui.dialogs.text import TextDialog
from console.tui.dialogs.yes_no import YesNoDialog

__all__ = [
    "AnswerCandidate",
    "AnswerDialog",
    "AnswerResult",
    "ExtensionDialog",
    "ExtensionRequest",
    "FormDialog",
    "MobilizeDialog",
    "MobilizeRequest",
    "NewIncidentDialog",
    "OverrideDialog",
    "OverrideRequest",
    "TextDialog",
    "YesNoDialog",
]

"""Modal dialogs of the console; each returns a typed result through ``dismiss``."""

from console.dialogs.answer import AnswerCandidate, AnswerDialog, AnswerResult
from console.dialogs.extension import ExtensionDialog, ExtensionRequest
from console.dialogs.mobilize import MobilizeDialog, MobilizeRequest
from console.dialogs.new_incident import NewIncidentDialog
from console.dialogs.override import OverrideDialog, OverrideRequest
from console.dialogs.text import TextDialog
from console.dialogs.yes_no import YesNoDialog

__all__ = [
    "AnswerCandidate",
    "AnswerDialog",
    "AnswerResult",
    "ExtensionDialog",
    "ExtensionRequest",
    "MobilizeDialog",
    "MobilizeRequest",
    "NewIncidentDialog",
    "OverrideDialog",
    "OverrideRequest",
    "TextDialog",
    "YesNoDialog",
]

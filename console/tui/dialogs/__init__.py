"""Modal dialogs of the console; each returns a typed result through ``dismiss``.

The forms share :class:`~console.tui.dialogs.form.FormDialog` (field rows, error lines, save
and cancel); :class:`YesNoDialog` is a question. A dialog's module is imported when the dialog
is first named, not with the package: the console's first frame opens none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.tui.dialogs.answer import AnswerCandidate, AnswerDialog, AnswerResult
    from console.tui.dialogs.case_reporting import (
        PhoneReport,
        PhoneReportDialog,
        ReceivedCorrection,
        ReceivedDialog,
    )
    from console.tui.dialogs.directive_reply import DirectiveReplyDialog
    from console.tui.dialogs.evaluate import EvaluateDialog, EvaluationSaved
    from console.tui.dialogs.extension import ExtensionDialog, ExtensionRequest
    from console.tui.dialogs.form import FormDialog
    from console.tui.dialogs.mobilize import MobilizeDialog, MobilizeRequest
    from console.tui.dialogs.new_incident import NewIncidentDialog
    from console.tui.dialogs.override import OverrideDialog, OverrideRequest
    from console.tui.dialogs.sitrep import SitrepDialog, SitrepEdit
    from console.tui.dialogs.start_drill import StartDrillDialog
    from console.tui.dialogs.text import TextDialog
    from console.tui.dialogs.yes_no import YesNoDialog

# name -> the module that defines it
_HOMES = {
    "AnswerCandidate": "answer",
    "AnswerDialog": "answer",
    "AnswerResult": "answer",
    "DirectiveReplyDialog": "directive_reply",
    "EvaluateDialog": "evaluate",
    "EvaluationSaved": "evaluate",
    "ExtensionDialog": "extension",
    "ExtensionRequest": "extension",
    "FormDialog": "form",
    "MobilizeDialog": "mobilize",
    "MobilizeRequest": "mobilize",
    "NewIncidentDialog": "new_incident",
    "OverrideDialog": "override",
    "OverrideRequest": "override",
    "PhoneReport": "case_reporting",
    "PhoneReportDialog": "case_reporting",
    "ReceivedCorrection": "case_reporting",
    "ReceivedDialog": "case_reporting",
    "SitrepDialog": "sitrep",
    "SitrepEdit": "sitrep",
    "StartDrillDialog": "start_drill",
    "TextDialog": "text",
    "YesNoDialog": "yes_no",
}

__all__ = [
    "AnswerCandidate",
    "AnswerDialog",
    "AnswerResult",
    "DirectiveReplyDialog",
    "EvaluateDialog",
    "EvaluationSaved",
    "ExtensionDialog",
    "ExtensionRequest",
    "FormDialog",
    "MobilizeDialog",
    "MobilizeRequest",
    "NewIncidentDialog",
    "OverrideDialog",
    "OverrideRequest",
    "PhoneReport",
    "PhoneReportDialog",
    "ReceivedCorrection",
    "ReceivedDialog",
    "SitrepDialog",
    "SitrepEdit",
    "StartDrillDialog",
    "TextDialog",
    "YesNoDialog",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

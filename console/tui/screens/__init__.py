"""The console's screens: the dashboard, the queue of cases and one case, the contacts, the
mobilizations and one mobilization, the duty roster and the shift handover, the drills, the
warnings (alerts) and the directives' inbox; on a county hub, the units below it, one unit's
cases, what was received of one case, and the warnings sent down with their 叫应 per unit.

Each of them is a :class:`~console.tui.screens.live.LiveScreen`; the help (``?``) is a modal.
A screen's module is imported when the screen is first named, not with the package: the
console's first frame needs the dashboard only (``tests/console/test_import_closure.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.tui.screens.alerts import AlertsScreen
    from console.tui.screens.contacts import ContactsScreen
    from console.tui.screens.dashboard import DashboardScreen
    from console.tui.screens.detail import IncidentDetailScreen
    from console.tui.screens.directives import DirectivesScreen
    from console.tui.screens.drills import DrillsScreen
    from console.tui.screens.handover import HandoverScreen
    from console.tui.screens.hub import (
        HubAlertScreen,
        HubAlertsScreen,
        HubCasesScreen,
        HubTimelineScreen,
        HubUnitsScreen,
    )
    from console.tui.screens.incidents import IncidentsScreen
    from console.tui.screens.mobilization import MobilizationScreen
    from console.tui.screens.mobilizations import MobilizationsScreen
    from console.tui.screens.roster import RosterScreen

# name -> the module that defines it
_HOMES = {
    "AlertsScreen": "alerts",
    "ContactsScreen": "contacts",
    "DashboardScreen": "dashboard",
    "DirectivesScreen": "directives",
    "DrillsScreen": "drills",
    "HandoverScreen": "handover",
    "HubAlertScreen": "hub",
    "HubAlertsScreen": "hub",
    "HubCasesScreen": "hub",
    "HubTimelineScreen": "hub",
    "HubUnitsScreen": "hub",
    "IncidentDetailScreen": "detail",
    "IncidentsScreen": "incidents",
    "MobilizationScreen": "mobilization",
    "MobilizationsScreen": "mobilizations",
    "RosterScreen": "roster",
}

__all__ = [
    "AlertsScreen",
    "ContactsScreen",
    "DashboardScreen",
    "DirectivesScreen",
    "DrillsScreen",
    "HandoverScreen",
    "HubAlertScreen",
    "HubAlertsScreen",
    "HubCasesScreen",
    "HubTimelineScreen",
    "HubUnitsScreen",
    "IncidentDetailScreen",
    "IncidentsScreen",
    "MobilizationScreen",
    "MobilizationsScreen",
    "RosterScreen",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

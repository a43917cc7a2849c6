"""The console's screens: the dashboard, the queue of cases and one case, the contacts, the
mobilizations and one mobilization, the duty roster and the shift handover.

Each of them is a :class:`~console.tui.screens.live.LiveScreen`; the help (``?``) is a modal.
"""

from console.tui.screens.contacts import ContactsScreen
from console.tui.screens.dashboard import DashboardScreen
from console.tui.screens.detail import IncidentDetailScreen
from console.tui.screens.handover import HandoverScreen
from console.tui.screens.incidents import IncidentsScreen
from console.tui.screens.mobilization import MobilizationScreen
from console.tui.screens.mobilizations import MobilizationsScreen
from console.tui.screens.roster import RosterScreen

__all__ = [
    "ContactsScreen",
    "DashboardScreen",
    "HandoverScreen",
    "IncidentDetailScreen",
    "IncidentsScreen",
    "MobilizationScreen",
    "MobilizationsScreen",
    "RosterScreen",
]

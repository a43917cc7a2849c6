"""The console's screens: incidents, the detail of one case, the contacts, mobilizations."""

from console.screens.contacts import ContactsScreen
from console.screens.dashboard import DashboardScreen
from console.screens.detail import IncidentDetailScreen
from console.screens.handover import HandoverScreen
from console.screens.incidents import IncidentsScreen
from console.screens.mobilization import MobilizationScreen
from console.screens.mobilizations import MobilizationsScreen
from console.screens.roster import RosterScreen

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

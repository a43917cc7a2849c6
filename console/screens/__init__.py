"""The console's screens: incidents, the detail of one case, the contacts, mobilizations."""

from console.screens.contacts import ContactsScreen
from console.screens.detail import IncidentDetailScreen
from console.screens.incidents import IncidentsScreen
from console.screens.mobilization import MobilizationScreen
from console.screens.mobilizations import MobilizationsScreen

__all__ = [
    "ContactsScreen",
    "IncidentDetailScreen",
    "IncidentsScreen",
    "MobilizationScreen",
    "MobilizationsScreen",
]

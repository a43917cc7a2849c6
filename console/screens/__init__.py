"""The console's screens: the incidents view, the detail of one case, the contacts."""

from console.screens.contacts import ContactsScreen
from console.screens.detail import IncidentDetailScreen
from console.screens.incidents import IncidentsScreen

__all__ = ["ContactsScreen", "IncidentDetailScreen", "IncidentsScreen"]

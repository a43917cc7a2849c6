"""The console's screens: the incidents view and the detail of one case."""

from console.screens.detail import IncidentDetailScreen
from console.screens.incidents import IncidentsScreen

__all__ = ["IncidentDetailScreen", "IncidentsScreen"]

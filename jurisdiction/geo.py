"""Provides the geometry of grid boundaries: GeoJSON checks, shapely shapes, areas in m².

Boundaries are GeoJSON geometries (Polygon or MultiPolygon) in longitude/latitude (WGS84), as
mapping tools export them. Areas, gaps and overlaps are measured in square metres after a
local equirectangular projection around a reference point (the community's centroid):
``x = (lon - lon0) * 111_320 * cos(lat0)``, ``y = (lat - lat0) * 110_540``. Over the few
kilometres of a community its error is far below a metre, which is all the tolerance needs;
it is not meant for areas the size of a province.

The polygon work itself (validity, union, difference, intersection) is shapely's (GEOS).
shapely, and numpy with it, is imported when a geometry is first handled: the console and most
commands never need it, and it costs ~130 ms of a start.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

from store.errors import InvalidInput
from store.i18n import _

POLYGON_TYPES = ("Polygon", "MultiPolygon")
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_AT_EQUATOR = 111_320.0


def _is_position(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) >= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2])
    )


def _rings(geometry: dict[str, Any]) -> list[Any]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    return [ring for polygon in geometry["coordinates"] for ring in polygon]


def parse_boundary(data: Any, field: str = "boundary") -> dict[str, Any]:
    """Take a GeoJSON Polygon/MultiPolygon (or a Feature, or a one-feature collection).

    Only the structure is checked here (types, positions, lon/lat ranges, ring lengths), so a
    drawn boundary can be stored and then reported precisely by ``grid check``; whether the
    polygon is closed and valid is :func:`boundary_problems`.

    Raises:
        InvalidInput: naming ``field`` and what is wrong.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise InvalidInput(_("not JSON: {reason}").format(reason=exc), field) from exc
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise InvalidInput(
                _("a FeatureCollection must hold exactly one feature (holds {count})").format(
                    count=len(features)
                ),
                field,
            )
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if not isinstance(data, dict) or data.get("type") not in POLYGON_TYPES:
        kind = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise InvalidInput(
            _("must be a GeoJSON Polygon or MultiPolygon (got {kind})").format(kind=kind), field
        )
    coords = data.get("coordinates")
    depth_ok = isinstance(coords, list) and bool(coords)
    if depth_ok and data["type"] == "MultiPolygon":
        depth_ok = all(isinstance(p, list) and p for p in coords)  # type: ignore[union-attr]
    if not depth_ok:
        raise InvalidInput(_("has no coordinates"), field)
    geometry = {"type": data["type"], "coordinates": coords}
    for ring in _rings(geometry):
        if not isinstance(ring, list) or not all(_is_position(p) for p in ring):
            raise InvalidInput(_("a ring is not a list of [lon, lat] positions"), field)
        if len(ring) < 3:
            raise InvalidInput(
                _("a ring has {count} positions; a polygon needs 3+").format(count=len(ring)),
                field,
            )
        for lon, lat, *_rest in ring:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise InvalidInput(
                    _("position [{lon}, {lat}] is not [longitude, latitude] in degrees").format(
                        lon=lon, lat=lat
                    ),
                    field,
                )
    return geometry


def boundary_problems(geometry: dict[str, Any]) -> list[str]:
    """What breaks the "clear boundaries" rule in a stored boundary; empty when it is sound."""
    problems = []
    for number, ring in enumerate(_rings(geometry), start=1):
        first, last = ring[0][:2], ring[-1][:2]
        if list(first) != list(last):
            problems.append(
                _("ring {number} is not closed (starts at {first}, ends at {last})").format(
                    number=number, first=first, last=last
                )
            )
        elif len(ring) < 4:
            problems.append(_("ring {number} has fewer than 4 positions").format(number=number))
    if problems:
        return problems
    import shapely

    shp = to_shape(geometry)
    if not shapely.is_valid(shp):
        problems.append(
            _("polygon is not valid: {reason}").format(reason=shapely.is_valid_reason(shp))
        )
    return problems


def to_shape(geometry: dict[str, Any]) -> BaseGeometry:
    """The shapely geometry of a GeoJSON boundary (shapely closes an unclosed ring itself)."""
    from shapely.geometry import shape

    return shape(geometry)


def to_geojson(geom: BaseGeometry) -> dict[str, Any]:
    from shapely.geometry import mapping

    out: dict[str, Any] = json.loads(json.dumps(mapping(geom)))  # tuples → lists, as stored
    return out


def make_sound(geom: BaseGeometry) -> BaseGeometry:
    """A valid version of ``geom`` so one bad polygon does not stop the coverage check."""
    import shapely

    return geom if shapely.is_valid(geom) else shapely.make_valid(geom)


class LocalProjection:
    """Equirectangular projection to metres around ``(lon0, lat0)``; see the module docstring."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = lon0
        self.lat0 = lat0
        self.kx = M_PER_DEG_LON_AT_EQUATOR * math.cos(math.radians(lat0))
        self.ky = M_PER_DEG_LAT

    def forward(self, geom: BaseGeometry) -> BaseGeometry:
        import shapely

        return shapely.transform(
            geom, lambda xy: (xy - (self.lon0, self.lat0)) * (self.kx, self.ky)
        )

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        return (self.lon0 + x / self.kx, self.lat0 + y / self.ky)

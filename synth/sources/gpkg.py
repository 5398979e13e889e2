"""Minimal GeoPackage reader (sqlite3 + shapely WKB) for nuPlan map layers.

A GeoPackage geometry blob is a small header (magic ``GP``, version, flags, SRS id,
optional envelope) followed by standard WKB. Layers in another CRS than the map's
projected one are reprojected with pyproj.
"""
from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import numpy as np
import shapely

from schemas import InputError

_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def decode_geometry(blob: bytes):
    """Shapely geometry from one GeoPackage geometry blob. Returns ``(geometry, srs_id)``."""
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob (missing 'GP' magic)")
    flags = blob[3]
    endian = "<" if flags & 1 else ">"
    srs_id = struct.unpack(endian + "i", blob[4:8])[0]
    env = _ENVELOPE_BYTES.get((flags >> 1) & 0x7)
    if env is None:
        raise ValueError(f"bad envelope code in flags {flags:#x}")
    return shapely.from_wkb(bytes(blob[8 + env:])), srs_id


class GeoPackage:
    """Read layers of one ``.gpkg`` file as lists of ``(properties, geometry)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("map GeoPackage not found", path=str(self.path))
        self.con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        self._transformers: dict[int, object] = {}

    def close(self) -> None:
        self.con.close()

    def layers(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT table_name FROM gpkg_contents")]

    def projected_crs(self) -> str | None:
        """The CRS every layer is reprojected to: the ``meta`` layer's ``projectedCoordSystem``."""
        try:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'projectedCoordSystem'").fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else row[0]

    def _srs_definition(self, srs_id: int) -> str:
        row = self.con.execute(
            "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
            (srs_id,),
        ).fetchone()
        if row is None:
            raise InputError(f"unknown srs_id {srs_id}", path=str(self.path), field="gpkg_spatial_ref_sys")
        org, code, definition = row
        return f"{org}:{code}" if org and code and org.upper() == "EPSG" else definition

    def _reproject(self, geoms: np.ndarray, srs_id: int, target: str | None) -> np.ndarray:
        if target is None or srs_id in (0, -1):
            return geoms
        source = self._srs_definition(srs_id)
        if source == target:
            return geoms
        if srs_id not in self._transformers:
            try:
                import pyproj
            except ImportError:
                raise InputError("layer needs reprojection but pyproj is not installed", path=str(self.path)) from None
            self._transformers[srs_id] = pyproj.Transformer.from_crs(source, target, always_xy=True)
        tr = self._transformers[srs_id]
        return shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    def read_layer(self, layer: str, columns: tuple[str, ...] = ()) -> tuple[list[dict], np.ndarray]:
        """Rows of ``layer``: properties (only ``columns``) and geometries in the projected CRS."""
        try:
            gcol = self.con.execute(
                "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
            ).fetchone()
        except sqlite3.OperationalError as err:
            raise InputError(f"not a GeoPackage ({err})", path=str(self.path)) from None
        if gcol is None:
            raise InputError("layer is missing", path=str(self.path), field=layer)
        cols = ", ".join([f'"{gcol[0]}"'] + [f'"{c}"' for c in columns])
        try:
            rows = self.con.execute(f'SELECT {cols} FROM "{layer}"').fetchall()
        except sqlite3.OperationalError as err:
            raise InputError(str(err), path=str(self.path), field=layer) from None
        geoms, srs = [], set()
        for r in rows:
            try:
                g, s = decode_geometry(r[0])
            except (ValueError, shapely.errors.GEOSException) as err:
                raise InputError(f"bad geometry: {err}", path=str(self.path), field=layer) from None
            geoms.append(g)
            srs.add(s)
        geoms = np.array(geoms, dtype=object)
        if len(srs) == 1 and len(geoms):
            geoms = self._reproject(geoms, srs.pop(), self.projected_crs())
        props = [dict(zip(columns, r[1:])) for r in rows]
        return props, geoms

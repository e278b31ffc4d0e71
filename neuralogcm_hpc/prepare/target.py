"""The model grid as regridding targets: cells around centres, u and v faces."""

from __future__ import annotations

import dataclasses

import numpy as np

from neuralogcm_hpc.prepare.conservative import Conservative, edges_from_centres
from neuralogcm_hpc.prepare.names import PrepareError


@dataclasses.dataclass(frozen=True)
class Target:
    """Cell edges [degree] of the model's centre cells, and of the cells centred
    on its C-grid faces: u at west faces (longitudes shifted west by half a
    cell), v at south faces (latitudes shifted south by half a cell)."""

    lon: np.ndarray  # (nx + 1,) centre-cell edges
    lat: np.ndarray  # (ny + 1,)

    @classmethod
    def from_config(cls, config) -> Target:
        g = config.grid
        if g.kind != "sphere":
            raise PrepareError(
                "prepare maps lon-lat data, so the model grid must be grid.kind = "
                f"sphere (it is {g.kind!r})"
            )
        return cls(
            np.linspace(g.lon_west, g.lon_east, g.nx + 1),
            np.linspace(g.lat_south, g.lat_north, g.ny + 1),
        )

    def edges(self, position: str) -> tuple[np.ndarray, np.ndarray]:
        """(lon edges, lat edges) of the cells around ``position`` points."""
        if position == "u":
            return self.lon - 0.5 * (self.lon[1] - self.lon[0]), self.lat
        if position == "v":
            half = 0.5 * (self.lat[1] - self.lat[0])
            return self.lon, np.clip(self.lat - half, -90.0, 90.0)
        return self.lon, self.lat


def regridders(target: Target, src_lon: np.ndarray, src_lat: np.ndarray) -> dict:
    """Conservative regridders onto centre, u and v cells from a source A-grid
    with these centre coordinates; checks that the source covers the model."""
    lon_e, lat_e = edges_from_centres(src_lon), edges_from_centres(src_lat)
    if lon_e[-1] - lon_e[0] > 360.0 + 1e-6:
        raise PrepareError(
            f"source longitudes span {lon_e[-1] - lon_e[0]:.4f} degrees (> 360): "
            "drop the repeated column"
        )
    lat_e = np.clip(lat_e, -90.0, 90.0)
    out = {
        p: Conservative(lon_e, lat_e, *target.edges(p), periodic=True)
        for p in ("c", "u", "v")
    }
    c = out["c"]
    lat_cover = np.asarray(c.oy.sum(axis=1))
    lat_need = np.diff(np.sin(np.radians(target.lat)))
    lon_cover = np.asarray(c.ox.sum(axis=1))
    lon_need = np.radians(np.diff(target.lon))
    short_y = np.nonzero(lat_cover < lat_need * (1 - 1e-9))[0]
    short_x = np.nonzero(lon_cover < lon_need * (1 - 1e-9))[0]
    if short_y.size or short_x.size:
        raise PrepareError(
            "cannot map the source grid onto the model grid: the source covers "
            f"lon {lon_e[0]:.3f}..{lon_e[-1]:.3f}, lat {lat_e[0]:.3f}..{lat_e[-1]:.3f}"
            f" degrees; the model spans lon {target.lon[0]:g}..{target.lon[-1]:g}, "
            f"lat {target.lat[0]:g}..{target.lat[-1]:g} (set grid.lat_south/north, "
            "grid.lon_west/east inside the data)"
        )
    return out

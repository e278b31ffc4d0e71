"""One source snapshot -> the model's fields on its C-grid positions and levels."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuralogcm_hpc.prepare.names import PrepareError
from neuralogcm_hpc.prepare.vertical import level_overlaps

# model field -> (regridder position, source variable)
POSITIONS = {"u": "u", "v": "v", "temp": "c", "salt": "c", "ssh": "c"}


class SnapshotMapper:
    """Horizontal then vertical conservative mapping of one snapshot.

    Each source level is integrated over the wet overlap with every model cell
    (``Conservative.sums``), the per-level integrals and wet areas are summed with
    the overlap thicknesses of the model levels, and their ratio is the
    thickness- and area-weighted mean over the wet source volume in the model
    cell. Model-wet cells the source leaves dry (the model bottom is a mean of
    the source columns, so it can reach below some of them) take the value of
    the level above; velocities with no source water at all are 0. Land is 0.
    """

    def __init__(
        self,
        regridders: dict,
        source_edges: np.ndarray,
        model_edges: np.ndarray,
        masks: dict,
    ):
        self.regridders = regridders
        self.oz = level_overlaps(model_edges, source_edges)
        self.masks = masks  # name -> (nz, ny, nx) or (ny, nx) 0/1

    def level_sums(self, var: xr.DataArray, position: str):
        """(integral, wet area) per source level: (nz_src, ny, nx) each; reads
        one level of the snapshot at a time."""
        r = self.regridders[position]
        sums = [r.sums(var.isel(depth=k).values) for k in range(var.sizes["depth"])]
        return np.stack([s[0] for s in sums]), np.stack([s[1] for s in sums])

    def field3(self, var: xr.DataArray, name: str) -> np.ndarray:
        integral, area = self.level_sums(var, POSITIONS[name])
        integral = np.tensordot(self.oz, integral, 1)
        volume = np.tensordot(self.oz, area, 1)
        value = integral / np.where(volume > 0, volume, 1.0)
        have = volume > 0
        for k in range(1, value.shape[0]):  # dry in the source: the level above
            value[k] = np.where(have[k], value[k], value[k - 1])
            have[k] |= have[k - 1]
        if name in ("temp", "salt") and np.any(self.masks[name] * ~have):
            k, j, i = np.argwhere(self.masks[name] * ~have)[0]
            raise PrepareError(
                f"{name}: model cell (z={k}, y={j}, x={i}) is ocean "
                "but no source water maps onto it"
            )
        return self.masks[name] * np.where(have, value, 0.0)

    def field2(self, var: xr.DataArray, name: str) -> np.ndarray:
        integral, area = self.regridders[POSITIONS[name]].sums(var.values)
        value = integral / np.where(area > 0, area, 1.0)
        return self.masks[name] * np.where(area > 0, value, 0.0)

    def snapshot(self, ds: xr.Dataset, t: int) -> dict[str, np.ndarray]:
        """name -> model-grid array of snapshot ``t``."""
        snap = ds.isel(time=t)
        return {
            name: self.field3(snap[name], name)
            if name != "ssh"
            else self.field2(snap[name], name)
            for name in POSITIONS
        }

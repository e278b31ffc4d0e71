"""Land mask and bathymetry of the model grid from the source data's own NaNs."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuralogcm_hpc.prepare.conservative import Conservative, cell_areas
from neuralogcm_hpc.prepare.names import PrepareError


def source_columns(temp: xr.DataArray, level_edges: np.ndarray) -> np.ndarray:
    """Ocean depth [m] of every source column (0 = land): the bottom of its deepest
    non-NaN level (counted from the top, in the first snapshot), read one level
    at a time; only a count per column is kept (GLORYS12: 4320 x 2041 int16)."""
    first = temp.isel(time=0)
    wet_above, count = None, None
    for k in range(first.sizes["depth"]):
        wet = np.isfinite(first.isel(depth=k).values)
        wet_above = wet if wet_above is None else wet_above & wet
        count = wet_above.astype(np.int16) if count is None else count + wet_above
    return np.asarray(level_edges)[count]


def model_bathymetry(
    columns: np.ndarray, centre: Conservative, target, min_wet_fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """(bathymetry [m], wet fraction) on the model's centre cells.

    The wet fraction is the source's wet area inside a model cell over the cell's
    area; cells below ``min_wet_fraction`` are land (depth 0). The depth of a wet
    cell is the area-weighted mean of its source columns' depths, so the model
    ocean holds the source's volume up to the land/sea decisions.
    """
    integral, wet_area = centre.sums(np.where(columns > 0, columns, np.nan))
    fraction = wet_area / cell_areas(target.lat, target.lon)
    wet = fraction >= min_wet_fraction
    if not wet.any():
        raise PrepareError(
            "no model cell is ocean: the source's NaN pattern leaves every cell "
            f"below prepare.min_wet_fraction = {min_wet_fraction}"
        )
    depth = np.where(wet, integral / np.where(wet_area > 0, wet_area, 1.0), 0.0)
    return depth, fraction

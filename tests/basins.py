"""Small test basins that several test modules share."""

import numpy as np

N = 12  # cells per side

# A closed 12 x 12 basin on the sphere at 62-80N (f ~ 1.4e-4 s-1, dx 0.3-0.7 dy):
# what broke `global` with real coastlines, at test size
HIGH_LATITUDE = {
    "grid.kind": "sphere",
    "grid.nx": N,
    "grid.ny": N,
    "grid.depth": 4000.0,
    "grid.dz_surface": 0.0,
    "grid.lon_west": 0.0,
    "grid.lon_east": 36.0,
    "grid.lat_south": 62.0,
    "grid.lat_north": 80.0,
}


def shelves_and_trough() -> np.ndarray:
    """Depth [m] for HIGH_LATITUDE: a 1-cell 2000 m trough between 500 m
    shelves, a shelf along the north wall, a shallow bank, 4000 m elsewhere,
    walls all round."""
    depth = np.full((N, N), 4000.0)
    depth[6], depth[7], depth[8:] = 500.0, 2000.0, 500.0
    depth[2:5, 4:6] = 500.0
    depth[[0, -1], :] = depth[:, [0, -1]] = 0.0
    return depth

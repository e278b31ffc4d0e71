"""Case williamson2: steady zonal geostrophic flow on the sphere (Williamson et al.
1992, test case 2, alpha = 0), on a latitude band closed by walls."""

from __future__ import annotations

import math

import numpy as np

from neuralogcm_hpc.cases.case import Case
from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import global_coordinates
from neuralogcm_hpc.physics.constants import EARTH_RADIUS, OMEGA

# Williamson et al. (1992): g h0 = 2.94e4 m2 s-2, u0 = 2 pi a / 12 days.
GH0 = 2.94e4
DAYS_PER_REVOLUTION = 12.0


def config() -> Config:
    """2.5 degree lon-lat C-grid on 80S-80N with walls at the band edges.

    Choice (honest): a lon-lat grid cannot reach the poles without special
    treatment, so the band stops at +-80 degrees with no-normal-flow walls. The
    alpha = 0 solution has v = 0 and is exactly steady with those walls (the
    walls lie along streamlines), so the test still measures the discretisation
    error of the balanced flow; what it does NOT test is flow over the poles
    (alpha != 0). dt: the fastest gravity wave c = sqrt(g h0) = 171 m/s plus
    u = 6.7 m/s at 80N crosses the 48 km cells there in 270 s; dt = 120 s keeps
    the C-grid CFL (c + u) dt / dx ~ 0.45, inside SSP-RK3's stable range.
    No viscosity: the exact solution is inviscid.
    """
    return Config().replace(
        **{
            "case": "williamson2",
            "grid.kind": "sphere",
            "grid.nx": 144,
            "grid.ny": 64,
            "grid.lat_south": -80.0,
            "grid.lat_north": 80.0,
            "grid.lon_west": 0.0,
            "grid.lon_east": 360.0,
            "grid.depth": GH0 / 9.80616,
            "grid.periodic_x": True,
            "grid.periodic_y": False,
            "grid.halo": 2,
            "physics.mode": "shallow_water",
            "physics.gravity": 9.80616,
            "physics.viscosity": 0.0,
            "physics.initial": "williamson2",
            "time.dt": 120.0,
            "time.integrator": "rk3",
            "time.steps": 3600,
            "time.steps_per_call": 360,
        }
    )


def exact(config: Config) -> dict[str, np.ndarray]:
    """The steady solution on the global grid: u = u0 cos(lat) at u points, v = 0,
    ssh = h - h0 with g h = g h0 - (a Omega u0 + u0^2 / 2) sin^2(lat).

    The grid's radius (6.371e6 m, not Williamson's 6.37122e6 m) is used so the
    initial state is the steady state of the discretised planet."""
    c, g = global_coordinates(config), config.grid
    grav = config.physics.gravity
    u0 = 2 * math.pi * EARTH_RADIUS / (DAYS_PER_REVOLUTION * 86400.0)
    lat = np.radians(c["y_c"])[:, None] * np.ones(g.nx)
    ssh = -(EARTH_RADIUS * OMEGA * u0 + 0.5 * u0 * u0) * np.sin(lat) ** 2 / grav
    # ssh is relative to the resting depth grid.depth = h0
    ssh = ssh + (GH0 / grav - g.depth)
    return {"u": u0 * np.cos(lat), "v": np.zeros((g.ny, g.nx)), "ssh": ssh}


CASES = (Case("williamson2", config),)
INITIAL_CONDITIONS = {"williamson2": exact}

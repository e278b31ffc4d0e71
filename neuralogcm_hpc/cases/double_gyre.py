"""Case double_gyre: 3-D wind-driven, restored closed basin (primitive equations)."""

from __future__ import annotations

from neuralogcm_hpc.cases.case import Case
from neuralogcm_hpc.config import Config


def config() -> Config:
    """A 3200 km square basin on a beta plane: 64 x 64 cells of 50 km, 12 levels
    to 3000 m (10 m at the top), walls on all sides.

    tau_x = -0.1 cos(2 pi y / L) N m-2 drives a subtropical and a subpolar gyre;
    SST restored (30 days) from 25 degC (south) to 5 degC (north).
    Munk layer (nu / beta)^(1/3) = 63 km > dx for nu = 5000 m2 s-1.
    dt = 1800 s: internal waves (c ~ 2 m/s) and currents (< 1 m/s) have
    Courant < 0.04; the 15 barotropic sub-steps of 120 s give sqrt(g H) dts / dx
    = 0.41 (forward-backward limit ~0.7); nu dt / dx^2 = 0.004.
    """
    return Config().replace(
        **{
            "case": "double_gyre",
            "grid.kind": "beta_plane",
            "grid.nx": 64,
            "grid.ny": 64,
            "grid.nz": 12,
            "grid.dx": 50e3,
            "grid.dy": 50e3,
            "grid.depth": 3000.0,
            "grid.dz_surface": 10.0,
            "grid.periodic_x": False,
            "grid.periodic_y": False,
            "grid.halo": 4,
            "physics.mode": "primitive",
            "physics.f0": 8e-5,
            "physics.beta": 2e-11,
            "physics.viscosity": 5000.0,
            "physics.diffusivity": 1000.0,
            "physics.wind_stress": 0.1,
            "physics.pe_barotropic_substeps": 15,
            "physics.pe_sst_south": 25.0,
            "physics.pe_sst_north": 5.0,
            "physics.pe_temp_surface": 18.0,
            "physics.pe_temp_deep": 3.0,
            "physics.pe_thermocline": 600.0,
            "time.dt": 1800.0,
            "time.steps": 480,
            "time.steps_per_call": 48,
        }
    )


CASES = (Case("double_gyre", config, forcing="basin"),)

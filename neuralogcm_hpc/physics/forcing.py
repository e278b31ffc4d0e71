"""Analytic surface forcing: zonal wind stress and SST/SSS restoring (no data files)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.physics.constants import CP0, RHO0, SECONDS_PER_DAY


class SurfaceForcing(eqx.Module):
    """Surface boundary conditions on one tile (halo included), time-independent.

    ``taux``/``tauy`` wind stress at u/v points [N m-2]; ``temp_star``/
    ``salt_star`` restoring targets at centres [degC, psu]; ``piston`` the
    restoring velocity [m s-1] = thickness restored / timescale (0 = no
    restoring). The surface fluxes into the top cell are
        F_T = piston (T* - T) [K m s-1],   F_S = piston (S* - S) [psu m s-1];
    restoring salinity stands for the freshwater flux (a virtual salt flux,
    as in most ocean-only z-level models). ``heat_flux`` [W m-2, positive into
    the ocean, at centres], when given (a forcing store's net surface heat
    flux, e.g. ERA5's), adds Q / (rho0 cp0) to F_T; None = no such term.
    """

    taux: jax.Array
    tauy: jax.Array
    temp_star: jax.Array
    salt_star: jax.Array
    piston: float = eqx.field(static=True)
    heat_flux: jax.Array | None = None

    @property
    def has_tracer_fluxes(self) -> bool:
        return self.piston > 0 or self.heat_flux is not None

    def tracer_fluxes(self, temp_top: jax.Array, salt_top: jax.Array):
        """(F_T, F_S) into the top cell for its current temperature and salinity."""
        flux_t = self.piston * (self.temp_star - temp_top)
        if self.heat_flux is not None:
            flux_t = flux_t + self.heat_flux / (RHO0 * CP0)
        return flux_t, self.piston * (self.salt_star - salt_top)


def row_coordinate(config, grid) -> np.ndarray:
    """Centre coordinate of every tile row (halo included): latitude [degree] on
    the sphere, y [m] from the southern wall on the beta plane, from GLOBAL row
    indices, so every tiling sees identical values."""
    g = config.grid
    rows = np.arange(grid.shape[0]) - grid.halo + grid.offset[1] + 0.5
    if g.kind == "sphere":
        return g.lat_south + rows * (g.lat_north - g.lat_south) / g.ny
    return rows * g.dy


def basin_coordinate(config, grid) -> tuple[np.ndarray, float]:
    """(y of every tile row's centre from the southern edge, the basin's extent
    in y), in metres on the beta plane and degrees on the sphere."""
    g = config.grid
    if g.kind == "sphere":
        return row_coordinate(config, grid) - g.lat_south, g.lat_north - g.lat_south
    return row_coordinate(config, grid), g.ny * g.dy


def basin_wind(y: np.ndarray, length: float, tau0: float) -> np.ndarray:
    """Double-gyre stress tau_x = -tau0 cos(2 pi y / L): easterly at the southern
    and northern walls, westerly mid-basin; its curl drives a subtropical gyre in
    the south and a subpolar gyre in the north (e.g. Veronis 1966)."""
    return -tau0 * np.cos(2 * math.pi * y / length)


def global_wind(lat_deg: np.ndarray, tau0: float) -> np.ndarray:
    """Idealised zonal-mean stress: trade easterlies, westerlies peaking near
    50 degrees (1.5 x stronger in the south, like the Southern Ocean), polar
    easterlies. tau_x = tau0 (-cos(3.6 phi)) scaled by 1.5 south of 20S."""
    phi = np.radians(lat_deg)
    tau = -tau0 * np.cos(3.6 * phi)
    return np.where(lat_deg < -20.0, 1.5 * tau, tau)


def sst_profile(lat_deg: np.ndarray) -> np.ndarray:
    """Restoring SST [degC]: 28 at the equator, -1.5 near the poles (cos^2)."""
    return -1.5 + 29.5 * np.cos(np.radians(lat_deg)) ** 2


def sss_profile(lat_deg: np.ndarray) -> np.ndarray:
    """Restoring SSS [psu]: 34 at the equator and poles, 35.5 in the subtropics
    (a Gaussian bump at |lat| = 25 degrees, e-folding width 15 degrees)."""
    return 34.0 + 1.5 * np.exp(-(((np.abs(lat_deg) - 25.0) / 15.0) ** 2))


def build_forcing(config, grid, kind: str) -> SurfaceForcing:
    """Forcing on ``grid``'s tile: ``kind`` "basin" (double gyre, y in metres)
    or "global" (latitude). Amplitudes from ``config.physics``."""
    p, dtype = config.physics, grid.mask_c.dtype
    y = row_coordinate(config, grid)
    if kind == "basin":
        y, length = basin_coordinate(config, grid)
        taux = basin_wind(y, length, p.wind_stress)
        # linear SST target from pe_sst_south to pe_sst_north across the basin
        temp_star = p.pe_sst_south + (p.pe_sst_north - p.pe_sst_south) * y / length
        salt_star = np.full_like(y, p.pe_salt0)
    elif kind == "global":
        taux = global_wind(y, p.wind_stress)
        temp_star, salt_star = sst_profile(y), sss_profile(y)
    else:
        raise ValueError(f"forcing kind must be 'basin' or 'global', not {kind!r}")
    days = p.pe_restore_days
    piston = float(grid.dz[0]) / (days * SECONDS_PER_DAY) if days > 0 else 0.0
    shape = grid.shape

    def full(col):
        return jnp.asarray(np.broadcast_to(np.asarray(col)[:, None], shape), dtype)

    return SurfaceForcing(
        taux=full(taux) * grid.mask_u,
        tauy=jnp.zeros(shape, dtype),
        temp_star=full(temp_star),
        salt_star=full(salt_star),
        piston=piston,
    )

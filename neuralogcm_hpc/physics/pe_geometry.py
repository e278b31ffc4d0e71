"""The primitive-equation step's precomputed metrics, built once and passed in."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import Grid, build_grid
from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.baroclinic import level_sum
from neuralogcm_hpc.physics.constants import EARTH_RADIUS
from neuralogcm_hpc.physics.forcing import row_coordinate
from neuralogcm_hpc.physics.free_surface import cycle_length


def level_grid(grid: Grid, mask_q) -> Grid:
    """``grid`` with its 3-D (nz, ny, nx) masks as the masks, for the 2-D C-grid
    operators (which broadcast over a leading level axis); ``mask_q`` from
    ``_column_metrics``."""
    return dataclasses.replace(
        grid, mask_c=grid.mask3_c, mask_u=grid.mask3_u, mask_v=grid.mask3_v,
        mask_q=mask_q,
    )


@jax.jit
def _column_metrics(dz, mask3_c, mask3_u, mask3_v) -> dict:
    """The tile's static column metrics as ONE compiled program: run eagerly,
    every jnp operation compiled on its own (~15 programs, ~1 s of a rank's
    start-up). Same operations, same order (``level_sum``), same values."""
    dz3 = dz[:, None, None]
    depth_c = level_sum(dz3 * mask3_c)
    below_u = jnp.concatenate([mask3_u[1:], jnp.zeros_like(mask3_u[:1])], 0)
    below_v = jnp.concatenate([mask3_v[1:], jnp.zeros_like(mask3_v[:1])], 0)
    return {
        "dz3": dz3,
        "spacing": 0.5 * (dz3[1:] + dz3[:-1]),
        "depth_c": depth_c,
        "depth_u": level_sum(dz3 * mask3_u),
        "depth_v": level_sum(dz3 * mask3_v),
        "stretch": mask3_c * dz3 / jnp.where(depth_c > 0, depth_c, 1.0),
        "bottom_u": mask3_u - below_u,
        "bottom_v": mask3_v - below_v,
        "mask_q": mask3_c * op.xm(mask3_c) * op.ym(mask3_c) * op.xm(op.ym(mask3_c)),
    }


@dataclasses.dataclass(frozen=True, eq=False)
class BarotropicGeometry:
    """The wide-halo tile of the barotropic cycle: ``width`` = cycle + 2 rings
    (one used per sub-step, one more by V's first, one left valid), capped by
    the tile size, so the cycle needs no exchange but its opening one; refills
    every ``batch`` = width - 2 sub-steps where the tile is narrower. 2-D only,
    so the extra rings cost little (240 x 106 global case, 24 sub-steps, a
    cycle of 36 with the time filter: width 38)."""

    grid: Grid
    width: int
    batch: int
    depth_u: jax.Array  # resting depth at u / v faces [m], full cells
    depth_v: jax.Array


@dataclasses.dataclass(frozen=True, eq=False)
class PEGeometry:
    """Static metrics of one rank's tile (halo included) that the baroclinic
    step reads; nothing in it changes during a run.

    ``grid``: the 2-D tile (masks 2-D; ``dz``, ``mask3_*`` for levels);
    ``levels``: the same grid with 3-D masks for the operators; ``dz3`` level
    thicknesses (nz, 1, 1); ``spacing`` distances between level centres
    (nz - 1, 1, 1); ``depth_c/u/v`` resting column depths (full cells);
    ``stretch`` the z* fractions dz_k / H (0 on land); ``bottom_u/v`` 1 on the
    bottom level of each u / v column (bottom drag); ``tan_q`` tan(latitude)
    at corner (and v) rows and ``radius`` the sphere's (0 and 0 on a beta
    plane);
    ``scale_c/q`` the cos^2(lat) scaling of horizontal viscosity at centres /
    corners (1 where off); ``barotropic`` the wide-halo tile.
    """

    grid: Grid
    levels: Grid
    dz3: jax.Array
    spacing: jax.Array
    depth_c: jax.Array
    depth_u: jax.Array
    depth_v: jax.Array
    stretch: jax.Array
    bottom_u: jax.Array
    bottom_v: jax.Array
    tan_q: jax.Array
    radius: float
    scale_c: jax.Array
    scale_q: jax.Array
    barotropic: BarotropicGeometry

    def thickness(self, ssh: jax.Array) -> jax.Array:
        """Level thicknesses (nz, ny, nx) [m] of the z* grid: dz (1 + eta / H),
        with H the resting column depth; 0 on land."""
        return self.stretch * (self.depth_c + self.grid.mask_c * ssh)

    @classmethod
    def build(
        cls,
        config: Config,
        grid: Grid,
        decomposition: Decomposition,
        rank: int,
        bathymetry: np.ndarray | None,
    ) -> PEGeometry:
        g, dtype = grid, grid.mask_c.dtype
        columns = _column_metrics(g.dz, g.mask3_c, g.mask3_u, g.mask3_v)
        tan_q, radius, scale_c, scale_q = _sphere_terms(config, g, dtype)
        return cls(
            grid=g,
            levels=level_grid(g, columns.pop("mask_q")),
            **columns,
            tan_q=tan_q,
            radius=radius,
            scale_c=scale_c,
            scale_q=scale_q,
            barotropic=_barotropic(config, decomposition, rank, bathymetry),
        )


def _barotropic(config, decomposition, rank, bathymetry) -> BarotropicGeometry:
    substeps = cycle_length(config.physics.pe_barotropic_substeps)
    tile = min(decomposition.tile_nx, decomposition.tile_ny)
    width = max(config.grid.halo, min(substeps + 2, tile))
    wide = build_grid(
        config.replace(**{"grid.halo": width}), decomposition, rank, bathymetry
    )
    columns = _column_metrics(wide.dz, wide.mask3_c, wide.mask3_u, wide.mask3_v)
    return BarotropicGeometry(
        grid=wide,
        width=width,
        batch=width - 2,  # >= 2: grid.halo >= 4 in primitive mode
        depth_u=columns["depth_u"],
        depth_v=columns["depth_v"],
    )


def _sphere_terms(config, g, dtype):
    """(tan_q, radius, scale_c, scale_q) as (rows, 1) columns."""
    if config.grid.kind == "sphere":
        lat_c = np.radians(row_coordinate(config, g))
        lat_f = lat_c - 0.5 * np.radians(
            (config.grid.lat_north - config.grid.lat_south) / config.grid.ny
        )
        tan_q = jnp.asarray(np.tan(lat_f)[:, None], dtype)
        radius = EARTH_RADIUS
        scaled = config.physics.pe_scale_viscosity
        scale = np.cos(lat_c) ** 2 if scaled else 1.0
        scale_q = np.cos(lat_f) ** 2 if scaled else 1.0
    else:
        tan_q = jnp.zeros((g.shape[0], 1), dtype)
        radius = 0.0
        scale = scale_q = np.ones(g.shape[0])
    rows = g.shape[0]
    return (
        tan_q,
        radius,
        jnp.asarray(np.broadcast_to(scale, rows)[:, None], dtype),
        jnp.asarray(np.broadcast_to(scale_q, rows)[:, None], dtype),
    )

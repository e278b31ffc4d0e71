"""Per-tile views of the spherical lon-lat and planar beta-plane Arakawa C-grids."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import ConfigError
from neuralogcm_hpc.parallel.decomposition import Decomposition, DecompositionError
from neuralogcm_hpc.physics.constants import EARTH_RADIUS, OMEGA
from neuralogcm_hpc.precision import require_x64


@dataclasses.dataclass(frozen=True, eq=False)
class Grid:
    """One rank's tile of a C-grid, halo included; static (not differentiated).

    Staggering (index [j, i] of a tile array of shape (ny_t + 2h, nx_t + 2h)):
    centre c = cell (j, i); u = WEST face of cell (j, i); v = SOUTH face;
    q = SOUTH-WEST corner. Metric names ``dx_P``/``dy_P`` at point P are:
    ``dx_u`` distance between the centres either side of u, ``dy_u`` length of the
    u face, ``dx_v`` length of the v face, ``dy_v`` distance between the centres
    either side of v, ``dx_c``/``dy_c`` cell widths, ``dx_q``/``dy_q`` dual-cell
    widths; ``area_c`` exact cell area, ``area_u = dx_u dy_u`` etc. Metrics and
    Coriolis depend only on y for both grid kinds, so they are stored with shape
    (ny_t + 2h, 1) and broadcast; masks are full 2-D (3-D: (nz, ny, nx)).

    Masks are float (1 wet, 0 land) so they multiply; cells beyond a domain wall
    are land. ``depth`` is the resting ocean depth at centres (m, 0 on land).
    Levels: ``dz`` (nz,) thicknesses, ``z_top``/``z_bottom``/``z_centre`` (nz,)
    depths (m, positive down); level k of a cell is wet if its depth exceeds
    ``z_top[k]`` (``mask3_c``, ``mask3_u``, ``mask3_v``).

    ``x_c``, ``y_c`` are this tile's interior centre coordinates (1-D; degrees
    east/north on the sphere, metres on the beta plane), ``x_u`` west faces,
    ``y_v`` south faces; ``offset`` is the global (x, y) index of the first
    interior cell.
    """

    kind: str
    halo: int
    nx: int  # tile interior cells along x
    ny: int
    nz: int
    global_nx: int
    global_ny: int
    offset: tuple[int, int]
    coord_units: str
    coord_origin: tuple[float, float]  # global (x, y) of the south-west domain corner
    coord_spacing: tuple[float, float]  # (x, y) spacing in coord_units
    dx_c: jax.Array
    dy_c: jax.Array
    dx_u: jax.Array
    dy_u: jax.Array
    dx_v: jax.Array
    dy_v: jax.Array
    dx_q: jax.Array
    dy_q: jax.Array
    area_c: jax.Array
    area_u: jax.Array
    area_v: jax.Array
    area_q: jax.Array
    rdx_u: jax.Array  # reciprocals: stencils multiply (a divide costs ~5x more)
    rdy_u: jax.Array
    rdx_v: jax.Array
    rdy_v: jax.Array
    rarea_c: jax.Array
    rarea_q: jax.Array
    f_c: jax.Array
    f_u: jax.Array
    f_v: jax.Array
    f_q: jax.Array
    depth: jax.Array
    mask_c: jax.Array
    mask_u: jax.Array
    mask_v: jax.Array
    mask_q: jax.Array
    dz: jax.Array
    z_top: jax.Array
    z_bottom: jax.Array
    z_centre: jax.Array
    mask3_c: jax.Array
    mask3_u: jax.Array
    mask3_v: jax.Array
    x_c: np.ndarray
    y_c: np.ndarray
    x_u: np.ndarray
    y_v: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(y, x) shape of a tile array with halo."""
        return self.ny + 2 * self.halo, self.nx + 2 * self.halo

    def interior(self, x: jax.Array) -> jax.Array:
        """``x`` (..., ny_t + 2h, nx_t + 2h) without its halo."""
        h = self.halo
        return x[..., h:-h, h:-h] if h else x

    def pad(self, x: jax.Array) -> jax.Array:
        """An interior tile padded with a zero halo (fill it with the Halo)."""
        h = self.halo
        return jnp.pad(x, [(0, 0)] * (x.ndim - 2) + [(h, h), (h, h)])

    def location(self, j: int, i: int) -> str:
        """Human-readable place of GLOBAL centre index (j, i), for error messages."""
        x, y = _centre_coords(self, i, j)
        if self.kind == "sphere":
            return f"lon={x:.2f}, lat={y:.2f} (i={i}, j={j})"
        return f"x={x / 1e3:.1f} km, y={y / 1e3:.1f} km (i={i}, j={j})"


def _centre_coords(grid: Grid, i: int, j: int) -> tuple[float, float]:
    (x0, y0), (dx, dy) = grid.coord_origin, grid.coord_spacing
    return x0 + (i + 0.5) * dx, y0 + (j + 0.5) * dy


def level_thicknesses(nz: int, depth: float, dz_surface: float = 0.0) -> np.ndarray:
    """Layer thicknesses (m) summing to ``depth``: uniform, or stretched geometrically.

    With ``dz_surface > 0`` the top layer is ``dz_surface`` thick and each layer is
    r times the one above, r > 1 solved so the layers sum to ``depth`` (GLORYS-like:
    23 levels, 1 m at the top, to 1000 m gives r ~= 1.28).
    """
    if nz == 1 or dz_surface <= 0:
        return np.full(nz, depth / nz)
    if dz_surface * nz >= depth:
        raise ConfigError(
            f"grid.dz_surface = {dz_surface} m times {nz} levels reaches {depth} m "
            "already; choose a thinner surface layer or fewer levels"
        )
    low, high = 1.0 + 1e-12, 10.0
    for _ in range(200):  # bisection on sum(dz_surface * r**k) = depth
        r = 0.5 * (low + high)
        total = dz_surface * (r**nz - 1) / (r - 1)
        low, high = (r, high) if total < depth else (low, r)
    dz = dz_surface * r ** np.arange(nz)
    return dz * (depth / dz.sum())  # remove the last bisection rounding


def build_grid(
    config,
    decomposition: Decomposition,
    rank: int,
    bathymetry: np.ndarray | None = None,
) -> Grid:
    """The tile of ``rank`` (halo included) of the global grid described by ``config``.

    ``config`` is the full Config (sections grid, physics). ``bathymetry`` is the
    GLOBAL resting depth at centres, shape (ny, nx), metres positive down,
    depth <= 0 = land; None = flat bottom at ``grid.depth``. Everything is
    computed from global indices, so a tile equals the same slice of a serial grid
    bit for bit (needed for rank-count invariance).
    """
    require_x64(config.precision)  # never a silent float64 -> float32 downgrade
    g, dtype = config.grid, jnp.dtype(config.precision)
    h, d = g.halo, decomposition
    if (d.nx, d.ny) != (g.nx, g.ny):
        raise ValueError(
            f"decomposition is {d.nx} x {d.ny} but grid.nx x grid.ny = {g.nx} x {g.ny}"
        )
    x0_idx, y0_idx = d.offsets(rank)
    # global cell-face index of every tile row/column, halo included
    jj = np.arange(y0_idx - h, y0_idx + d.tile_ny + h, dtype=np.float64)
    if g.kind == "sphere":
        geom = _sphere(g, jj)
    elif g.kind == "beta_plane":
        geom = _beta_plane(g, config.physics, jj)
    else:
        raise ValueError(f"grid.kind must be 'sphere' or 'beta_plane', not {g.kind!r}")

    if bathymetry is None:
        bathymetry = np.full((g.ny, g.nx), g.depth)
    bathymetry = np.asarray(bathymetry, dtype=np.float64)
    if bathymetry.shape != (g.ny, g.nx):
        raise ValueError(
            f"bathymetry has shape {bathymetry.shape}, expected (ny, nx) = "
            f"({g.ny}, {g.nx})"
        )
    # one extra ring so the face masks of the outermost halo cells see their
    # west/south neighbour; it is cropped after the masks are formed
    depth1 = _tile_with_halo(
        np.where(bathymetry > 0, bathymetry, 0.0),
        d,
        rank,
        h + 1,
        g.periodic_x,
        g.periodic_y,
    )
    depth, wet1 = depth1[1:-1, 1:-1], depth1 > 0
    wet = depth > 0
    dz = level_thicknesses(g.nz, float(bathymetry.max()), g.dz_surface)
    z_bottom = np.cumsum(dz)
    z_top = z_bottom - dz
    wet3_1 = depth1[None] > z_top[:, None, None]
    wet3 = wet3_1[:, 1:-1, 1:-1]

    def arr(a):  # converted on the host: no conversion program per shape
        return jnp.asarray(np.asarray(a, dtype=np.float64).astype(dtype))

    m_u, m_v, m_q = _face_masks(wet1)
    m3 = [_face_masks(w) for w in wet3_1]
    ix = np.arange(x0_idx, x0_idx + d.tile_nx)
    iy = np.arange(y0_idx, y0_idx + d.tile_ny)
    return Grid(
        kind=g.kind,
        halo=h,
        nx=d.tile_nx,
        ny=d.tile_ny,
        nz=g.nz,
        global_nx=g.nx,
        global_ny=g.ny,
        offset=(x0_idx, y0_idx),
        coord_units=geom["units"],
        coord_origin=(geom["x0"], geom["y0"]),
        coord_spacing=(geom["dxg"], geom["dyg"]),
        **{k: arr(v[:, None]) for k, v in geom["metrics"].items()},
        **{
            f"r{k}": arr(_reciprocal(geom["metrics"][k])[:, None])
            for k in ("dx_u", "dy_u", "dx_v", "dy_v", "area_c", "area_q")
        },
        depth=arr(depth * wet),
        mask_c=arr(wet),
        mask_u=arr(m_u),
        mask_v=arr(m_v),
        mask_q=arr(m_q),
        dz=arr(dz),
        z_top=arr(z_top),
        z_bottom=arr(z_bottom),
        z_centre=arr(z_top + 0.5 * dz),
        mask3_c=arr(wet3),
        mask3_u=arr(np.stack([m[0] for m in m3])),
        mask3_v=arr(np.stack([m[1] for m in m3])),
        x_c=geom["x0"] + (ix + 0.5) * geom["dxg"],
        y_c=geom["y0"] + (iy + 0.5) * geom["dyg"],
        x_u=geom["x0"] + ix * geom["dxg"],
        y_v=geom["y0"] + iy * geom["dyg"],
    )


def column_if_x_invariant(a: jax.Array, any_rank=lambda flag: flag) -> jax.Array:
    """A 2-D tile array as one (ny_t + 2h, 1) column that broadcasts, if it is
    constant along x on every rank (``any_rank``: ParallelContext.any_rank, so
    all ranks choose alike and compile the same program); else ``a`` itself."""
    host = np.asarray(a)
    varies = host.ndim != 2 or bool(np.any(host != host[:, :1]))
    return a if any_rank(varies) else jnp.asarray(host[:, :1])


def x_invariant_columns(grid: Grid, any_rank=lambda flag: flag) -> Grid:
    """``grid`` with the static 2-D fields (depth, masks) that do not vary along
    x stored as columns (``column_if_x_invariant``), for stencils to read.

    A zonal channel (beta_plane) then streams 3 prognostic tiles per stencil
    instead of up to 8 tiles (the masks and depth were full f64 tiles); a basin
    with land keeps its full masks. The values are the same; results agree to
    round-off (XLA folds the small constants differently: ~1 ulp).
    """
    names = ("depth", "mask_c", "mask_u", "mask_v", "mask_q")
    return dataclasses.replace(
        grid, **{n: column_if_x_invariant(getattr(grid, n), any_rank) for n in names}
    )


def _reciprocal(a: np.ndarray) -> np.ndarray:
    """1 / a, and 0 where a = 0 (halo rows clipped at a pole, all land): an inf
    there would turn masked (x 0) halo values into NaN."""
    return np.divide(1.0, a, out=np.zeros_like(a), where=a != 0)


def _sphere(g, jj: np.ndarray) -> dict:
    a, dlon = EARTH_RADIUS, math.radians((g.lon_east - g.lon_west) / g.nx)
    dlat = math.radians((g.lat_north - g.lat_south) / g.ny)
    lat0 = math.radians(g.lat_south)
    # clip keeps halo rows beyond +-90 degrees finite; they are land anyway
    phi_f = np.clip(lat0 + jj * dlat, -np.pi / 2, np.pi / 2)  # south faces
    phi_n = np.clip(lat0 + (jj + 1) * dlat, -np.pi / 2, np.pi / 2)
    phi_c = np.clip(lat0 + (jj + 0.5) * dlat, -np.pi / 2, np.pi / 2)
    phi_cs = np.clip(lat0 + (jj - 0.5) * dlat, -np.pi / 2, np.pi / 2)
    dy = np.full_like(jj, a * dlat)
    metrics = dict(
        dx_c=a * np.cos(phi_c) * dlon,
        dy_c=dy,
        dx_u=a * np.cos(phi_c) * dlon,
        dy_u=dy,
        dx_v=a * np.cos(phi_f) * dlon,
        dy_v=dy,
        dx_q=a * np.cos(phi_f) * dlon,
        dy_q=dy,
        area_c=a * a * dlon * (np.sin(phi_n) - np.sin(phi_f)),
        area_u=a * np.cos(phi_c) * dlon * dy,
        area_v=a * np.cos(phi_f) * dlon * dy,
        area_q=a * a * dlon * (np.sin(phi_c) - np.sin(phi_cs)),
        f_c=2 * OMEGA * np.sin(phi_c),
        f_u=2 * OMEGA * np.sin(phi_c),
        f_v=2 * OMEGA * np.sin(phi_f),
        f_q=2 * OMEGA * np.sin(phi_f),
    )
    return dict(
        metrics=metrics,
        units="degree",
        x0=g.lon_west,
        y0=g.lat_south,
        dxg=(g.lon_east - g.lon_west) / g.nx,
        dyg=(g.lat_north - g.lat_south) / g.ny,
    )


def _beta_plane(g, physics, jj: np.ndarray) -> dict:
    # y = 0 at the southern wall; f = f0 + beta (y - Ly/2) so f0 is mid-channel
    y_f, y_c = jj * g.dy, (jj + 0.5) * g.dy
    y_mid = 0.5 * g.ny * g.dy
    ones = np.ones_like(jj)
    metrics = dict(
        dx_c=g.dx * ones,
        dy_c=g.dy * ones,
        dx_u=g.dx * ones,
        dy_u=g.dy * ones,
        dx_v=g.dx * ones,
        dy_v=g.dy * ones,
        dx_q=g.dx * ones,
        dy_q=g.dy * ones,
        area_c=g.dx * g.dy * ones,
        area_u=g.dx * g.dy * ones,
        area_v=g.dx * g.dy * ones,
        area_q=g.dx * g.dy * ones,
        f_c=physics.f0 + physics.beta * (y_c - y_mid),
        f_u=physics.f0 + physics.beta * (y_c - y_mid),
        f_v=physics.f0 + physics.beta * (y_f - y_mid),
        f_q=physics.f0 + physics.beta * (y_f - y_mid),
    )
    return dict(metrics=metrics, units="m", x0=0.0, y0=0.0, dxg=g.dx, dyg=g.dy)


def _tile_with_halo(field, d: Decomposition, rank, h, periodic_x, periodic_y):
    """The tile of a global (ny, nx) field with an h-wide halo; walls pad with 0."""
    padded = np.pad(field, [(h, h), (0, 0)], mode="wrap" if periodic_y else "constant")
    padded = np.pad(padded, [(0, 0), (h, h)], mode="wrap" if periodic_x else "constant")
    ys, xs = d.global_slices(rank)
    return padded[ys.start : ys.stop + 2 * h, xs.start : xs.stop + 2 * h]


def _face_masks(wet1: np.ndarray):
    """u, v, q masks from centre wetness padded by one extra ring (cropped off):
    a face is wet if the cells on both sides are, a corner if all four are."""
    w = wet1[1:-1, 1:-1]
    west, south, southwest = wet1[1:-1, :-2], wet1[:-2, 1:-1], wet1[:-2, :-2]
    return w & west, w & south, w & west & south & southwest


def global_coordinates(config) -> dict[str, np.ndarray]:
    """1-D global coordinates: ``x_c``/``y_c`` centres, ``x_u`` west faces, ``y_v``
    south faces (degrees on the sphere, metres on the beta plane), for initial
    conditions and forcing computed on the global grid."""
    g = config.grid
    if g.kind == "sphere":
        x0, y0 = g.lon_west, g.lat_south
        dxg, dyg = (g.lon_east - g.lon_west) / g.nx, (g.lat_north - g.lat_south) / g.ny
    else:
        x0, y0, dxg, dyg = 0.0, 0.0, g.dx, g.dy
    ix, iy = np.arange(g.nx), np.arange(g.ny)
    return dict(
        x_c=x0 + (ix + 0.5) * dxg,
        y_c=y0 + (iy + 0.5) * dyg,
        x_u=x0 + ix * dxg,
        y_v=y0 + iy * dyg,
    )


def decomposition_for(config, size: int) -> Decomposition:
    """The tiling of ``config``'s grid over ``size`` ranks (decomposition.px/py,
    or the automatic choice when they are 0)."""
    g, d = config.grid, config.decomposition
    if d.px:
        if d.px * d.py != size:
            raise DecompositionError(
                f"decomposition.px x py = {d.px} x {d.py} needs {d.px * d.py} ranks "
                f"but the job has {size}; launch with mpirun -n {d.px * d.py} or "
                "set px = py = 0"
            )
        return Decomposition(g.nx, g.ny, d.px, d.py, g.periodic_x, g.periodic_y)
    return Decomposition.auto(g.nx, g.ny, size, g.periodic_x, g.periodic_y)

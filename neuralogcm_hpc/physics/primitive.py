"""Hydrostatic Boussinesq primitive equations on z-levels with a split free surface."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import Config, ConfigError, validate
from neuralogcm_hpc.grid import EARTH_RADIUS, Grid, build_grid, decomposition_for
from neuralogcm_hpc.parallel.context import ParallelContext, get_context
from neuralogcm_hpc.parallel.halo import Halo
from neuralogcm_hpc.parallel.reductions import global_sum
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import guard
from neuralogcm_hpc.physics.eos import RHO0, EquationOfState
from neuralogcm_hpc.physics.forcing import SurfaceForcing, build_forcing, row_coordinate
from neuralogcm_hpc.physics.free_surface import cycle_length, halo_fills
from neuralogcm_hpc.physics.opaque import opaque_constants
from neuralogcm_hpc.physics.params import Positive, coefficient
from neuralogcm_hpc.physics.pe_step import baroclinic_step
from neuralogcm_hpc.state import OceanState

HORIZONTAL_BOUNDS = (1e-3, 1e7)  # m2 s-1, learnable horizontal coefficients
VERTICAL_BOUNDS = (1e-8, 1.0)  # m2 s-1, learnable vertical coefficients
HALO = 4  # cells the step needs (see PrimitiveModel)
NAMES = ("u", "v", "temp", "salt", "ssh")


class PrimitiveParams(eqx.Module):
    """Learnable coefficients [m2 s-1]; None = term off. Horizontal ones are
    global scalars; vertical ones scalars or, with ``physics.learn_fields``,
    3-D fields at the interior interfaces (nz-1, ny_t, nx_t) (one halo exchange
    per model step makes them available at u/v columns)."""

    viscosity: Positive | None
    diffusivity: Positive | None
    vertical_viscosity: Positive | None
    vertical_diffusivity: Positive | None


class PrimitiveModel:
    """Hydrostatic Boussinesq primitive equations, z-levels, Arakawa C-grid:

        du/dt = -(u.grad)u - w du/dz + f v - d(p'/rho0 + g eta)/dx + D_h + d(A du/dz)/dz
        dv/dt = ...                   - f u - d(...)/dy
        dp'/dz = -g rho'(T, S, z),   div_h(u) + dw/dz = 0,   d(eta)/dt = -div(U)
        dT/dt = -div(u T) + div(kh grad T) + d(kv dT/dz)/dz   (same for S)

    with wind stress and bottom drag Cd (|u_b| + u_tide) u_b as boundary fluxes
    of the implicit vertical viscosity, restoring T/S fluxes at the surface and
    enhanced vertical diffusivity where N^2 < 0 (convective adjustment).

    One baroclinic step (dt / physics.substeps):
    1. momentum: Adams-Bashforth 2 for advection, baroclinic pressure gradient
       and horizontal viscosity; Coriolis forward-backward (u with old v, then v
       with the new u: neutral for f dt < 2); implicit vertical viscosity.
    2. free surface: the depth mean of all slow tendencies drives
       ``pe_barotropic_substeps`` forward-backward sub-steps of (eta, U); the
       3-D velocity gets the new depth mean.
    3. tracers: forward Euler, van Leer flux-limited advection with transports
       whose depth sum equals the mean barotropic transport (volume and tracer
       content conserved to round-off; a uniform tracer stays uniform) on z*
       levels of thickness dz_k (1 + eta / H); implicit vertical diffusion.

    Halos: HALO = 4 cells, filled on input. Exchanges per baroclinic step: one
    packed wide-halo exchange of (eta, U, V, G_u, G_v) opening the barotropic
    cycle, which then runs all sub-steps in its halo (communication avoiding;
    refills only where a tile is narrower than the cycle needs), and one packed
    exchange of (u, v, T, S, eta): 2 for the global case. Learnable vertical
    fields add one per model step. No operator reduces across cells, so the
    result is bit-identical for any tiling.
    """

    prognostic_names = NAMES

    def __init__(
        self,
        config: Config,
        context: ParallelContext | None = None,
        bathymetry: np.ndarray | None = None,
        initial: Callable[[Config], dict] | None = None,
        forcing: str = "basin",
    ):
        self.config = validate(config)
        self.context = context or get_context()
        p, g = config.physics, config.grid
        if g.halo < HALO:
            raise ConfigError(
                f"primitive mode needs grid.halo >= {HALO} (flux-limited advection "
                f"after the Coriolis update); set grid.halo = {HALO}"
            )
        if g.nz < 2 or p.pe_barotropic_substeps < 1:
            raise ConfigError(
                "primitive mode needs grid.nz >= 2 and physics."
                "pe_barotropic_substeps >= 1"
            )
        self.decomposition = decomposition_for(config, self.context.size)
        self.halo = Halo(self.decomposition, g.halo, self.context)
        self.grid: Grid = build_grid(
            config, self.decomposition, self.context.rank, bathymetry
        )
        self.dt = config.time.dt
        self.dt_step = config.time.dt / p.substeps  # one baroclinic step
        self._setup_barotropic(bathymetry)
        # per baroclinic step: the wide exchange opening the barotropic cycle, its
        # refills, the packed 3-D exchange closing the step
        fills = halo_fills(cycle_length(p.pe_barotropic_substeps), self.bt_batch)
        self.exchanges_per_step = p.substeps * (fills + 1) + int(p.learn_fields)
        self.eos = EquationOfState(
            kind=p.pe_eos, alpha=p.pe_alpha, beta=p.pe_beta, gravity=p.gravity
        )
        self._initial = initial
        self._setup_geometry(forcing)

    def _setup_barotropic(self, bathymetry) -> None:
        """The wide-halo tile of the barotropic cycle: W = cycle + 2 rings
        (one used per sub-step, one more by V's first, one left valid), capped
        by the tile size; the cycle then needs no exchange but its opening one.
        2-D only, so the extra rings cost little (240 x 106 global case, 24
        sub-steps, a cycle of 36 with the time filter: W = 38)."""
        cfg, d = self.config, self.decomposition
        substeps = cycle_length(cfg.physics.pe_barotropic_substeps)
        tile = min(d.tile_nx, d.tile_ny)
        self.bt_width = max(cfg.grid.halo, min(substeps + 2, tile))
        self.bt_batch = self.bt_width - 2  # >= 2: grid.halo >= HALO = 4
        self.bt_halo = Halo(d, self.bt_width, self.context)
        self.bt_grid = build_grid(
            cfg.replace(**{"grid.halo": self.bt_width}),
            d,
            self.context.rank,
            bathymetry,
        )
        dz3 = self.bt_grid.dz[:, None, None]
        self.bt_depth_u = bc.level_sum(dz3 * self.bt_grid.mask3_u)
        self.bt_depth_v = bc.level_sum(dz3 * self.bt_grid.mask3_v)

    def _setup_geometry(self, forcing_kind: str) -> None:
        g, cfg = self.grid, self.config
        dtype = g.mask_c.dtype
        self.g3 = bc.level_grid(g, g.mask3_c, g.mask3_u, g.mask3_v)
        self.dz3 = g.dz[:, None, None]
        self.depth_u = bc.level_sum(self.dz3 * g.mask3_u)  # resting, full cells
        self.depth_v = bc.level_sum(self.dz3 * g.mask3_v)
        self.depth_c = bc.level_sum(self.dz3 * g.mask3_c)
        # z* level fractions dz_k / H of each column (0 on land)
        self.stretch = (
            g.mask3_c * self.dz3 / jnp.where(self.depth_c > 0, self.depth_c, 1.0)
        )
        # bottom level indicator of each u/v column (for the bottom drag)
        below_u = jnp.concatenate([g.mask3_u[1:], jnp.zeros_like(g.mask3_u[:1])], 0)
        below_v = jnp.concatenate([g.mask3_v[1:], jnp.zeros_like(g.mask3_v[:1])], 0)
        self.bottom_u, self.bottom_v = g.mask3_u - below_u, g.mask3_v - below_v
        self.spacing = 0.5 * (self.dz3[1:] + self.dz3[:-1])
        inside = np.zeros(g.shape)
        inside[g.halo : g.halo + g.ny, g.halo : g.halo + g.nx] = 1
        self.inside = jnp.asarray(inside, dtype)
        if cfg.grid.kind == "sphere":
            lat_c = np.radians(row_coordinate(cfg, g))
            lat_f = lat_c - 0.5 * np.radians(
                (cfg.grid.lat_north - cfg.grid.lat_south) / cfg.grid.ny
            )
            self.tan_u = jnp.asarray(np.tan(lat_c)[:, None], dtype)
            self.tan_v = jnp.asarray(np.tan(lat_f)[:, None], dtype)
            self.radius = EARTH_RADIUS
            scale = np.cos(lat_c) ** 2 if cfg.physics.pe_scale_viscosity else 1.0
            scale_q = np.cos(lat_f) ** 2 if cfg.physics.pe_scale_viscosity else 1.0
        else:
            self.tan_u = self.tan_v = jnp.zeros((g.shape[0], 1), dtype)
            self.radius = 0.0
            scale = scale_q = np.ones(g.shape[0])
        self.scale_c = jnp.asarray(np.broadcast_to(scale, g.shape[0])[:, None], dtype)
        self.scale_q = jnp.asarray(np.broadcast_to(scale_q, g.shape[0])[:, None], dtype)
        self.forcing: SurfaceForcing = build_forcing(cfg, g, forcing_kind)

    # -- parameters and state --------------------------------------------------
    def default_params(self) -> PrimitiveParams:
        p, g, dtype = self.config.physics, self.grid, self.grid.mask_c.dtype
        field = (g.nz - 1, g.ny, g.nx) if p.learn_fields else None
        return PrimitiveParams(
            viscosity=coefficient(p.viscosity, *HORIZONTAL_BOUNDS, None, dtype),
            diffusivity=coefficient(p.diffusivity, *HORIZONTAL_BOUNDS, None, dtype),
            vertical_viscosity=coefficient(
                p.pe_vertical_viscosity, *VERTICAL_BOUNDS, field, dtype
            ),
            vertical_diffusivity=coefficient(
                p.pe_vertical_diffusivity, *VERTICAL_BOUNDS, field, dtype
            ),
        )

    def _default_initial(self) -> dict[str, np.ndarray]:
        cfg, p = self.config, self.config.physics
        g = cfg.grid
        z = np.asarray(self.grid.z_centre, np.float64)[:, None, None]
        temp = p.pe_temp_deep + (p.pe_temp_surface - p.pe_temp_deep) * np.exp(
            -z / p.pe_thermocline
        )
        shape3 = (g.nz, g.ny, g.nx)
        return {
            "u": np.zeros(shape3),
            "v": np.zeros(shape3),
            "temp": np.broadcast_to(temp, shape3),
            "salt": np.full(shape3, p.pe_salt0),
            "ssh": np.zeros((g.ny, g.nx)),
        }

    def initial_state(self) -> OceanState:
        ys, xs = self.decomposition.global_slices(self.context.rank)
        init = self._default_initial()
        if self._initial is not None:
            init.update(self._initial(self.config))
        dtype = self.grid.mask_c.dtype
        tiles = {n: jnp.asarray(np.asarray(init[n])[..., ys, xs], dtype) for n in NAMES}
        fields = self._fill(tiles)
        zeros = {n: jnp.zeros_like(fields[n]) for n in ("u", "v")}
        memory = {"previous": zeros, "started": jnp.zeros((), bool)}
        return OceanState.create(fields, memory, seed=self.config.seed)

    def _masks(self):
        g = self.grid
        return {
            "u": g.mask3_u,
            "v": g.mask3_v,
            "temp": g.mask3_c,
            "salt": g.mask3_c,
            "ssh": g.mask_c,
        }

    def _fill(self, interior_fields):
        masks = self._masks()
        padded = {n: self.grid.pad(interior_fields[n]) for n in NAMES}
        return {n: masks[n] * v for n, v in self.halo.tree(padded).items()}

    def fields(self, state) -> dict[str, jax.Array]:
        return {n: self.grid.interior(state.fields[n]) for n in NAMES}

    def with_fields(self, state, fields: dict[str, jax.Array]):
        return state.replace(fields=self._fill(fields))

    # -- the step --------------------------------------------------------------
    def _coefficients(self, params: PrimitiveParams) -> dict:
        out = {}
        for name in ("viscosity", "diffusivity"):
            leaf = getattr(params, name)
            out[name] = None if leaf is None else leaf.value()
        for name in ("vertical_viscosity", "vertical_diffusivity"):
            leaf = getattr(params, name)
            if leaf is None:
                out[name] = jnp.zeros((), self.grid.mask_c.dtype)
            elif leaf.is_field:  # u/v columns average neighbours: fill the halo
                out[name] = self.halo(self.grid.pad(leaf.value()))
            else:
                out[name] = leaf.value()
        return out

    def _baroclinic_step(self, fields, memory, coeffs, correction):
        return baroclinic_step(self, fields, memory, coeffs, correction)

    def step(self, state, params, correction=None) -> OceanState:
        """One model step: ``physics.substeps`` baroclinic steps of dt / substeps,
        with the static arrays hidden from XLA's simplifier (physics/opaque.py)
        so that every tiling compiles the same arithmetic."""
        model = opaque_constants(self)
        coeffs = model._coefficients(params)

        def one(_, carry):
            return model._baroclinic_step(*carry, coeffs, correction)

        carry = (state.fields, state.memory)
        substeps = self.config.physics.substeps
        if substeps == 1:
            fields, memory = one(0, carry)
        else:
            fields, memory = jax.lax.fori_loop(0, substeps, one, carry)
        return state.replace(fields=fields, memory=memory, step=state.step + 1)

    def tendency(self, fields, params, step=None) -> dict[str, jax.Array]:
        """The scheme's increment over one baroclinic step from ``fields`` (first
        step, so Adams-Bashforth starts as Euler), divided by its length: the
        physics tendency including the implicit and sub-cycled parts. Halo = 0."""
        memory = {
            "previous": {n: jnp.zeros_like(fields[n]) for n in ("u", "v")},
            "started": jnp.zeros((), bool),
        }
        model = opaque_constants(self)
        new, _ = model._baroclinic_step(
            fields, memory, model._coefficients(params), None
        )
        masks = model._masks()
        return {
            n: model.inside * masks[n] * (new[n] - fields[n]) / self.dt_step
            for n in NAMES
        }

    def advance(self, state, params, n_steps: int) -> OceanState:
        """``n_steps`` model steps in one lax.scan (pure; jit and donate outside)."""

        def body(s, _):
            return self.step(s, params), None

        return jax.lax.scan(body, state, None, length=n_steps)[0]

    # -- monitoring ------------------------------------------------------------
    def health(self, state) -> guard.Health:
        g, p, f = self.grid, self.config.physics, state.fields
        dt = self.dt_step
        cfl_u = jnp.abs(f["u"]) * dt / g.dx_u * g.mask3_u
        cfl_v = jnp.abs(f["v"]) * dt / g.dy_v * g.mask3_v
        # barotropic gravity waves: sqrt(g H) dts / min(dx, dy) (2-D limit ~0.7)
        dts = dt / p.pe_barotropic_substeps
        wave = jnp.sqrt(p.gravity * g.depth) * dts / jnp.minimum(g.dx_c, g.dy_c)
        return guard.health(
            [g.interior(f[n]) for n in NAMES],
            [g.interior(cfl_u), g.interior(cfl_v), g.interior(wave * g.mask_c)],
            g.offset,
            (g.global_ny, g.global_nx),
            g.nz,
            self.context,
        )

    def check(self, health: guard.Health, step: int) -> None:
        guard.check(
            health,
            step,
            NAMES,
            self.grid,
            self.config.physics.cfl_limit,
            cfl_names=("u", "v", "ssh"),
        )

    def thickness(self, ssh: jax.Array) -> jax.Array:
        """Level thicknesses (nz, ny, nx) [m] of the z* grid: dz (1 + eta / H),
        with H the resting column depth; 0 on land."""
        return self.stretch * (self.depth_c + self.grid.mask_c * ssh)

    def diagnostics(self, state) -> dict[str, jax.Array]:
        """Global volume [m3], kinetic + surface potential energy [J], heat and
        salt content [degC m3, psu m3]; all reproducibly summed."""
        g, f, ctx = self.grid, state.fields, self.context
        inner = g.interior
        h = self.thickness(f["ssh"])
        ke = (
            0.5
            * RHO0
            * (
                g.area_u * self.dz3 * g.mask3_u * f["u"] ** 2
                + g.area_v * self.dz3 * g.mask3_v * f["v"] ** 2
            )
        )
        pe = (
            0.5
            * RHO0
            * self.config.physics.gravity
            * g.area_c
            * g.mask_c
            * f["ssh"] ** 2
        )
        return {
            "volume": global_sum(inner(g.area_c * h), ctx),
            "energy": global_sum(inner(bc.level_sum(ke) + pe), ctx),
            "heat": global_sum(inner(g.area_c * h * f["temp"]), ctx),
            "salt": global_sum(inner(g.area_c * h * f["salt"]), ctx),
        }

"""Hydrostatic Boussinesq primitive equations on z-levels with a split free surface."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc import solver
from neuralogcm_hpc.config import Config, ConfigError
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.halo import Halo
from neuralogcm_hpc.parallel.reductions import global_sum
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import guard
from neuralogcm_hpc.physics.constants import RHO0
from neuralogcm_hpc.physics.core import TiledCore
from neuralogcm_hpc.physics.eos import EquationOfState
from neuralogcm_hpc.physics.forcing import SurfaceForcing, build_forcing
from neuralogcm_hpc.physics.forcing_store import read_series
from neuralogcm_hpc.physics.free_surface import cycle_length, halo_fills
from neuralogcm_hpc.physics.params import Positive, coefficient
from neuralogcm_hpc.physics.pe_geometry import PEGeometry
from neuralogcm_hpc.physics.pe_step import StepTerms, baroclinic_step
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


class PrimitiveModel(TiledCore):
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
        super().__init__(config, context, bathymetry)
        p = config.physics
        self.dt_step = config.time.dt / p.substeps  # one baroclinic step
        self.geometry = PEGeometry.build(
            config, self.grid, self.decomposition, self.context.rank, bathymetry
        )
        wide = self.geometry.barotropic
        self.bt_halo = Halo(self.decomposition, wide.width, self.context)
        # per baroclinic step: the wide exchange opening the barotropic cycle, its
        # refills, the packed 3-D exchange closing the step
        fills = halo_fills(cycle_length(p.pe_barotropic_substeps), wide.batch)
        self.exchanges_per_step = p.substeps * (fills + 1) + int(p.learn_fields)
        self.eos = EquationOfState(
            kind=p.pe_eos, alpha=p.pe_alpha, beta=p.pe_beta, gravity=p.gravity
        )
        self.forcing: SurfaceForcing = build_forcing(config, self.grid, forcing)
        # physics.forcing: records in a store replace the analytic fields in time
        self.forcing_series = None
        if p.forcing:
            self.forcing_series = read_series(
                p.forcing,
                config,
                self.grid,
                self.decomposition,
                self.context.rank,
                self.forcing,
            )
        self.terms = StepTerms(
            physics=p,
            eos=self.eos,
            forcing=self.forcing,
            dt=self.dt_step,
            exchange=self.halo.tree,
            wide_exchange=self.bt_halo.tree,
        )
        self._initial = initial

    def check_config(self, config: Config) -> None:
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
        fields = self.fill(tiles)
        zeros = {n: jnp.zeros_like(fields[n]) for n in ("u", "v")}
        memory = {"previous": zeros, "started": jnp.zeros((), bool)}
        return OceanState.create(fields, memory, seed=self.config.seed)

    def masks(self) -> dict[str, jax.Array]:
        g = self.grid
        return {
            "u": g.mask3_u,
            "v": g.mask3_v,
            "temp": g.mask3_c,
            "salt": g.mask3_c,
            "ssh": g.mask_c,
        }

    # -- the step --------------------------------------------------------------
    def _coefficients(self, params: PrimitiveParams) -> dict:
        out, fields = {}, {}
        for name in ("viscosity", "diffusivity"):
            leaf = getattr(params, name)
            out[name] = None if leaf is None else leaf.value()
        for name in ("vertical_viscosity", "vertical_diffusivity"):
            leaf = getattr(params, name)
            if leaf is None:
                out[name] = jnp.zeros((), self.grid.mask_c.dtype)
            elif leaf.is_field:  # u/v columns average neighbours: fill the halo
                fields[name] = self.grid.pad(leaf.value())
            else:
                out[name] = leaf.value()
        # all coefficient fields in one packed exchange per model step
        return {**out, **self.halo.tree(fields)}

    def forcing_at(self, step) -> SurfaceForcing:
        """The surface forcing of model step ``step`` (time step x dt)."""
        if self.forcing_series is None:
            return self.forcing
        return self.forcing_series.at(step * self.dt)

    def _step(self, state, params, correction) -> OceanState:
        """One model step: ``physics.substeps`` baroclinic steps of dt / substeps,
        under the forcing of the step's start time."""
        coeffs = self._coefficients(params)
        terms = dataclasses.replace(self.terms, forcing=self.forcing_at(state.step))

        def one(fields, memory, _):
            return baroclinic_step(
                self.geometry, terms, fields, memory, coeffs, correction
            )

        fields, memory = solver.substepped(one, self.config.physics.substeps)(
            state.fields, state.memory, state.step
        )
        return state.replace(fields=fields, memory=memory, step=state.step + 1)

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

    def diagnostics(self, state) -> dict[str, jax.Array]:
        """Global volume [m3], kinetic + surface potential energy [J], heat and
        salt content [degC m3, psu m3]; all reproducibly summed."""
        g, f, ctx = self.grid, state.fields, self.context
        inner = g.interior
        h = self.geometry.thickness(f["ssh"])
        ke = (
            0.5
            * RHO0
            * (
                g.area_u * self.geometry.dz3 * g.mask3_u * f["u"] ** 2
                + g.area_v * self.geometry.dz3 * g.mask3_v * f["v"] ** 2
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

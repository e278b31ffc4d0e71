"""Nonlinear rotating shallow water on a tiled C-grid (vector-invariant form)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc import solver
from neuralogcm_hpc.config import Config, ConfigError
from neuralogcm_hpc.grid import column_if_x_invariant, x_invariant_columns
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.reductions import global_sum
from neuralogcm_hpc.physics import guard, window
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.constants import RHO0
from neuralogcm_hpc.physics.core import TiledCore
from neuralogcm_hpc.physics.forcing import basin_coordinate, basin_wind
from neuralogcm_hpc.physics.params import Positive, coefficient
from neuralogcm_hpc.physics.window import Window
from neuralogcm_hpc.state import OceanState

# physical bounds of the learnable coefficients (the log-sigmoid map keeps them in)
VISCOSITY_BOUNDS = (1e-3, 1e6)  # m2 s-1
BIHARMONIC_BOUNDS = (1e3, 1e16)  # m4 s-1
DRAG_BOUNDS = (1e-10, 1e-4)  # s-1: spin-down times from 3 hours to 300 years


class ShallowWaterParams(eqx.Module):
    """Learnable coefficients; a None term is switched off."""

    viscosity: Positive | None  # Laplacian, m2 s-1: scalar or (ny_t, nx_t) field
    biharmonic: Positive | None  # m4 s-1: scalar
    drag: Positive | None = None  # linear drag, s-1: scalar or (ny_t, nx_t) field


class ShallowWaterModel(TiledCore):
    """Single-layer rotating shallow water with a free surface, flux form for mass:

        du/dt = + q h v - d/dx (g eta + K) + F_u - r u + tau_x / (rho0 h)
        dv/dt = - q h u - d/dy (g eta + K) + F_v - r v
        deta/dt = - div(h u),    h = H + eta,  q = (f + zeta) / h,  K = |u|^2 / 2

    on the C-grid of ``grid`` (sphere or beta plane). The q h u terms use
    Sadourny's energy-conserving average, so Coriolis and vortex force do no
    work; mass is in flux form, so total volume is conserved to round-off.
    F = nu Lap(u) - nu4 Lap(Lap(u)) in vector-invariant form, free slip.
    Land and walls close through masks (no normal flow).

    Halo: one packed exchange of (u, v, ssh) per integrator stage (the tendency
    reaches 1 cell, or 2 with the biharmonic, within ``grid.halo``); a learnable
    viscosity FIELD adds one exchange per model step. Nothing in the step reduces
    across cells, so any tiling gives bit-identical results.

    Time stepping: any ``solver`` integrator on the full tendency, or the split
    ``fb_ab3`` (the beta_plane default): the ssh update is computed one ring
    into the halo so the pressure gradient of the NEW ssh needs no second
    exchange, giving one tendency evaluation and one exchange per step. The
    stencils run on ``Window``s (physics/window.py): each result covers only
    the cells it is exact on, and only the interior is written back.

    ``initial``: callable(config) -> dict of GLOBAL numpy arrays (ny, nx) named
    "u", "v", "ssh" (u at west faces, v at south faces); None = rest.
    ``bathymetry``: global resting depth (ny, nx), None = flat ``grid.depth``.
    """

    prognostic_names = ("u", "v", "ssh")

    def __init__(
        self,
        config: Config,
        context: ParallelContext | None = None,
        bathymetry: np.ndarray | None = None,
        initial: Callable[[Config], dict] | None = None,
    ):
        super().__init__(config, context, bathymetry)
        p = config.physics
        self.integrator = solver.get_integrator(config.time.integrator)
        self.exchanges_per_step = self.integrator.stages * p.substeps + int(
            p.learn_fields and (p.viscosity > 0 or p.drag > 0)
        )
        self._initial = initial
        g = self.grid
        self._wind = self._wind_profile() if p.wind_stress else None
        any_rank = self.context.any_rank
        # the stencils read x-invariant masks and depth as columns (same values)
        self._stencil_grid = x_invariant_columns(g, any_rank)
        self._corner_weight = column_if_x_invariant(
            jax.jit(op.wet_corner_weight)(g.mask_c), any_rank  # 1 compile, not 5
        )

    def check_config(self, config: Config) -> None:
        split = solver.get_integrator(config.time.integrator).split
        p = config.physics
        # stencil reach of the tendency: 1 cell, 2 with the biharmonic; the
        # split step's pressure gradient reads the updated ssh (reach 1) one
        # ring into the halo: reach 2, whatever the friction
        need = max(2 if p.biharmonic else 1, 2 if split else 1)
        if config.grid.halo < need:
            raise ConfigError(
                f"shallow water needs grid.halo >= {need} for one exchange per stage "
                f"(biharmonic = {p.biharmonic}, time.integrator = "
                f"{config.time.integrator}); set grid.halo = {need}"
            )

    # -- parameters and state --------------------------------------------------
    def default_params(self) -> ShallowWaterParams:
        p, g, dtype = self.config.physics, self.grid, self.grid.mask_c.dtype
        field = (g.ny, g.nx) if p.learn_fields else None
        return ShallowWaterParams(
            viscosity=coefficient(p.viscosity, *VISCOSITY_BOUNDS, field, dtype),
            biharmonic=coefficient(p.biharmonic, *BIHARMONIC_BOUNDS, None, dtype),
            drag=coefficient(p.drag, *DRAG_BOUNDS, field, dtype),
        )

    def initial_state(self) -> OceanState:
        g, cfg = self.grid, self.config
        ys, xs = self.decomposition.global_slices(self.context.rank)
        fields = {}
        init = self._initial(cfg) if self._initial else {}
        for name in self.prognostic_names:
            full = init.get(name)
            tile = np.zeros((g.ny, g.nx)) if full is None else np.asarray(full)[ys, xs]
            fields[name] = jnp.asarray(tile, g.mask_c.dtype)
        fields = self.fill(fields)
        memory = self.integrator.init_memory(fields)
        return OceanState.create(fields, memory, seed=cfg.seed)

    def masks(self) -> dict[str, jax.Array]:
        g = self.grid
        return {"u": g.mask_u, "v": g.mask_v, "ssh": g.mask_c}

    # -- physics ---------------------------------------------------------------
    def _coefficients(self, params: ShallowWaterParams) -> dict:
        """Viscosities at centres and corners, drag at the faces, halos filled
        (fields: 1 exchange for all of them)."""
        out, fields = {}, {}
        for name in ("viscosity", "drag"):
            coeff = getattr(params, name)
            if coeff is not None and coeff.is_field:
                fields[name] = self.grid.pad(coeff.value())
        fields = {n: Window(x) for n, x in self.halo.tree(fields).items()}
        if params.viscosity is not None:
            nu = fields.get("viscosity", params.viscosity.value())
            if params.viscosity.is_field:
                nu_q = 0.25 * (nu + op.xm(nu) + op.ym(nu) + op.xm(op.ym(nu)))
                out["nu"] = (nu, nu_q)
            else:
                out["nu"] = (nu, nu)
        if params.drag is not None:
            r = fields.get("drag", params.drag.value())
            # a field lives at centres: the u (v) face takes its two cells' mean
            out["drag"] = (
                (op.c_to_u(r), op.c_to_v(r)) if params.drag.is_field else (r, r)
            )
        if params.biharmonic is not None:
            nu4 = params.biharmonic.value()
            out["nu4"] = (nu4, nu4)
        return out

    def _parts(self, fields, coeffs) -> tuple[dict, dict]:
        """(slow, rate) as Windows: ``slow`` the u, v tendency WITHOUT the
        surface-pressure gradient -g grad(eta) (Coriolis and vortex force, -grad K,
        friction, forcing), ``rate`` = {"ssh": -div(h u)}. Exact wherever the
        windows reach (interior plus what the halo leaves), masked for land."""
        g = self._stencil_grid
        u, v, eta = (Window(fields[n]) for n in self.prognostic_names)
        h = g.depth + g.mask_c * eta
        u_transport = op.c_to_u(h) * u * g.dy_u
        v_transport = op.c_to_v(h) * v * g.dx_v
        zeta = op.curl(u, v, g)
        h_q = op.c_to_q_masked(h, g.mask_c, self._corner_weight)
        q = (g.f_q + zeta) / window.where(h_q > 0, h_q, 1.0)
        ke = op.kinetic_energy(u, v)
        du, dv = op.coriolis_energy(q, u_transport, v_transport, g)
        du = du - op.grad_x(ke, g)
        dv = dv - op.grad_y(ke, g)
        if "nu" in coeffs:
            fu, fv = op.vector_laplacian(u, v, *coeffs["nu"], g, zeta)
            du, dv = du + fu, dv + fv
        if "nu4" in coeffs:
            lu, lv = op.vector_laplacian(u, v, 1.0, 1.0, g, zeta)
            fu, fv = op.vector_laplacian(lu, lv, *coeffs["nu4"], g)
            du, dv = du - fu, dv - fv
        if "drag" in coeffs:
            r_u, r_v = coeffs["drag"]
            du, dv = du - r_u * u, dv - r_v * v
        if self._wind is not None:
            h_u = op.c_to_u(h)
            du = du + self._wind / (RHO0 * window.where(h_u > 0, h_u, 1.0))
        deta = -op.divergence(u_transport, v_transport, g)
        return {"u": g.mask_u * du, "v": g.mask_v * dv}, {"ssh": g.mask_c * deta}

    def _pressure(self, eta) -> dict:
        """The fast momentum tendency -g grad(eta) (eta: array or Window)."""
        g, grav = self._stencil_grid, self.config.physics.gravity
        return {
            "u": -grav * g.mask_u * op.grad_x(eta, g),
            "v": -grav * g.mask_v * op.grad_y(eta, g),
        }

    def _tendency(self, fields, coeffs, correction=None) -> dict[str, jax.Array]:
        """Full tendency as interior tiles with a zero halo (land: 0)."""
        slow, rate = self._parts(fields, coeffs)
        fast = self._pressure(Window(fields["ssh"]))
        raw = {"u": slow["u"] + fast["u"], "v": slow["v"] + fast["v"], **rate}
        if correction is not None:
            raw = _plus(raw, correction(fields))
        return {n: self._tile(raw[n]) for n in self.prognostic_names}

    def _tile(self, w) -> jax.Array:
        """A Window's tile interior padded back with a zero halo (an array passes)."""
        if not isinstance(w, Window):
            return w
        return self.grid.pad(w.interior(self.grid.halo))

    def _wind_profile(self) -> jax.Array:
        """tau_x = -tau0 cos(2 pi y / Ly) at u rows (a double-gyre pattern)."""
        y, length = basin_coordinate(self.config, self.grid)
        tau = basin_wind(y, length, self.config.physics.wind_stress)
        return jnp.asarray(tau[:, None], self.grid.mask_c.dtype)

    def _step(self, state, params, correction):
        """One model step (``physics.substeps`` integrator steps of dt / substeps)."""
        coeffs = self._coefficients(params)
        substeps = self.config.physics.substeps
        dt = self.dt / substeps
        first = state.step * substeps  # steps taken before: AB3 startup, restarts
        if not self.integrator.split:
            one = self.integrator.make(
                lambda f: self._tendency(f, coeffs, correction), self.halo.tree, dt
            )
        else:
            one = self._split_step(coeffs, correction, dt)
        fields, memory = solver.substepped(one, substeps)(
            state.fields, state.memory, first
        )
        return state.replace(fields=fields, memory=memory, step=state.step + 1)

    def _split_step(self, coeffs, correction, dt):
        """The split integrator's step: the model's slow / fast / mass parts."""

        def explicit(fields):
            slow, rate = self._parts(fields, coeffs)
            late = {}
            if correction is not None:
                # the learned ssh tendency (interior only) enters after the
                # pressure gradient, which reads eta' one ring into the halo
                extra = correction(fields)
                slow = _plus(slow, extra)
                late = {n: extra[n] for n in rate if n in extra}
            return slow, rate, late

        h = self.grid.halo

        def exchange(new, old):
            """Halos refilled; a Window's interior is first written into the
            old buffer (a kept array already holds its values in place)."""
            full = {
                n: window.stored(Window(v.interior(h), (h,) * 4), old[n])
                if isinstance(v, Window)
                else v
                for n, v in new.items()
            }
            return self.halo.tree(full)

        return self.integrator.make(
            explicit,
            lambda mass: self._pressure(mass["ssh"]),
            exchange,
            dt,
            window.stored,
        )

    # -- monitoring --------------------------------------------------------------
    def health(self, state) -> guard.Health:
        g, p = self.grid, self.config.physics
        f = state.fields
        dt = self.dt / p.substeps
        c = jnp.sqrt(p.gravity * jnp.maximum(g.depth + g.mask_c * f["ssh"], 0.0))
        cfl_u = (jnp.abs(f["u"]) + op.c_to_u(c)) * dt / g.dx_u * g.mask_u
        cfl_v = (jnp.abs(f["v"]) + op.c_to_v(c)) * dt / g.dy_v * g.mask_v
        return guard.health(
            [g.interior(f[n]) for n in self.prognostic_names],
            [g.interior(cfl_u), g.interior(cfl_v)],
            g.offset,
            (g.global_ny, g.global_nx),
            1,
            self.context,
        )

    def check(self, health: guard.Health, step: int) -> None:
        guard.check(
            health,
            step,
            self.prognostic_names,
            self.grid,
            self.config.physics.cfl_limit,
        )

    def diagnostics(self, state) -> dict[str, jax.Array]:
        """Global volume (m3, resting + ssh), ssh volume anomaly (m3) and total
        energy (J / rho0 = m5 s-2), all reproducibly summed."""
        g, p, f = self.grid, self.config.physics, state.fields
        inner = g.interior
        h = g.depth + g.mask_c * f["ssh"]
        ke_u = 0.5 * g.area_u * op.c_to_u(h) * f["u"] ** 2 * g.mask_u
        ke_v = 0.5 * g.area_v * op.c_to_v(h) * f["v"] ** 2 * g.mask_v
        pe = 0.5 * p.gravity * g.area_c * g.mask_c * f["ssh"] ** 2
        ctx = self.context
        return {
            "volume": global_sum(inner(g.area_c * h * g.mask_c), ctx),
            "ssh_volume": global_sum(inner(g.area_c * g.mask_c * f["ssh"]), ctx),
            "energy": global_sum(inner(ke_u + ke_v + pe), ctx),
        }


def _plus(tendency: dict, extra: dict) -> dict:
    """``tendency`` with ``extra``'s terms added to the fields they name."""
    return {n: t + extra[n] if n in extra else t for n, t in tendency.items()}

"""One baroclinic step of the primitive-equation model, in named stages.

Every stage reads the tile's metrics from an explicit ``PEGeometry`` and the
step's settings from ``StepTerms``; none reads the model. The stages, in order
(see PrimitiveModel for the equations):

1. ``momentum_predictor``: Adams-Bashforth 2 slow terms (solver.py's
   ``adams_bashforth2``), forward-backward
   Coriolis, implicit vertical viscosity with wind stress and bottom drag;
2. ``barotropic_cycle``: the depth mean of the slow tendencies drives the
   split-explicit free surface on the wide-halo tile;
3. ``corrected_velocity``: the 3-D velocity takes the new depth mean;
4. ``tracer_step``: T and S advected by transports whose depth sum is the mean
   barotropic flux, diffused, restored at the surface, mixed vertically.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from neuralogcm_hpc import solver
from neuralogcm_hpc.config import PhysicsConfig
from neuralogcm_hpc.parallel.halo import with_halo
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.eos import EquationOfState
from neuralogcm_hpc.physics.forcing import SurfaceForcing
from neuralogcm_hpc.physics.free_surface import barotropic_substeps
from neuralogcm_hpc.physics.mixing import (
    convective_diffusivity,
    implicit_vertical_diffusion,
    richardson_mixing,
    unstable_interfaces,
)
from neuralogcm_hpc.physics.pe_geometry import PEGeometry


@dataclasses.dataclass(frozen=True, eq=False)
class StepTerms:
    """What a baroclinic step needs besides the geometry: the physics settings,
    the equation of state, the surface forcing, the step length [s] and the two
    halo exchanges (``exchange`` closes the step with one packed message of
    the 3-D fields; ``wide_exchange`` opens and refills the barotropic cycle)."""

    physics: PhysicsConfig
    eos: EquationOfState
    forcing: SurfaceForcing
    dt: float
    exchange: Callable
    wide_exchange: Callable


@dataclasses.dataclass(frozen=True)
class Predictor:
    """The momentum predictor's results: predicted velocities, the AB2 memory
    of this step's slow tendencies, the Coriolis terms it applied (their depth
    mean moves into the barotropic cycle) and the shear part of the vertical
    diffusivity (None without shear mixing)."""

    u: jax.Array
    v: jax.Array
    memory: dict  # the AB2 memory for the next step
    coriolis_u: jax.Array
    coriolis_v: jax.Array
    kappa_shear: jax.Array | None


@dataclasses.dataclass(frozen=True)
class Barotropic:
    """The barotropic cycle's results on the model tile: time-filtered (eta, U,
    V), the mean transports [m3 s-1] of the cycle, and the predictor's depth
    means that ``corrected_velocity`` replaces."""

    eta: jax.Array
    ubar: jax.Array
    vbar: jax.Array
    flux_u: jax.Array
    flux_v: jax.Array
    ubar_star: jax.Array
    vbar_star: jax.Array


def _safe(x):
    """Denominator that is x where positive and 1 elsewhere (land), so neither
    the value nor its gradient is ever 0/0."""
    return jnp.where(x > 0, x, 1.0)


# -- 1. momentum predictor ---------------------------------------------------------
def momentum_predictor(geo: PEGeometry, terms: StepTerms, fields, memory, coeffs,
                       extra) -> Predictor:
    """AB2 slow terms (advection, baroclinic pressure, viscosity, + the hybrid
    correction), Coriolis forward-backward (u with the old v, then v with the
    new u), then implicit vertical viscosity with the wind stress and quadratic
    bottom drag as boundary fluxes."""
    g, p, dz, dt = geo.grid, terms.physics, geo.dz3, terms.dt
    u, v = fields["u"], fields["v"]
    du, dv = _slow_momentum(geo, terms, fields, coeffs)
    slow, memory = solver.adams_bashforth2({"u": du, "v": dv}, memory)
    gu = slow["u"] + g.mask3_u * extra.get("u", 0.0)
    gv = slow["v"] + g.mask3_v * extra.get("v", 0.0)
    fv = bc.coriolis_at_u(v, g)
    u_star = g.mask3_u * (u + dt * (gu + fv))
    fu_star = bc.coriolis_at_v(u_star, g)
    v_star = g.mask3_v * (v + dt * (gv - fu_star))

    v_at_u = op.q_to_u(op.v_to_q(v))
    u_at_v = op.q_to_v(op.u_to_q(u))
    # 1e-20 m2 s-2 under the sqrt keeps d|u|/du finite (0, not NaN) at rest
    drag_u = p.pe_bottom_drag * (jnp.sqrt(u**2 + v_at_u**2 + 1e-20) + p.pe_tidal_speed)
    drag_v = p.pe_bottom_drag * (jnp.sqrt(v**2 + u_at_v**2 + 1e-20) + p.pe_tidal_speed)
    nu_v, kappa_shear = _shear_mixing(geo, terms, fields, coeffs)
    rho0 = terms.eos.rho0
    u_star = implicit_vertical_diffusion(
        u_star, dz, _vertical_coefficient(nu_v, op.c_to_u), geo.spacing, dt,
        g.mask3_u, terms.forcing.taux / rho0, drag_u * geo.bottom_u,
    )
    v_star = implicit_vertical_diffusion(
        v_star, dz, _vertical_coefficient(nu_v, op.c_to_v), geo.spacing, dt,
        g.mask3_v, terms.forcing.tauy / rho0, drag_v * geo.bottom_v,
    )
    return Predictor(u_star, v_star, memory, fv, fu_star, kappa_shear)


def _slow_momentum(geo, terms, fields, coeffs):
    """Advection, baroclinic pressure gradient, horizontal viscosity at time n:
    the Adams-Bashforth part of the momentum equation."""
    g, p, dz = geo.grid, terms.physics, geo.dz3
    u, v, temp, salt = fields["u"], fields["v"], fields["temp"], fields["salt"]
    rho = g.mask3_c * terms.eos.anomaly(temp, salt, g.z_centre[:, None, None])
    pressure = bc.hydrostatic_pressure(rho, g.dz, p.gravity, terms.eos.rho0)
    transports = (u * g.dy_u * dz * g.mask3_u, v * g.dx_v * dz * g.mask3_v)
    w = _zstar_velocity(geo, g.mask3_c * op.divergence(*transports, g))
    du, dv = bc.momentum_advection(
        u, v, transports, w, dz, geo.levels, geo.tan_q, geo.radius
    )
    du = du - g.mask3_u * op.grad_x(pressure, g)
    dv = dv - g.mask3_v * op.grad_y(pressure, g)
    if coeffs["viscosity"] is not None:
        nu = coeffs["viscosity"]
        fu, fv = op.vector_laplacian(
            u, v, nu * geo.scale_c, nu * geo.scale_q, geo.levels
        )
        du, dv = du + fu, dv + fv
    return du, dv


def _zstar_velocity(geo, div):
    """Vertical velocity across z* surfaces (z* = H (z - eta) / (H + eta)): the
    column's net convergence stretches every level in proportion to dz_k / H, so
    only the baroclinic part of the divergence crosses levels. Barotropic waves
    then do not heave the stratification; with a free top level alone they did,
    and that heave's pressure, sampled once per baroclinic step, amplified the
    barotropic seiches (~0.2 % per step in a 12-cell basin)."""
    total = bc.level_sum(div)
    return bc.vertical_velocity(div - geo.stretch * total)


def _vertical_coefficient(value, to_face):
    """A vertical coefficient at u or v columns: scalars pass, fields average."""
    return to_face(value) if jnp.ndim(value) == 3 else value


# -- 2. barotropic cycle -----------------------------------------------------------
def barotropic_cycle(geo: PEGeometry, terms: StepTerms, fields,
                     pred: Predictor) -> Barotropic:
    """The depth mean of the predictor's slow tendencies (its depth-mean
    Coriolis moved into the sub-steps) drives ``pe_barotropic_substeps``
    forward-backward sub-steps of (eta, U, V); they come back time-filtered."""
    g, dz, dt = geo.grid, geo.dz3, terms.dt
    hu, hv = _safe(geo.depth_u), _safe(geo.depth_v)
    ubar = bc.level_sum(dz * g.mask3_u * fields["u"]) / hu
    vbar = bc.level_sum(dz * g.mask3_v * fields["v"]) / hv
    ubar_star = bc.level_sum(dz * g.mask3_u * pred.u) / hu
    vbar_star = bc.level_sum(dz * g.mask3_v * pred.v) / hv
    coriolis_u = bc.level_sum(dz * g.mask3_u * pred.coriolis_u) / hu
    coriolis_v = -bc.level_sum(dz * g.mask3_v * pred.coriolis_v) / hv
    forcing_u = g.mask_u * ((ubar_star - ubar) / dt - coriolis_u)
    forcing_v = g.mask_v * ((vbar_star - vbar) / dt - coriolis_v)
    eta, ubar_new, vbar_new, flux_u, flux_v = _wide_cycle(
        geo, terms, (fields["ssh"], ubar, vbar, forcing_u, forcing_v)
    )
    return Barotropic(eta, ubar_new, vbar_new, flux_u, flux_v, ubar_star, vbar_star)


def _wide_cycle(geo, terms, state_and_forcing):
    """The tile interiors of (eta, U, V, G_u, G_v) go out in ONE packed exchange
    of the wide halo, the sub-steps run (refilling only if the halo is narrower
    than the cycle needs), and (eta, U, V, mean transports) come back on the
    model's tile, valid on its first halo ring."""
    g, p, wide = geo.grid, terms.physics, geo.barotropic
    pad = wide.width - g.halo
    packed = terms.wide_exchange(
        tuple(with_halo(g.interior(a), wide.width) for a in state_and_forcing)
    )
    out = barotropic_substeps(
        *packed,
        wide.depth_u,
        wide.depth_v,
        wide.grid,
        p.gravity,
        terms.dt,
        p.pe_barotropic_substeps,
        terms.wide_exchange,
        wide.batch,
    )
    if pad == 0:
        return out
    return tuple(a[..., pad:-pad, pad:-pad] for a in out)


# -- 3. velocity correction --------------------------------------------------------
def corrected_velocity(geo: PEGeometry, pred: Predictor, bt: Barotropic):
    """(u, v) with the predictor's depth mean replaced by the cycle's."""
    g = geo.grid
    u = g.mask3_u * (pred.u - bt.ubar_star + bt.ubar)
    v = g.mask3_v * (pred.v - bt.vbar_star + bt.vbar)
    return u, v


# -- 4. tracers --------------------------------------------------------------------
def tracer_step(geo: PEGeometry, terms: StepTerms, fields, velocity, eta_new,
                bt: Barotropic, coeffs, kappa_shear, extra) -> dict:
    """T and S over the step: flux-limited advection by transports whose depth
    sum is the mean barotropic flux (volume and tracer content conserved to
    round-off), horizontal diffusion, the hybrid correction, then surface
    restoring and implicit vertical diffusion (convective where unstable);
    ``eta_new`` sets the new level thicknesses."""
    g, dz, dt = geo.grid, geo.dz3, terms.dt
    hu, hv = _safe(geo.depth_u), _safe(geo.depth_v)
    u_new, v_new = velocity
    tu = g.mask3_u * (u_new - bt.ubar + bt.flux_u / (hu * g.dy_u)) * g.dy_u * dz
    tv = g.mask3_v * (v_new - bt.vbar + bt.flux_v / (hv * g.dx_v)) * g.dx_v * dz
    w = _zstar_velocity(geo, g.mask3_c * op.divergence(tu, tv, g))
    h_old, h_new = geo.thickness(fields["ssh"]), geo.thickness(eta_new)
    kh = coeffs["diffusivity"]
    tracers = {}
    for name in ("temp", "salt"):
        c = fields[name]
        change = bc.tracer_advection(c, tu, tv, w, dt, g, dz)
        if kh is not None:
            change = change + bc.horizontal_diffusion(
                c, kh * geo.scale_c, dz, geo.levels
            )
        if name in extra:
            change = change + h_old * extra[name]
        tracers[name] = g.mask3_c * (h_old * c + dt * change) / _safe(h_new)
    kappa = _vertical_diffusivity(geo, terms, tracers, coeffs, kappa_shear)
    flux_t = flux_s = None
    forcing = terms.forcing
    if forcing.has_tracer_fluxes:
        flux_t, flux_s = forcing.tracer_fluxes(tracers["temp"][0], tracers["salt"][0])
    return {
        "temp": implicit_vertical_diffusion(
            tracers["temp"], h_new, kappa, geo.spacing, dt, g.mask3_c, flux_t
        ),
        "salt": implicit_vertical_diffusion(
            tracers["salt"], h_new, kappa, geo.spacing, dt, g.mask3_c, flux_s
        ),
    }


# -- the step ----------------------------------------------------------------------
def baroclinic_step(geo: PEGeometry, terms: StepTerms, fields, memory, coeffs,
                    correction):
    """(fields, memory) -> (fields, memory) over ``terms.dt``; halos filled on
    input and output (one packed exchange closes the step)."""
    extra = correction(fields) if correction is not None else {}
    pred = momentum_predictor(geo, terms, fields, memory, coeffs, extra)
    bt = barotropic_cycle(geo, terms, fields, pred)
    u_new, v_new = corrected_velocity(geo, pred, bt)
    eta_new = bt.eta
    if "ssh" in extra:  # a hybrid correction of ssh adds volume: not conserved
        eta_new = eta_new + terms.dt * geo.grid.mask_c * extra["ssh"]
    tracers = tracer_step(
        geo, terms, fields, (u_new, v_new), eta_new, bt, coeffs, pred.kappa_shear,
        extra,
    )
    out = terms.exchange({"u": u_new, "v": v_new, **tracers, "ssh": eta_new})
    return out, pred.memory


# -- vertical mixing ---------------------------------------------------------------
def _interface_densities(geo, eos, temp, salt):
    """Density anomalies of the cells above and below each interface, both
    referenced to the interface depth (locally referenced potential density)."""
    depth = geo.grid.z_bottom[:-1, None, None]
    return (
        eos.anomaly(temp[:-1], salt[:-1], depth),
        eos.anomaly(temp[1:], salt[1:], depth),
    )


def _shear_mixing(geo, terms, fields, coeffs):
    """(vertical viscosity at centre interfaces, shear part of the diffusivity)
    from the state at time n: background + Pacanowski-Philander shear mixing
    (physics.pe_shear_viscosity > 0), else the background and None. Reach 1
    (face velocities averaged to centres); the caller averages to faces."""
    g, p = geo.grid, terms.physics
    background = coeffs["vertical_viscosity"]
    if p.pe_shear_viscosity <= 0:
        return background, None
    upper, lower = _interface_densities(geo, terms.eos, fields["temp"], fields["salt"])
    n2 = p.gravity * (lower - upper) / (terms.eos.rho0 * geo.spacing)
    uc = op.u_to_c(fields["u"] * g.mask3_u)
    vc = op.v_to_c(fields["v"] * g.mask3_v)
    shear2 = ((uc[:-1] - uc[1:]) ** 2 + (vc[:-1] - vc[1:]) ** 2) / geo.spacing**2
    nu, kappa = richardson_mixing(n2, shear2, p.pe_shear_viscosity)
    wet = g.mask3_c[1:]  # interfaces above a wet cell
    return background + wet * nu, wet * kappa


def _vertical_diffusivity(geo, terms, tracers, coeffs, kappa_shear=None):
    """Background (+ shear) diffusivity, raised to the convective value at
    interfaces whose upper cell is denser than the lower one (both referenced to
    the interface)."""
    p = terms.physics
    background = coeffs["vertical_diffusivity"]
    if kappa_shear is not None:
        background = background + kappa_shear
    if p.pe_convective_diffusivity <= 0:
        return background
    upper, lower = _interface_densities(
        geo, terms.eos, tracers["temp"], tracers["salt"]
    )
    unstable = unstable_interfaces(upper, lower) * geo.grid.mask3_c[1:]
    return convective_diffusivity(background, p.pe_convective_diffusivity, unstable)

"""One baroclinic step of the primitive-equation model (see PrimitiveModel)."""

from __future__ import annotations

import jax.numpy as jnp

from neuralogcm_hpc.parallel.halo import with_halo
from neuralogcm_hpc.physics import baroclinic as bc
from neuralogcm_hpc.physics import operators as op
from neuralogcm_hpc.physics.free_surface import barotropic_substeps
from neuralogcm_hpc.physics.mixing import (
    convective_diffusivity,
    implicit_vertical_diffusion,
    richardson_mixing,
    unstable_interfaces,
)


def _safe(x):
    """Denominator that is x where positive and 1 elsewhere (land), so neither
    the value nor its gradient is ever 0/0."""
    return jnp.where(x > 0, x, 1.0)


def _slow_momentum(m, fields, coeffs):
    """Advection, baroclinic pressure gradient, horizontal viscosity (+ hybrid
    correction) at time n: the Adams-Bashforth part of the momentum equation."""
    g, p, dz = m.grid, m.config.physics, m.dz3
    u, v, temp, salt = fields["u"], fields["v"], fields["temp"], fields["salt"]
    rho = g.mask3_c * m.eos.anomaly(temp, salt, g.z_centre[:, None, None])
    pressure = bc.hydrostatic_pressure(rho, g.dz, p.gravity, m.eos.rho0)
    div = g.mask3_c * op.divergence(
        u * g.dy_u * dz * g.mask3_u, v * g.dx_v * dz * g.mask3_v, g
    )
    w = _zstar_velocity(m, div)
    du, dv = bc.momentum_advection(u, v, w, dz, m.g3, m.tan_u, m.tan_v, m.radius)
    du = du - g.mask3_u * op.grad_x(pressure, g)
    dv = dv - g.mask3_v * op.grad_y(pressure, g)
    if coeffs["viscosity"] is not None:
        nu = coeffs["viscosity"]
        fu, fv = op.vector_laplacian(u, v, nu * m.scale_c, nu * m.scale_q, m.g3)
        du, dv = du + fu, dv + fv
    return du, dv


def _zstar_velocity(m, div):
    """Vertical velocity across z* surfaces (z* = H (z - eta) / (H + eta)): the
    column's net convergence stretches every level in proportion to dz_k / H, so
    only the baroclinic part of the divergence crosses levels. Barotropic waves
    then do not heave the stratification; with a free top level alone they did,
    and that heave's pressure, sampled once per baroclinic step, amplified the
    barotropic seiches (~0.2 % per step in a 12-cell basin)."""
    total = bc.level_sum(div)
    return bc.vertical_velocity(div - m.stretch * total)


def _barotropic(m, state_and_forcing):
    """The barotropic cycle on the wide-halo tile (see PrimitiveModel): the tile
    interiors of (eta, U, V, G_u, G_v) go out in ONE packed exchange of the wide
    halo, the sub-steps run (refilling only if the halo is narrower than the
    cycle needs), and (eta, U, V, mean transports) come back on the model's
    tile, valid on its first halo ring."""
    g, p, wide = m.grid, m.config.physics, m.bt_grid
    pad = m.bt_width - g.halo
    packed = m.bt_halo.tree(
        tuple(with_halo(g.interior(a), m.bt_width) for a in state_and_forcing)
    )
    out = barotropic_substeps(
        *packed,
        m.bt_depth_u,
        m.bt_depth_v,
        wide,
        p.gravity,
        m.dt_step,
        p.pe_barotropic_substeps,
        m.bt_halo.tree,
        m.bt_batch,
    )
    if pad == 0:
        return out
    return tuple(a[..., pad:-pad, pad:-pad] for a in out)


def _vertical_coefficient(value, to_face):
    """A vertical coefficient at u or v columns: scalars pass, fields average."""
    return to_face(value) if jnp.ndim(value) == 3 else value


def baroclinic_step(m, fields, memory, coeffs, correction):
    """(fields, memory) -> (fields, memory) over dt = m.dt_step; halos filled on
    input and output."""
    g, p, dz, dt = m.grid, m.config.physics, m.dz3, m.dt_step
    u, v, eta = fields["u"], fields["v"], fields["ssh"]
    extra = correction(fields) if correction is not None else {}

    # 1. momentum predictor: AB2 slow terms, forward-backward Coriolis
    du, dv = _slow_momentum(m, fields, coeffs)
    started = memory["started"]
    prev_u = jnp.where(started, memory["previous"]["u"], du)
    prev_v = jnp.where(started, memory["previous"]["v"], dv)
    gu = 1.5 * du - 0.5 * prev_u + g.mask3_u * extra.get("u", 0.0)
    gv = 1.5 * dv - 0.5 * prev_v + g.mask3_v * extra.get("v", 0.0)
    fv = bc.coriolis_at_u(v, g)
    u_star = g.mask3_u * (u + dt * (gu + fv))
    fu_star = bc.coriolis_at_v(u_star, g)
    v_star = g.mask3_v * (v + dt * (gv - fu_star))

    # implicit vertical viscosity with wind stress and quadratic bottom drag
    v_at_u = op.q_to_u(op.v_to_q(v))
    u_at_v = op.q_to_v(op.u_to_q(u))
    # 1e-20 m2 s-2 under the sqrt keeps d|u|/du finite (0, not NaN) at rest
    drag_u = p.pe_bottom_drag * (jnp.sqrt(u**2 + v_at_u**2 + 1e-20) + p.pe_tidal_speed)
    drag_v = p.pe_bottom_drag * (jnp.sqrt(v**2 + u_at_v**2 + 1e-20) + p.pe_tidal_speed)
    nu_v, kappa_shear = _shear_mixing(m, fields, coeffs)
    rho0 = m.eos.rho0
    u_star = implicit_vertical_diffusion(
        u_star,
        dz,
        _vertical_coefficient(nu_v, op.c_to_u),
        m.spacing,
        dt,
        g.mask3_u,
        m.forcing.taux / rho0,
        drag_u * m.bottom_u,
    )
    v_star = implicit_vertical_diffusion(
        v_star,
        dz,
        _vertical_coefficient(nu_v, op.c_to_v),
        m.spacing,
        dt,
        g.mask3_v,
        m.forcing.tauy / rho0,
        drag_v * m.bottom_v,
    )

    # 2. free surface: the depth mean of the slow tendencies drives (eta, U)
    hu, hv = _safe(m.depth_u), _safe(m.depth_v)
    ubar = bc.level_sum(dz * g.mask3_u * u) / hu
    vbar = bc.level_sum(dz * g.mask3_v * v) / hv
    ubar_star = bc.level_sum(dz * g.mask3_u * u_star) / hu
    vbar_star = bc.level_sum(dz * g.mask3_v * v_star) / hv
    # the depth-mean Coriolis of the predictor moves into the sub-steps
    coriolis_u = bc.level_sum(dz * g.mask3_u * fv) / hu
    coriolis_v = -bc.level_sum(dz * g.mask3_v * fu_star) / hv
    forcing_u = g.mask_u * ((ubar_star - ubar) / dt - coriolis_u)
    forcing_v = g.mask_v * ((vbar_star - vbar) / dt - coriolis_v)
    # (eta, U) come back time-filtered (free_surface.barotropic_substeps)
    eta_new, ubar_new, vbar_new, flux_u, flux_v = _barotropic(
        m, (eta, ubar, vbar, forcing_u, forcing_v)
    )
    u_new = g.mask3_u * (u_star - ubar_star + ubar_new)
    v_new = g.mask3_v * (v_star - vbar_star + vbar_new)
    if "ssh" in extra:  # a hybrid correction of ssh adds volume: not conserved
        eta_new = eta_new + dt * g.mask_c * extra["ssh"]

    # 3. tracers, advected by transports whose depth sum is the mean barotropic flux
    tu = g.mask3_u * (u_new - ubar_new + flux_u / (hu * g.dy_u)) * g.dy_u * dz
    tv = g.mask3_v * (v_new - vbar_new + flux_v / (hv * g.dx_v)) * g.dx_v * dz
    w = _zstar_velocity(m, g.mask3_c * op.divergence(tu, tv, g))
    h_old, h_new = m.thickness(eta), m.thickness(eta_new)
    kh = coeffs["diffusivity"]
    tracers = {}
    for name in ("temp", "salt"):
        c = fields[name]
        change = bc.tracer_advection(c, tu, tv, w, dt, g, dz)
        if kh is not None:
            change = change + bc.horizontal_diffusion(c, kh * m.scale_c, dz, m.g3)
        if name in extra:
            change = change + h_old * extra[name]
        tracers[name] = g.mask3_c * (h_old * c + dt * change) / _safe(h_new)
    kappa = _vertical_diffusivity(m, tracers, coeffs, kappa_shear)
    flux_t = flux_s = None
    if m.forcing.piston > 0:
        flux_t, flux_s = m.forcing.tracer_fluxes(tracers["temp"][0], tracers["salt"][0])
    out = {
        "u": u_new,
        "v": v_new,
        "temp": implicit_vertical_diffusion(
            tracers["temp"], h_new, kappa, m.spacing, dt, g.mask3_c, flux_t
        ),
        "salt": implicit_vertical_diffusion(
            tracers["salt"], h_new, kappa, m.spacing, dt, g.mask3_c, flux_s
        ),
        "ssh": eta_new,
    }
    out = m.halo.tree(out)
    return out, {"previous": {"u": du, "v": dv}, "started": jnp.ones((), bool)}


def _interface_densities(m, temp, salt):
    """Density anomalies of the cells above and below each interface, both
    referenced to the interface depth (locally referenced potential density)."""
    depth = m.grid.z_bottom[:-1, None, None]
    return (
        m.eos.anomaly(temp[:-1], salt[:-1], depth),
        m.eos.anomaly(temp[1:], salt[1:], depth),
    )


def _shear_mixing(m, fields, coeffs):
    """(vertical viscosity at centre interfaces, shear part of the diffusivity)
    from the state at time n: background + Pacanowski-Philander shear mixing
    (physics.pe_shear_viscosity > 0), else the background and None. Reach 1
    (face velocities averaged to centres); the caller averages to faces."""
    g, p = m.grid, m.config.physics
    background = coeffs["vertical_viscosity"]
    if p.pe_shear_viscosity <= 0:
        return background, None
    upper, lower = _interface_densities(m, fields["temp"], fields["salt"])
    n2 = p.gravity * (lower - upper) / (m.eos.rho0 * m.spacing)
    uc = op.u_to_c(fields["u"] * g.mask3_u)
    vc = op.v_to_c(fields["v"] * g.mask3_v)
    shear2 = ((uc[:-1] - uc[1:]) ** 2 + (vc[:-1] - vc[1:]) ** 2) / m.spacing**2
    nu, kappa = richardson_mixing(n2, shear2, p.pe_shear_viscosity)
    wet = g.mask3_c[1:]  # interfaces above a wet cell
    return background + wet * nu, wet * kappa


def _vertical_diffusivity(m, tracers, coeffs, kappa_shear=None):
    """Background (+ shear) diffusivity, raised to the convective value at
    interfaces whose upper cell is denser than the lower one (both referenced to
    the interface)."""
    p = m.config.physics
    background = coeffs["vertical_diffusivity"]
    if kappa_shear is not None:
        background = background + kappa_shear
    if p.pe_convective_diffusivity <= 0:
        return background
    upper, lower = _interface_densities(m, tracers["temp"], tracers["salt"])
    unstable = unstable_interfaces(upper, lower) * m.grid.mask3_c[1:]
    return convective_diffusivity(background, p.pe_convective_diffusivity, unstable)

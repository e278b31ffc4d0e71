"""Momentum budget of one u point of `global` (the high-latitude jet diagnosis).

Usage: python benchmarks/coriolis_budget.py [--plain] [--days 2.5]
           [--point 11 51 57] [--steps 3]
Runs the 3-degree `global` (real coastlines; dt x 2, viscosity x 4) from rest
for --days, then for --steps steps prints the change [m s-1 per step] of u at
(level, j, i) by term: advection, baroclinic pressure gradient, horizontal
viscosity, 3-D Coriolis, the rest of the predictor (vertical viscosity, drag,
AB2 extrapolation), the barotropic correction U_new - U*, the total; and the
barotropic Coriolis there three ways: the depth mean of the per-level 3-D term,
the plain f avg(V), the depth-weighted form. --plain runs with the plain
f avg(V) barotropic Coriolis (the code before the fix), as
benchmarks/results/global_coastlines.md did.
"""

from __future__ import annotations

import argparse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--days", type=float, default=2.5)
    parser.add_argument("--point", type=int, nargs=3, default=(11, 51, 57))
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from neuralogcm_hpc.cases import build_model, case_config
    from neuralogcm_hpc.parallel.context import ParallelContext
    from neuralogcm_hpc.physics import baroclinic as bc
    from neuralogcm_hpc.physics import free_surface as fs
    from neuralogcm_hpc.physics import operators as op
    from neuralogcm_hpc.physics import pe_step as ps

    weighted = fs.DepthWeightedCoriolis.build
    if args.plain:  # unit weights: C_u = f avg(V), the form before the fix

        def plain(cls, depth_u, depth_v, grid):
            one = jnp.ones_like(depth_u)
            return cls(one, one, one, one, one, one, grid)

        fs.DepthWeightedCoriolis.build = classmethod(plain)
    base = case_config("global")
    cfg = base.replace(
        **{
            "grid.nx": 120,
            "grid.ny": 53,
            "time.dt": 2 * base.time.dt,
            "physics.viscosity": 4 * base.physics.viscosity,
            "grid.coastlines": "globe",
        }
    )
    serial = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    model = build_model(cfg, serial)
    state, params = model.initial_state(), model.default_params()
    steps = round(args.days * 86400 / model.dt)
    state = jax.jit(lambda s, p: model.advance(s, p, steps))(state, params)
    one = jax.jit(lambda s, p: model.advance(s, p, 1))
    geo, terms = model.geometry, model.terms
    g, dz, dt = geo.grid, geo.dz3, terms.dt
    k, j, i = args.point
    at = (k, j + g.halo, i + g.halo)
    print(
        f"u point level {k}, {float(g.y_c[j]):.1f}N {float(g.x_u[i]):.1f}E; "
        f"H_u {float(geo.depth_u[at[1:]]):.0f} m"
    )
    for n in range(args.steps):
        f, coeffs = state.fields, model._coefficients(params)
        u, v = f["u"], f["v"]
        rho = g.mask3_c * terms.eos.anomaly(
            f["temp"], f["salt"], g.z_centre[:, None, None]
        )
        pressure = bc.hydrostatic_pressure(
            rho, g.dz, terms.physics.gravity, terms.eos.rho0
        )
        transports = (u * g.dy_u * dz * g.mask3_u, v * g.dx_v * dz * g.mask3_v)
        w = ps._zstar_velocity(geo, g.mask3_c * op.divergence(*transports, g))
        adv, _ = bc.momentum_advection(
            u, v, transports, w, dz, geo.levels, geo.tan_q, geo.radius
        )
        nu = coeffs["viscosity"]
        visc, _ = op.vector_laplacian(
            u, v, nu * geo.scale_c, nu * geo.scale_q, geo.levels
        )
        parts = {
            "advection": dt * adv[at],
            "pressure": -dt * (g.mask3_u * op.grad_x(pressure, g))[at],
            "viscosity": dt * visc[at],
            "coriolis": dt * bc.coriolis_at_u(v, g)[at],
        }
        pred = ps.momentum_predictor(geo, terms, f, state.memory, coeffs, {})
        bt = ps.barotropic_cycle(geo, terms, f, pred)
        u_new, _ = ps.corrected_velocity(geo, pred, bt)
        parts["vertical+AB2"] = (pred.u - u)[at] - sum(parts.values())
        parts["barotropic"] = (bt.ubar - bt.ubar_star)[at[1:]]
        parts["total"] = (u_new - u)[at]
        print(
            f"step {n}: u {float(u[at]):+.3f} m/s; per step: "
            + ", ".join(f"{name} {float(x):+.4f}" for name, x in parts.items())
        )
        state = one(state, params)
    # the barotropic Coriolis at the point, three ways [m s-1 per hour]
    v = state.fields["v"]
    safe = lambda h: jnp.where(h > 0, h, 1.0)  # noqa: E731
    vbar = bc.level_sum(dz * g.mask3_v * v) / safe(geo.depth_v)
    level_mean = bc.level_sum(dz * g.mask3_u * bc.coriolis_at_u(g.mask3_v * v, g))
    ways = {
        "depth mean of the 3-D term": level_mean / safe(geo.depth_u),
        "plain f avg(V)": op.q_to_u(g.f_q * op.v_to_q(vbar * g.dx_v)) * g.rdx_u,
        "depth-weighted": weighted(geo.depth_u, geo.depth_v, g).at_u(vbar),
    }
    for name, c in ways.items():
        print(
            f"barotropic Coriolis, {name}: {3600 * float(c[at[1:]]):+.4f} m/s per hour"
        )


if __name__ == "__main__":
    main()

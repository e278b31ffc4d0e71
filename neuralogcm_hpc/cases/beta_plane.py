"""Case beta_plane: nonlinear shallow water in a zonally periodic beta-plane channel."""

from __future__ import annotations

import numpy as np

from neuralogcm_hpc.cases.case import Case
from neuralogcm_hpc.config import Config
from neuralogcm_hpc.grid import global_coordinates


def config() -> Config:
    """360 x 180 cells of 5 km, H = 100 m, f0 = 2e-4 s-1, beta = 2e-11 m-1 s-1.

    Gravity waves: c = sqrt(g H) = 31.3 m/s, so c dt / dx = 0.38 at dt = 60 s
    and the fastest C-grid wave has omega dt = 2 sqrt(2) c dt / dx = 1.06:
    forward-backward (``fb_ab3``, stable to omega dt < 2) takes it with one
    tendency evaluation and one halo exchange per step; AB2 cannot (it
    amplifies every oscillation, by (omega dt)^4 / 4 per step), SSP-RK3 can at
    three times the cost (``time.integrator = rk3``). Rossby radius
    c / f0 = 157 km = 31 cells; the 50 km jet is barotropically
    unstable on the beta plane and sheds eddies within days.
    """
    return Config().replace(
        **{
            "case": "beta_plane",
            "grid.kind": "beta_plane",
            "grid.nx": 360,
            "grid.ny": 180,
            "grid.dx": 5e3,
            "grid.dy": 5e3,
            "grid.depth": 100.0,
            "grid.periodic_x": True,
            "grid.periodic_y": False,
            "grid.halo": 2,
            "physics.mode": "shallow_water",
            "physics.f0": 2e-4,
            "physics.beta": 2e-11,
            "physics.viscosity": 20.0,
            "physics.initial": "jet",
            "physics.ic_amplitude": 1.0,
            "physics.ic_width": 50e3,
            "time.dt": 60.0,
            "time.integrator": "fb_ab3",
            "time.steps": 1440,
            "time.steps_per_call": 120,
        }
    )


def small_config() -> Config:
    """The quick default: 128 x 64 cells of the same channel physics, 200 steps.

    128 x 64 tiles evenly over 1, 2 and 4 ranks (and 8)."""
    return config().replace(
        **{
            "case": "beta_plane_small",
            "grid.nx": 128,
            "grid.ny": 64,
            "time.steps": 200,
            "time.steps_per_call": 50,
        }
    )


def _coriolis(config: Config, y: np.ndarray) -> np.ndarray:
    return config.physics.f0 + config.physics.beta * (
        y - 0.5 * config.grid.ny * config.grid.dy
    )


def jet(config: Config) -> dict[str, np.ndarray]:
    """Geostrophic zonal jet: ssh = -A/2 tanh((y - y_mid) / L), u = -(g/f) dssh/dy
    (analytic derivative at the u rows), v = 0; plus a 1% wave-4 ssh ripple that
    seeds the jet's instability deterministically (same on any tiling)."""
    c, g = global_coordinates(config), config.grid
    amp, width, grav = (
        config.physics.ic_amplitude,
        config.physics.ic_width,
        config.physics.gravity,
    )
    y_mid, lx = 0.5 * g.ny * g.dy, g.nx * g.dx
    s = (c["y_c"] - y_mid) / width
    ssh = -0.5 * amp * np.tanh(s)[:, None] * np.ones(g.nx)
    ripple = np.sin(2 * np.pi * 4 * c["x_c"] / lx)[None, :] * np.exp(-s * s)[:, None]
    ssh = ssh + 0.01 * amp * ripple
    dssh_dy = -0.5 * amp / width / np.cosh(s) ** 2
    u = -grav / _coriolis(config, c["y_c"]) * dssh_dy
    return {"u": u[:, None] * np.ones(g.nx), "v": np.zeros((g.ny, g.nx)), "ssh": ssh}


def bump(config: Config) -> dict[str, np.ndarray]:
    """Geostrophic Gaussian ssh bump in mid-domain: ssh = A exp(-r^2 / (2 L^2)),
    u = -(g/f) dssh/dy at u points, v = (g/f) dssh/dx at v points (analytic)."""
    c, g, p = global_coordinates(config), config.grid, config.physics
    amp, width = p.ic_amplitude, p.ic_width
    x0, y0 = 0.5 * g.nx * g.dx, 0.5 * g.ny * g.dy

    def gauss(x, y):
        return amp * np.exp(
            -((x[None, :] - x0) ** 2 + (y[:, None] - y0) ** 2) / (2 * width**2)
        )

    ssh = gauss(c["x_c"], c["y_c"])
    at_u = gauss(c["x_u"], c["y_c"])
    at_v = gauss(c["x_c"], c["y_v"])
    dssh_dy_u = -at_u * (c["y_c"][:, None] - y0) / width**2
    dssh_dx_v = -at_v * (c["x_c"][None, :] - x0) / width**2
    u = -p.gravity / _coriolis(config, c["y_c"])[:, None] * dssh_dy_u
    v = p.gravity / _coriolis(config, c["y_v"])[:, None] * dssh_dx_v
    return {"u": u, "v": v, "ssh": ssh}


CASES = (Case("beta_plane", config), Case("beta_plane_small", small_config))
INITIAL_CONDITIONS = {"jet": jet, "bump": bump}

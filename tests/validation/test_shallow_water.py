"""Shallow-water validation: Williamson 2, gravity-wave speed, conservation,
adjoint vs finite differences, stability guard."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import INITIAL_CONDITIONS, case_config
from neuralogcm_hpc.cases.williamson2 import exact
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.physics.guard import StabilityError
from neuralogcm_hpc.physics.shallow_water import ShallowWaterModel

SERIAL = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)


def model(config, bathymetry=None):
    init = INITIAL_CONDITIONS[config.physics.initial]
    return ShallowWaterModel(config, SERIAL, bathymetry=bathymetry, initial=init)


def run(m, n_steps, params=None):
    params = m.default_params() if params is None else params
    return jax.jit(m.advance, static_argnums=2)(m.initial_state(), params, n_steps)


# -- Williamson et al. (1992) test case 2 ------------------------------------------
def williamson2_error(nx: int, days: float) -> float:
    """Normalised l2 height error, Williamson's I2 = sqrt(sum A (h - hT)^2 /
    sum A hT^2), after ``days`` on an nx x (4 nx / 9) grid (equal spacing in lon
    and lat on 80S-80N); dt halves with the spacing (CFL ~ 0.45 throughout)."""
    dt = 120.0 * 144 / nx
    cfg = case_config("williamson2").replace(
        **{"grid.nx": nx, "grid.ny": nx * 4 // 9, "time.dt": dt}
    )
    m = model(cfg)
    state = run(m, int(round(days * 86400 / dt)))
    g = m.grid
    h = np.asarray(g.interior(g.depth + state.fields["ssh"]))
    h_true = cfg.grid.depth + exact(cfg)["ssh"]
    area = np.asarray(g.interior(g.area_c * jnp.ones(g.shape)))
    return math.sqrt((area * (h - h_true) ** 2).sum() / (area * h_true**2).sum())


def test_williamson2_one_day_coarse():
    """CI version: 10 and 5 degree grids, 1 day (measured 8.8e-4 and 2.2e-4,
    order 2.03). Threshold 5e-4 at 5 degrees: the published order for
    second-order lat-lon / C-grid models is l2(h) ~ 1e-4..1e-3 at 2.5-5 degrees
    (Williamson et al. 1992 suite); 0.3 of slack on the order for the
    pre-asymptotic 10 degree grid."""
    coarse, fine = williamson2_error(36, 1.0), williamson2_error(72, 1.0)
    assert fine < 5e-4
    assert abs(math.log2(coarse / fine) - 2.0) < 0.3, (coarse, fine)


@pytest.mark.slow
def test_williamson2_five_days_converges_at_second_order():
    """5 days at 5, 2.5, 1.25 degrees (measured 1.9e-4, 4.8e-5 at the first two:
    order 1.99): l2(h) below 1e-4 at 2.5 degrees and the
    observed order log2(e(2h) / e(h)) within 0.3 of 2 (second-order operators)."""
    errors = [williamson2_error(nx, 5.0) for nx in (72, 144, 288)]
    assert errors[1] < 1e-4
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert abs(math.log2(coarse / fine) - 2.0) < 0.3, errors


# -- gravity waves ---------------------------------------------------------------
@pytest.mark.parametrize("integrator", ["rk3", "fb_ab3"])
def test_gravity_wave_speed_matches_sqrt_gh(integrator):
    """A standing wave ssh = A cos(k x) in a non-rotating periodic channel
    oscillates as cos(omega t + phi) with omega = c k, c = sqrt(g H). Sampled
    at three times m, 2m, 3m steps apart by T = 0.1 period, any sinusoid obeys
    a1 + a3 = 2 cos(omega T) a2, so omega = arccos((a1 + a3) / (2 a2)) / T,
    whatever its amplitude and phase (forward-backward's first-order offset,
    u leading ssh by dt / 2, is a phase). Tolerance 0.2%: the C-grid dispersion
    sin(k dx / 2) / (k dx / 2) is 0.04% at 64 cells per wavelength, the time
    schemes' frequency errors are (omega dt)^4 / 24 (RK3) and (omega dt)^2 / 24
    (forward-backward) with omega dt = 0.012: below 1e-5, and the amplitude
    1 mm keeps the nonlinear terms at 1e-5 relative."""
    cfg = case_config("beta_plane_small").replace(
        **{
            "time.integrator": integrator,
            "grid.nx": 64,
            "grid.ny": 4,
            "physics.f0": 0.0,
            "physics.beta": 0.0,
            "physics.viscosity": 0.0,
            "physics.initial": "rest",
            "time.dt": 20.0,
            "grid.periodic_y": True,
        }
    )
    m = model(cfg)
    g = m.grid
    lx = cfg.grid.nx * cfg.grid.dx
    k = 2 * math.pi / lx
    x = (np.arange(g.nx) + 0.5) * cfg.grid.dx
    wave = np.cos(k * x)[None, :] * np.ones((g.ny, 1))
    c = math.sqrt(cfg.physics.gravity * cfg.grid.depth)
    m_steps = int(round(0.1 * (lx / c) / cfg.time.dt))
    state = m.with_fields(
        m.initial_state(),
        {
            "u": jnp.zeros((g.ny, g.nx)),
            "v": jnp.zeros((g.ny, g.nx)),
            "ssh": jnp.asarray(1e-3 * wave),
        },
    )
    advance = jax.jit(m.advance, static_argnums=2)
    a = []
    for _ in range(3):
        state = advance(state, m.default_params(), m_steps)
        a.append(float((m.fields(state)["ssh"] * wave).sum() / (wave * wave).sum()))
    omega = math.acos((a[0] + a[2]) / (2 * a[1])) / (m_steps * cfg.time.dt)
    assert omega / k == pytest.approx(c, rel=2e-3)


# -- conservation in a closed basin --------------------------------------------------
def closed_basin(steps, integrator="rk3"):
    cfg = case_config("beta_plane_small").replace(
        **{
            "time.integrator": integrator,
            "grid.nx": 32,
            "grid.ny": 24,
            "grid.periodic_x": False,
            "physics.initial": "bump",
            "physics.ic_width": 40e3,
            "physics.biharmonic": 1e8,
            "grid.dx": 10e3,
            "grid.dy": 10e3,
            "time.dt": 100.0,
        }
    )
    depth = np.full((24, 32), 100.0)
    depth[10:14, 6:9] = 0.0  # an island
    depth[:, 20] = np.linspace(20, 120, 24)  # a ridge of varying depth
    m = model(cfg, depth)
    start = m.initial_state()
    end = run(m, steps)
    d0, d1 = m.diagnostics(start), m.diagnostics(end)
    moved = float(jnp.abs(m.fields(end)["ssh"] - m.fields(start)["ssh"]).max())
    return d0, d1, moved


@pytest.mark.parametrize(
    "steps, integrator",
    [
        (200, "rk3"),
        (200, "fb_ab3"),
        pytest.param(1000, "rk3", marks=pytest.mark.slow),
        pytest.param(1000, "fb_ab3", marks=pytest.mark.slow),
    ],
)
def test_closed_basin_conserves_volume(steps, integrator):
    """No flux through walls or land (masks), mass in flux form: total volume
    sum(A (H + ssh)) changes by round-off only. 1e-13 relative of the volume is
    the issue's target; the ssh part alone (A |ssh| ~ 1e9 m3 of 2e12 m3 total)
    is held to 1e-12 of its own magnitude."""
    d0, d1, moved = closed_basin(steps, integrator)
    assert moved > 1e-3  # the bump really evolved
    rel = abs(float(d1["volume"] - d0["volume"])) / float(d0["volume"])
    assert rel < 1e-13
    anomaly = abs(float(d1["ssh_volume"] - d0["ssh_volume"]))
    assert anomaly < 1e-12 * 1e-3 * float(d0["volume"])


# -- adjoint against finite differences ---------------------------------------
def test_beta_plane_jet_stable_with_forward_backward_ab3():
    """The beta_plane jet at the case's dt = 60 s (fastest gravity wave
    omega dt = 1.06, where AB2 amplifies grid-scale waves and blows up within
    ~80 steps) runs 400 steps with fb_ab3 on a 64 x 32 piece of the channel:
    no NaN, CFL below the limit, energy only decaying by viscosity (relative
    loss 5e-4 per day at 360 x 180; 400 steps = 0.28 days: under 1e-3 here),
    volume to round-off."""
    cfg = case_config("beta_plane_small").replace(
        **{"grid.nx": 64, "grid.ny": 32, "time.integrator": "fb_ab3"}
    )
    m = model(cfg)
    start = m.initial_state()
    end = run(m, 400)
    m.check(jax.device_get(m.health(end)), 400)
    d0, d1 = m.diagnostics(start), m.diagnostics(end)
    assert 0.999 < float(d1["energy"] / d0["energy"]) <= 1.0
    assert abs(float(d1["volume"] / d0["volume"]) - 1) < 1e-14
    assert m.exchanges_per_step == 1


def test_column_masks_give_the_same_values_as_full_tiles():
    """The stencils read the channel's x-invariant masks and depth as columns
    (grid.x_invariant_columns): 20 steps equal the same model reading the full
    tiles to round-off. Not bit for bit: XLA folds the small column constants
    into neighbouring constant factors, which rounds differently (measured 1 ulp,
    4.5e-16 relative); 1e-14 allows 20 steps of such differences."""
    cfg = case_config("beta_plane_small").replace(**{"grid.nx": 32, "grid.ny": 16})
    columns, full = model(cfg), model(cfg)
    assert np.asarray(columns._stencil_grid.mask_u).shape[1] == 1
    full._stencil_grid, full._corner_weight = (
        full.grid,
        jnp.asarray(np.broadcast_to(np.asarray(full._corner_weight), full.grid.shape)),
    )
    a, b = run(columns, 20), run(full, 20)
    for name in columns.prognostic_names:
        scale = float(jnp.abs(b.fields[name]).max())
        np.testing.assert_allclose(a.fields[name], b.fields[name], atol=1e-14 * scale)
    assert float(jnp.abs(a.fields["u"]).max()) > 0  # the jet really moved


def test_forward_backward_ab3_keeps_float32():
    """The AB3 weights are weakly typed: a float32 run stays float32 (fields and
    the remembered tendencies), not promoted to float64 by the x64 test mode."""
    cfg = case_config("beta_plane_small").replace(
        **{"grid.nx": 16, "grid.ny": 8, "precision": "float32"}
    )
    m = model(cfg)
    end = run(m, 3)
    leaves = jax.tree.leaves((end.fields, end.memory))
    assert {leaf.dtype for leaf in leaves} == {jnp.dtype("float32")}


def sensitivity_setup(learn_fields):
    cfg = case_config("beta_plane_small").replace(
        **{
            "grid.nx": 16,
            "grid.ny": 12,
            "grid.dx": 20e3,
            "grid.dy": 20e3,
            "physics.ic_width": 60e3,
            "physics.viscosity": 500.0,
            "time.dt": 120.0,
            "physics.learn_fields": learn_fields,
        }
    )
    m = model(cfg)
    state = m.initial_state()

    @jax.jit
    def loss(params):
        final = m.advance(state, params, 20)
        return jnp.sum(m.fields(final)["ssh"] ** 2)

    return m, loss


def central_difference(f, eps=1e-3):
    """Richardson-extrapolated central difference of f at 0: (4 D(eps/2) - D(eps))
    / 3 has truncation O(eps^4) ~ 1e-10 relative here (the log-sigmoid map makes
    plain O(eps^2) differences miss by ~3e-6 at eps = 1e-3); round-off ~1e-16 L /
    (eps L') ~ 1e-10. So the reference is good to far better than the 1e-6 asked."""

    def d(h):
        return (float(f(h)) - float(f(-h))) / (2 * h)

    return (4 * d(eps / 2) - d(eps)) / 3


def test_gradient_wrt_scalar_viscosity_matches_central_differences():
    m, loss = sensitivity_setup(False)
    params = m.default_params()
    grad = float(jax.grad(loss)(params).viscosity.raw)
    fd = central_difference(lambda h: loss(jax.tree.map(lambda r: r + h, params)))
    assert grad == pytest.approx(fd, rel=1e-6)
    assert abs(grad) > 0


def test_gradient_wrt_viscosity_field_matches_central_differences():
    """Directional derivative along a random direction and one cell's entry."""
    m, loss = sensitivity_setup(True)
    params = m.default_params()
    grad = jax.grad(loss)(params).viscosity.raw
    direction = jnp.asarray(np.random.default_rng(0).normal(size=grad.shape))
    one_cell = jnp.zeros(grad.shape).at[6, 8].set(1.0)
    for d in (direction, one_cell):
        fd = central_difference(
            lambda h, d=d: loss(eqx_tree_set(params, params.viscosity.raw + h * d))
        )
        assert float(jnp.sum(grad * d)) == pytest.approx(fd, rel=1e-6)


def eqx_tree_set(params, raw):
    return eqx.tree_at(lambda p: p.viscosity.raw, params, raw)


# -- stability guard ----------------------------------------------------------
def test_guard_names_step_field_and_place_of_a_nan():
    m = model(case_config("beta_plane_small").replace(**{"grid.nx": 16, "grid.ny": 8}))
    state = m.initial_state()
    fields = m.fields(state)
    fields["v"] = fields["v"].at[5, 11].set(jnp.nan)
    bad = m.with_fields(state, fields)
    health = jax.jit(m.health)(bad)
    with pytest.raises(StabilityError) as err:
        m.check(health, 1234)
    text = str(err.value)
    assert text.startswith("step 1234: NaN/Inf in v at x=57.5 km, y=27.5 km")
    assert "(i=11, j=5)" in text
    m.check(jax.jit(m.health)(state), 0)  # a healthy state passes


def test_guard_catches_a_cfl_violation():
    # dt = 600 s: c dt / dx = 31.3 * 600 / 5000 = 3.8 > 1
    m = model(
        case_config("beta_plane_small").replace(
            **{"grid.nx": 16, "grid.ny": 8, "time.dt": 600.0}
        )
    )
    with pytest.raises(
        StabilityError,
        match=r"step 3: CFL 3\.\d+ > 1 in u at .*"
        "reduce time.dt",
    ):
        m.check(jax.jit(m.health)(m.initial_state()), 3)

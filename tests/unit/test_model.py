"""HybridModel: a zero corrector reproduces the core; the corrector enters as stated."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.model import HybridModel


@pytest.fixture(scope="module")
def core():
    config = case_config("beta_plane").replace(**{
        "grid.nx": 16, "grid.ny": 8, "grid.dx": 25e3, "grid.dy": 25e3,
        "time.dt": 300.0, "time.integrator": "heun", "physics.viscosity": 2000.0})
    return build_model(config)


@pytest.mark.parametrize("coupling, cadence", [("split", 3), ("unified", 1)])
def test_zero_corrector_is_the_physics_core(core, coupling, cadence):
    # Same arithmetic, differently nested scans: XLA may fuse (and fold
    # constants) differently between the two programs, so agreement is to
    # 1e-14 of the field scale, not bitwise. u and v share the velocity scale:
    # v (max 2.5e-3 m/s here) gets its round-off from Coriolis terms of u's
    # size (0.46 m/s); measured 1.2e-16 of it (u, v) and 2.3e-16 (ssh).
    hybrid = HybridModel(core, cadence, coupling)
    params = hybrid.init_params(core.default_params(), jax.random.key(0), 4, 2,
                                output_init_scale=0.0)
    state = core.initial_state()
    mixed = jax.jit(hybrid.advance, static_argnums=2)(state, params, 2)
    plain = jax.jit(core.advance, static_argnums=2)(state, params.physics, 2 * cadence)
    want = core.fields(plain)
    velocity = max(float(jnp.max(abs(want[n]))) for n in ("u", "v"))
    for name in core.prognostic_names:
        scale = float(jnp.max(abs(want[name]))) if name == "ssh" else velocity
        a, b = core.fields(mixed)[name], want[name]
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14 * scale)


def test_split_step_adds_cadence_dt_times_the_correction(core):
    # x(t + K dt) = P^K(x) + K dt C(x): with constant head biases b (zero
    # weights, unit output scales) the network predicts b at every wet centre;
    # the C-grid adapter averages the velocity channels to the faces (b on
    # every wet face) and turns the ssh flux channels into -div F: zero inside
    # the zonally periodic channel, -/+ b_y / dy in the rows along the southern
    # and northern walls (no flux through a wall); each b passes the output cap
    # B tanh(b / B). Exact to round-off (1e-12 relative to the field scale).
    hybrid = HybridModel(core, 3, "split")
    params = hybrid.init_params(core.default_params(), jax.random.key(0), 4, 2,
                                output_init_scale=0.0)
    b_u, b_v, b_fx, b_fy = 1e-6, 2e-6, 5e-3, 3e-2
    bias = jnp.asarray([b_u, b_v, b_fx, b_fy]).reshape(4, 1, 1)
    params = eqx.tree_at(lambda p: p.corrector.head.bias, params, bias)
    cap = params.corrector.output_bound
    b_u, b_v, b_fy = (cap * np.tanh(b / cap) for b in (b_u, b_v, b_fy))
    state = core.initial_state()
    mixed = core.fields(jax.jit(hybrid.step)(state, params))
    plain = core.fields(jax.jit(core.advance, static_argnums=2)(
        state, params.physics, 3))
    ssh_rate = np.zeros(mixed["ssh"].shape)
    dy = core.config.grid.dy
    ssh_rate[0], ssh_rate[-1] = -b_fy / dy, b_fy / dy
    rates = {"u": b_u * np.asarray(hybrid.out_masks["u"]),
             "v": b_v * np.asarray(hybrid.out_masks["v"]), "ssh": ssh_rate}
    for name in core.prognostic_names:
        expected = 3 * core.dt * rates[name]
        np.testing.assert_allclose(mixed[name] - plain[name], expected,
                                   rtol=0, atol=1e-12 * float(jnp.max(
                                       jnp.abs(plain[name]))) + 1e-18)

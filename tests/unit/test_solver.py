"""Integrators: measured convergence order on ODEs with known solutions; rollouts."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc import solver


def identity(fields):
    return fields


def solve(name, tendency, y0, t_end, n):
    integ = solver.get_integrator(name)
    step = integ.make(tendency, identity, t_end / n)

    def body(carry, _):
        return step(*carry), None

    carry = (y0, integ.init_memory(y0))
    (y, _), _ = jax.lax.scan(body, carry, None, length=n)
    return y


@pytest.mark.parametrize("name", list(solver.INTEGRATORS))
def test_convergence_order(name):
    """y' = -y^2 (nonlinear, order-reducing if stages were wrong) and a rotation
    y'' = -y, solved to t = 1 with n and 2n steps: log2 of the error ratio is the
    order. Tolerance 0.15: the next term of the error expansion shifts the
    measured slope by O(dt) = 1/40 relative at these step counts."""
    integ = solver.get_integrator(name)

    def tendency(f):
        return {"a": -(f["a"] ** 2), "x": -f["y"], "y": f["x"]}

    y0 = {"a": jnp.ones(()), "x": jnp.ones(()), "y": jnp.zeros(())}
    exact = {"a": 0.5, "x": math.cos(1.0), "y": math.sin(1.0)}
    errors = []
    for n in (40, 80):
        y = solve(name, tendency, y0, 1.0, n)
        errors.append(max(abs(float(y[k]) - exact[k]) for k in exact))
    order = math.log2(errors[0] / errors[1])
    assert abs(order - integ.order) < 0.15, (name, order, errors)


def test_exchanges_per_step_equal_stages():
    counts = {}
    for name, integ in solver.INTEGRATORS.items():
        calls = []

        def exchange(f, calls=calls):
            calls.append(1)
            return f

        step = integ.make(lambda f: {"a": -f["a"]}, exchange, 0.1)
        y0 = {"a": jnp.ones(())}
        step(y0, integ.init_memory(y0))
        counts[name] = len(calls)
        assert len(calls) == integ.stages, name
    assert counts == {"euler": 1, "heun": 2, "ab2": 1, "rk3": 3, "rk4": 4}


def test_substeps_match_smaller_steps():
    integ = solver.get_integrator("rk3")
    tend = lambda f: {"a": -(f["a"] ** 2)}  # noqa: E731
    big = solver.substepped(integ.make(tend, identity, 0.25), 4)
    y, _ = big({"a": jnp.ones(())}, {}, 0)
    small = solve("rk3", tend, {"a": jnp.ones(())}, 1.0, 4)
    assert float(y["a"]) == float(small["a"])


def test_checkpointed_rollout_equals_rollout_and_its_gradient():
    def step(s):
        return s + 0.01 * jnp.sin(s)

    x0 = jnp.linspace(0.0, 1.0, 5)
    plain = solver.rollout(step, x0, 12)
    ckpt = solver.checkpointed_rollout(step, x0, 12, 4)
    np.testing.assert_array_equal(plain, ckpt)
    g1 = jax.grad(lambda x: solver.rollout(step, x, 12).sum())(x0)
    g2 = jax.grad(lambda x: solver.checkpointed_rollout(step, x, 12, 4).sum())(x0)
    np.testing.assert_allclose(g1, g2, rtol=1e-14)
    with pytest.raises(ValueError, match="multiple"):
        solver.checkpointed_rollout(step, x0, 10, 4)


def test_trajectory_observes_every_inner_steps():
    final, obs = solver.trajectory(lambda s: s + 1, jnp.zeros(()), 3, 2, lambda s: s)
    assert float(final) == 6
    np.testing.assert_array_equal(obs, [2, 4, 6])


# -- forward-backward + Adams-Bashforth 3 (split) ------------------------------
def fb_solve(y0, t_end, n, omega, slow_rate, start=0, memory=None):
    """x' = v (forward), v' = -omega^2 x (backward) + slow_rate * v (AB3)."""
    integ = solver.get_integrator("fb_ab3")

    def explicit(y):
        return {"v": slow_rate * y["v"]}, {"x": y["v"]}, {}

    step = integ.make(
        explicit, lambda m: {"v": -(omega**2) * m["x"]}, identity2, t_end / n
    )
    if memory is None:
        memory = {"slow": {"v": jnp.zeros(3)}}
    memory = {"spare": {"x": jnp.zeros(())}, **memory}
    y = y0
    for i in range(n):
        y, memory = step(y, memory, start + i)
    return y, memory


def identity2(fields, _old):
    return fields


def test_fb_ab3_slow_terms_third_order():
    """With no fast term the scheme is AB3: v' = -v to t = 1 with 40 and 80
    steps. Given the exact history (tendencies at -dt, -2dt) the slope is 3;
    from a cold start the Euler first step (local error dt^2 / 2) makes it 2.
    Tolerance 0.15: the next error term shifts the slope by O(dt) = 1/40."""
    y0 = {"x": jnp.zeros(()), "v": jnp.ones(())}
    warm, cold = [], []
    for n in (40, 80):
        dt = 1.0 / n
        # at start = 2, slot 0 holds k(-2 dt) and slot 1 holds k(-dt)
        history = {"slow": {"v": -jnp.exp(jnp.asarray([2 * dt, dt, 0.0]))}}
        y, _ = fb_solve(y0, 1.0, n, 0.0, -1.0, start=2, memory=history)
        warm.append(abs(float(y["v"]) - math.exp(-1.0)))
        y, _ = fb_solve(y0, 1.0, n, 0.0, -1.0)
        cold.append(abs(float(y["v"]) - math.exp(-1.0)))
    assert abs(math.log2(warm[0] / warm[1]) - 3) < 0.15, warm
    assert abs(math.log2(cold[0] / cold[1]) - 2) < 0.15, cold


def test_fb_ab3_gravity_pair_first_order_and_neutral():
    """x'' = -x by forward-backward (symplectic Euler): first order (slope 1
    within 0.1: the v/x offset of dt/2 is the leading error), and neutral for
    omega dt = a < 2: the map conserves I = v^2 + omega^2 x^2 + dt omega^2 x v
    and |dt omega^2 x v| <= (a/2) E for E = v^2 + omega^2 x^2, so E / E0 stays
    below 1 / (1 - a/2) = 20 at a = 1.9 forever; at a = 2.1 it grows without
    bound."""
    errors = []
    for n in (100, 200):
        y, _ = fb_solve({"x": jnp.ones(()), "v": jnp.zeros(())}, 1.0, n, 1.0, 0.0)
        errors.append(
            abs(float(y["x"]) - math.cos(1.0)) + abs(float(y["v"]) + math.sin(1.0))
        )
    assert abs(math.log2(errors[0] / errors[1]) - 1) < 0.1, errors

    def energy_after(omega_dt, n):
        y, _ = fb_solve({"x": jnp.ones(()), "v": jnp.zeros(())}, n, n, omega_dt, 0.0)
        return float(omega_dt**2 * y["x"] ** 2 + y["v"] ** 2) / omega_dt**2

    assert energy_after(1.9, 500) < 20
    assert energy_after(2.1, 50) > 1e10  # |amplification| = 1.88 per step


def test_fb_ab3_restart_from_memory_is_exact():
    """Stopping after 7 steps and continuing from (state, memory, step count)
    gives the uninterrupted result bit for bit (the memory is the whole history)."""
    y0 = {"x": jnp.ones(()), "v": jnp.zeros(())}
    full, _ = fb_solve(y0, 12.0, 12, 1.3, -0.1)
    half, memory = fb_solve(y0, 7.0, 7, 1.3, -0.1)
    rest, _ = fb_solve(half, 5.0, 5, 1.3, -0.1, start=7, memory=memory)
    assert float(rest["x"]) == float(full["x"]) and float(rest["v"]) == float(full["v"])


def test_unknown_integrator_lists_choices():
    with pytest.raises(ValueError, match="rk3"):
        solver.get_integrator("leapfrog")

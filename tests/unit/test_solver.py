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
    y, _ = big({"a": jnp.ones(())}, {})
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


def test_unknown_integrator_lists_choices():
    with pytest.raises(ValueError, match="rk3"):
        solver.get_integrator("leapfrog")

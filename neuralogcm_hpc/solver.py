"""Time integrators as factories of pure step functions, and scan-based rollouts.

An integrator advances a dict of halo-padded fields by ``dt`` given
``tendency(fields) -> dict`` (inputs with halos filled, outputs with zero halo)
and ``exchange(fields) -> fields`` (fills every halo in ONE packed message per
neighbour, e.g. ``Halo.tree``). Input fields arrive with halos filled and leave
with halos filled, so each integrator makes exactly ``stages`` exchanges per
step: one for every intermediate stage state and one for the result.

    euler 1 | heun 2 | ab2 1 | rk3 (SSP, Shu-Osher) 3 | rk4 4

Adams-Bashforth 2 keeps the previous tendency in ``memory`` (part of the
OceanState, so restarts are exact); its first step is forward Euler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

Fields = dict[str, jax.Array]
Tendency = Callable[[Fields], Fields]
Exchange = Callable[[Fields], Fields]
StepFn = Callable[[Fields, dict], tuple[Fields, dict]]


@dataclasses.dataclass(frozen=True)
class Integrator:
    """A named scheme: ``make(tendency, exchange, dt) -> step(fields, memory)``."""

    name: str
    order: int
    stages: int  # tendency evaluations = halo exchanges per step
    make: Callable[[Tendency, Exchange, float], StepFn]
    init_memory: Callable[[Fields], dict] = lambda fields: {}


def _axpy(y: Fields, terms: list[tuple[float, Fields]]) -> Fields:
    """y + sum(c * k) field by field."""
    out = {}
    for name, value in y.items():
        for c, k in terms:
            value = value + c * k[name]
        out[name] = value
    return out


def _explicit_rk(a: list[list[float]], b: list[float]):
    """A Butcher-tableau Runge-Kutta step (explicit, lower-triangular ``a``)."""

    def make(tendency, exchange, dt):
        def step(y, memory):
            ks = [tendency(y)]
            for row in a:
                stage = exchange(_axpy(y, _terms(dt, row, ks)))
                ks.append(tendency(stage))
            return exchange(_axpy(y, _terms(dt, b, ks))), memory

        return step

    return make


def _terms(dt, coefficients, ks):
    """(dt * c, k) pairs, skipping zero coefficients (no work, no 0 * inf)."""
    return [(dt * c, k) for c, k in zip(coefficients, ks, strict=True) if c != 0]


def _ssp_rk3(tendency, exchange, dt):
    """Shu-Osher SSP-RK3: strong-stability preserving, CFL-efficient, order 3."""

    def step(y, memory):
        y1 = exchange(_axpy(y, [(dt, tendency(y))]))
        y2 = _axpy(y1, [(dt, tendency(y1))])
        y2 = exchange({n: 0.75 * y[n] + 0.25 * y2[n] for n in y})
        y3 = _axpy(y2, [(dt, tendency(y2))])
        return exchange({n: y[n] / 3 + (2 / 3) * y3[n] for n in y}), memory

    return step


def _ab2(tendency, exchange, dt):
    def step(y, memory):
        k = tendency(y)
        started = memory["started"]
        # first step: Euler (previous = current tendency makes 1.5 k - 0.5 k = k)
        previous = {n: jnp.where(started, memory["previous"][n], k[n]) for n in k}
        new = exchange(_axpy(y, [(1.5 * dt, k), (-0.5 * dt, previous)]))
        return new, {"previous": k, "started": jnp.ones((), bool)}

    return step


def _ab2_memory(fields: Fields) -> dict:
    return {
        "previous": {n: jnp.zeros_like(v) for n, v in fields.items()},
        "started": jnp.zeros((), bool),
    }


INTEGRATORS: dict[str, Integrator] = {
    "euler": Integrator("euler", 1, 1, _explicit_rk([], [1.0])),
    "heun": Integrator("heun", 2, 2, _explicit_rk([[1.0]], [0.5, 0.5])),
    "ab2": Integrator("ab2", 2, 1, _ab2, _ab2_memory),
    "rk3": Integrator("rk3", 3, 3, _ssp_rk3),
    "rk4": Integrator(
        "rk4",
        4,
        4,
        _explicit_rk([[0.5], [0, 0.5], [0, 0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    ),
}


def get_integrator(name: str) -> Integrator:
    if name not in INTEGRATORS:
        raise ValueError(
            f"unknown time.integrator {name!r}; choose one of {', '.join(INTEGRATORS)}"
        )
    return INTEGRATORS[name]


def substepped(step: StepFn, substeps: int) -> StepFn:
    """``substeps`` physics steps (each of dt / substeps) as one model step."""
    if substeps == 1:
        return step

    def model_step(y, memory):
        return jax.lax.fori_loop(0, substeps, lambda _, c: step(*c), (y, memory))

    return model_step


# -- rollouts -------------------------------------------------------------------
def rollout(step: Callable, state, n_steps: int):
    """``step`` applied ``n_steps`` times with lax.scan (one compiled loop body)."""
    state, _ = jax.lax.scan(lambda s, _: (step(s), None), state, None, length=n_steps)
    return state


def trajectory(step: Callable, state, n_outer: int, inner: int, observe: Callable):
    """Final state and ``observe(state)`` after every ``inner`` steps, stacked
    along a new leading axis of length ``n_outer``."""

    def body(s, _):
        s = rollout(step, s, inner)
        return s, observe(s)

    return jax.lax.scan(body, state, None, length=n_outer)


def checkpointed_rollout(step: Callable, state, n_steps: int, segment: int):
    """``rollout`` whose reverse-mode memory is O(n_steps/segment + segment) states.

    The outer scan stores only each segment's starting state; each segment is a
    ``jax.checkpoint``-ed inner scan recomputed during the backward pass.
    ``n_steps`` must be a multiple of ``segment``.
    """
    if n_steps % segment:
        raise ValueError(f"n_steps={n_steps} is not a multiple of segment={segment}")
    inner = jax.checkpoint(lambda s: rollout(step, s, segment))
    state, _ = jax.lax.scan(
        lambda s, _: (inner(s), None), state, None, length=n_steps // segment
    )
    return state

"""Time integrators as factories of pure step functions, and scan-based rollouts.

An integrator's ``make`` returns ``step(fields, memory, n) -> (fields, memory)``
(``n``: steps taken before, which multistep schemes start up from; the others
ignore it). It advances a dict of halo-padded fields by ``dt`` given
``tendency(fields) -> dict`` (inputs with halos filled, outputs with zero halo)
and ``exchange(fields) -> fields`` (fills every halo in ONE packed message per
neighbour, e.g. ``Halo.tree``). Input fields arrive with halos filled and leave
with halos filled, so each integrator makes exactly ``stages`` exchanges per
step: one for every intermediate stage state and one for the result.

    euler 1 | heun 2 | ab2 1 | rk3 (SSP, Shu-Osher) 3 | rk4 4 | fb_ab3 1

Adams-Bashforth 2 keeps the previous tendency in ``memory`` (part of the
OceanState, so restarts are exact); its first step is forward Euler.

``fb_ab3`` (a SPLIT integrator, ``split=True``) needs the model to separate the
gravity-wave pair from the rest, as ocean models do (forward-backward for the
fast waves, Adams-Bashforth 3 for Coriolis, advection and friction): see
``forward_backward_ab3``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

Fields = dict[str, jax.Array]
Tendency = Callable[[Fields], Fields]
Exchange = Callable[[Fields], Fields]


@dataclasses.dataclass(frozen=True)
class Integrator:
    """A named scheme: ``make(tendency, exchange, dt) -> step(fields, memory)``."""

    name: str
    order: int
    stages: int  # tendency evaluations = halo exchanges per step
    make: Callable[..., Callable]
    init_memory: Callable[[Fields], dict] = lambda fields: {}
    split: bool = False  # make(explicit, backward, exchange, dt[, keep]), see fb_ab3


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
        def step(y, memory, n=0):
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

    def step(y, memory, n=0):
        y1 = exchange(_axpy(y, [(dt, tendency(y))]))
        y2 = _axpy(y1, [(dt, tendency(y1))])
        y2 = exchange({n: 0.75 * y[n] + 0.25 * y2[n] for n in y})
        y3 = _axpy(y2, [(dt, tendency(y2))])
        return exchange({n: y[n] / 3 + (2 / 3) * y3[n] for n in y}), memory

    return step


def adams_bashforth2(k: Fields, memory: dict) -> tuple[Fields, dict]:
    """The AB2 extrapolation 1.5 k_n - 0.5 k_n-1 of the tendencies ``k`` and the
    memory for the next step. ``memory`` holds the previous tendencies and a
    ``started`` flag; the first step is forward Euler (previous = current
    makes 1.5 k - 0.5 k = k). Used by the ``ab2`` integrator and by the
    primitive-equation step's slow momentum terms."""
    started = memory["started"]
    out = {}
    for name, value in k.items():
        previous = jnp.where(started, memory["previous"][name], value)
        out[name] = 1.5 * value - 0.5 * previous
    return out, {"previous": k, "started": jnp.ones((), bool)}


def _ab2(tendency, exchange, dt):
    def step(y, memory, n=0):
        k, memory = adams_bashforth2(tendency(y), memory)
        return exchange(_axpy(y, [(dt, k)])), memory

    return step


def _ab2_memory(fields: Fields) -> dict:
    return {
        "previous": {n: jnp.zeros_like(v) for n, v in fields.items()},
        "started": jnp.zeros((), bool),
    }


# Adams-Bashforth weights of (k_n, k_n-1, k_n-2) after n = 0, 1, >= 2 earlier
# steps: Euler, AB2, AB3 (the startup keeps the step self-starting and exact
# on restart, since n is the state's step counter).
_AB3 = ((1.0, 0.0, 0.0), (1.5, -0.5, 0.0), (23 / 12, -16 / 12, 5 / 12))


def _ab3_weights(n):
    if isinstance(n, int):
        return _AB3[min(n, 2)]
    # where() of Python floats stays weakly typed: float32 fields stay float32
    return tuple(
        jnp.where(n == 0, euler, jnp.where(n == 1, ab2, ab3))
        for euler, ab2, ab3 in zip(*_AB3, strict=True)
    )


def _store(value, into, slot=None):
    """``value`` as kept by default: itself, or written into ``into[slot]``."""
    if slot is None:
        return value
    return jax.lax.dynamic_update_index_in_dim(into, value, slot, 0)


def forward_backward_ab3(explicit, backward, exchange, dt, keep=_store):
    """Forward-backward gravity waves + Adams-Bashforth 3 for the slow terms.

    ``explicit(y) -> (slow, rate, late)``: ``slow`` the tendency of the momentum
    fields without the fast pressure gradient (Coriolis, advection, friction,
    forcing), ``rate`` the tendency of the mass fields (flux divergence), ``late``
    extra mass tendencies applied after the pressure gradient (e.g. a learned
    correction valid only inside the tile; may be empty). ``backward(mass)``: the
    momentum tendency from the NEW mass fields. One step, with AB3 weights w:

        eta' = eta + dt rate(y)                      (forward)
        u'   = u + dt (w . (slow_n, slow_n-1, slow_n-2) + backward(eta'))  (backward)

    One ``explicit`` evaluation and one ``exchange`` per step. ``memory`` holds
    the previous mass fields (``spare``: scratch buffers, overwritten) and the
    previous ``slow`` tendencies (``keep(value, into[, slot])`` returns the
    array the state stores: ``value`` written into the buffer ``into``, or into
    its leading-axis ``slot``); ``n`` (steps taken before, e.g. the state's step
    counter) selects Euler, AB2, AB3 for the first, second, later steps.

    Stability (linearised, per eigenmode): the forward-backward pair
    eta' = eta - dt H div u, u' = u - dt g grad eta' is the symplectic Euler map,
    neutral (|amplification| = 1) for omega dt < 2 and unstable beyond, where
    omega = c * 2 sqrt(1/dx^2 + 1/dy^2) is the fastest C-grid gravity wave
    (beta_plane: c = 31.3 m/s, dt = 60 s, dx = dy = 5 km: omega dt = 1.06).
    AB3 is stable for purely imaginary lambda dt up to |lambda dt| ~ 0.72
    (Coriolis: f dt = 0.012; advection |u| dt 2/dx ~ 0.01) and for negative real
    lambda dt down to -6/11 ~ -0.55 (Laplacian viscosity: 8 nu dt / dx^2 =
    4e-4). AB2, by contrast, amplifies every imaginary-axis mode, by
    (omega dt)^4 / 4 per step to leading order, so the gravity waves blow up.
    Accuracy: the pair is first order (u' leads eta' by dt/2: an O(dt) offset)
    with a second-order frequency; the slow terms are third order.
    """

    def step(y, memory, n):
        slow, rate, late = explicit(y)
        w0, w1, w2 = _ab3_weights(n)
        # memory["slow"][k] is a ring of three slots: k_n goes into slot n % 3,
        # over k_n-3, and k_n, k_n-1, k_n-2 are all read back from the updated
        # ring. Each buffer keeps its slot, so lax.scan carries no permutation
        # and nothing is read after being overwritten: rotating two named
        # buffers made XLA copy 6 full tiles per step (2.5 vs 1.7 ms on the
        # 360 x 180 beta plane, one core).
        ring = {k: keep(s, memory["slow"][k], n % 3) for k, s in slow.items()}
        # ``keep`` first and compute from what it kept: the values the state
        # stores are then the values the update used, computed once. The mass
        # fields are kept in the spare buffers (last step's fields), never in
        # the buffers they are computed from: XLA cannot vectorise a loop that
        # reads and writes one buffer (0.34 vs 0.10 ms for the ssh update on
        # 360 x 180, float32, one core).
        new = {k: keep(y[k] + dt * rate[k], memory["spare"][k]) for k in rate}
        fast = backward(new)
        for k, r in ring.items():
            k0, k1, k2 = (_slot(r, (n - lag) % 3) for lag in range(3))
            new[k] = y[k] + dt * (w0 * k0 + w1 * k1 + w2 * k2 + fast[k])
        for k, extra in late.items():
            new[k] = new[k] + dt * extra
        return exchange(new, y), {"slow": ring, "spare": {k: y[k] for k in rate}}

    return step


def _slot(ring, index):
    return jax.lax.dynamic_index_in_dim(ring, index, 0, keepdims=False)


def _ab3_memory(slow_names):
    def init(fields: Fields) -> dict:  # distinct buffers, so states can be donated
        return {
            "slow": {
                n: jnp.zeros((3,) + jnp.shape(fields[n]), jnp.result_type(fields[n]))
                for n in slow_names
            },
            "spare": {
                n: jnp.zeros_like(v) for n, v in fields.items() if n not in slow_names
            },
        }

    return init


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


# split schemes: the model supplies (explicit, backward); memory names the
# momentum fields; shallow water supports them (physics/shallow_water.py)
SPLIT_INTEGRATORS: dict[str, Integrator] = {
    "fb_ab3": Integrator(
        "fb_ab3", 1, 1, forward_backward_ab3, _ab3_memory(("u", "v")), split=True
    ),
}


def get_integrator(name: str) -> Integrator:
    known = {**INTEGRATORS, **SPLIT_INTEGRATORS}
    if name not in known:
        raise ValueError(
            f"unknown time.integrator {name!r}; choose one of {', '.join(known)}"
        )
    return known[name]


def substepped(step: Callable, substeps: int) -> Callable:
    """``substeps`` physics steps (each of dt / substeps) as one model step.

    ``step(y, memory, n) -> (y, memory)``, ``n`` the physics steps taken
    before (multistep schemes start up from it); the result has the same
    signature, ``n`` then being the count before the first sub-step."""
    if substeps == 1:
        return step

    def model_step(y, memory, first):
        return jax.lax.fori_loop(
            0, substeps, lambda i, c: step(*c, first + i), (y, memory)
        )

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


def checkpointed_scan(body: Callable, carry, xs=None, length=None, segment=0):
    """The final carry of ``lax.scan(body, carry, xs, length)``; with ``segment``
    > 0 its reverse-mode memory is O(n / segment + segment) carries, not O(n).

    The outer scan stores only each segment's starting carry; each segment is a
    ``jax.checkpoint``-ed inner scan recomputed during the backward pass. The
    number of steps must be a multiple of ``segment``.
    """
    n = length if xs is None else jax.tree.leaves(xs)[0].shape[0]
    if not segment or segment >= n:
        return jax.lax.scan(body, carry, xs, length=n)[0]
    if n % segment:
        raise ValueError(
            f"{n} steps are not a multiple of the checkpoint segment {segment}"
        )
    if xs is None:
        inner = jax.checkpoint(lambda c: jax.lax.scan(body, c, None, segment)[0])
        return jax.lax.scan(lambda c, _: (inner(c), None), carry, None, n // segment)[0]
    chunks = jax.tree.map(
        lambda t: t.reshape((n // segment, segment) + t.shape[1:]), xs
    )
    inner = jax.checkpoint(lambda c, ts: jax.lax.scan(body, c, ts)[0])
    return jax.lax.scan(lambda c, ts: (inner(c, ts), None), carry, chunks)[0]


def checkpointed_rollout(step: Callable, state, n_steps: int, segment: int):
    """``rollout`` with ``checkpointed_scan``'s memory: O(n_steps / segment +
    segment) states in reverse mode; ``n_steps`` a multiple of ``segment``."""
    return checkpointed_scan(
        lambda s, _: (step(s), None), state, length=n_steps, segment=segment
    )

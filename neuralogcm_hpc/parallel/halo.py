"""Differentiable halo exchange for tiles of shape (..., ny + 2h, nx + 2h)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.interpreters import ad

from neuralogcm_hpc.parallel.context import ParallelContext, get_context
from neuralogcm_hpc.parallel.decomposition import Decomposition, DecompositionError

# Array layout: the last two axes are (y, x); any leading axes (levels, stacked
# fields) travel together in one message per neighbour.
_Y, _X = -2, -1


def interior(x: jax.Array, width: int) -> jax.Array:
    """The tile without its halo."""
    if width == 0:
        return x
    return x[..., width:-width, width:-width]


def with_halo(x: jax.Array, width: int) -> jax.Array:
    """A tile interior padded with a zero halo of ``width`` cells."""
    pad = [(0, 0)] * (x.ndim - 2) + [(width, width), (width, width)]
    return jnp.pad(x, pad)


def _take(x, axis, start, stop):
    return jax.lax.slice_in_dim(x, start, stop, axis=axis)


def _replace_halos(x, axis, width, low, high):
    """``x`` with its ``width`` halo cells at both ends of ``axis`` overwritten.

    Strip updates, not a concatenation of the whole tile: XLA updates the
    buffer in place, so a one-rank exchange copies only the halo cells (a
    concatenation rewrites the tile: 1.66-2.02 vs 1.54-1.74 ms per 360 x 180
    shallow-water step, one core).
    """
    n = x.shape[axis] - 2 * width
    x = jax.lax.dynamic_update_slice_in_dim(x, low, 0, axis=axis)
    return jax.lax.dynamic_update_slice_in_dim(x, high, n + width, axis=axis)


class ForwardModeError(NotImplementedError):
    """Forward-mode autodiff through a multi-rank halo exchange."""


class Halo:
    """Fills halos of ``width`` cells from neighbouring tiles, corners included.

    One call exchanges along x, then along y with full rows, so corner cells arrive
    from the diagonal neighbour in two hops. Periodic axes wrap; walls get zeros
    (the physics closes walls through its masks). In the gradient the exchange is
    its own adjoint run backwards: the cotangent of each halo cell is sent to the
    cell it was copied from and added there.

    With one tile the same code runs with no MPI (neighbour data is local);
    with several, neighbours are reached by ``mpi4jax.sendrecv`` on a cloned
    communicator. Only reverse mode is supported across ranks (jax.grad, jax.vjp,
    jax.jacrev); forward mode (jax.jvp, jax.jacfwd) raises.
    """

    def __init__(
        self,
        decomposition: Decomposition,
        width: int,
        context: ParallelContext | None = None,
    ):
        context = context or get_context()
        if context.size != decomposition.size:
            raise DecompositionError(
                f"the decomposition has {decomposition.size} tiles "
                f"({decomposition.px} x {decomposition.py}) but the job has "
                f"{context.size} ranks; launch with mpirun -n {decomposition.size}"
            )
        decomposition.check_halo(width)
        self.decomposition = decomposition
        self.width = width
        self.context = context
        self.rank = context.rank
        self.walls = decomposition.at_wall(context.rank)
        self.exchanges_traced = 0  # incremented each time an exchange is traced
        self._exchange = self._build()

    def __call__(self, x: jax.Array) -> jax.Array:
        """``x`` with its halo filled from the neighbouring tiles."""
        return self._run((x,))[0]

    def tree(self, fields):
        """Exchange every array in a pytree with one message per neighbour.

        Only the halo strips are packed: the strips of all leaves of one dtype
        are concatenated into one message per neighbour and written back into
        each leaf in place, so no whole field is copied (packing whole fields
        cost 0.6 ms of a 2.3 ms shallow-water step on 360 x 180, one rank).
        Every leaf's last two axes must be the tile's (y, x) shape.
        """
        leaves, treedef = jax.tree.flatten(fields)
        out = list(leaves)
        by_dtype: dict = {}
        for index, leaf in enumerate(leaves):
            by_dtype.setdefault(jnp.result_type(leaf), []).append(index)
        for indices in by_dtype.values():
            filled = self._run(tuple(leaves[i] for i in indices))
            for i, leaf in zip(indices, filled, strict=True):
                out[i] = leaf
        return jax.tree.unflatten(treedef, out)

    def _run(self, xs: tuple) -> tuple:
        """One exchange of the same-dtype arrays ``xs``."""
        if self.width == 0:
            return xs
        if self.decomposition.size > 1 and any(isinstance(x, ad.JVPTracer) for x in xs):
            raise ForwardModeError(
                "forward-mode differentiation (jax.jvp, jax.jacfwd, jax.hessian) "
                "cannot cross MPI ranks: halo exchanges have a reverse-mode rule "
                "only. Use reverse mode (jax.grad, jax.vjp, jax.jacrev), or run on "
                "one rank"
            )
        self.exchanges_traced += 1
        return self._exchange(xs)

    # -- construction -------------------------------------------------------
    def _build(self):
        d, width = self.decomposition, self.width
        neighbours = self._periodic_neighbours()
        plans = []
        for axis, count, periodic, low, high in (
            (_X, d.px, d.periodic_x, "west", "east"),
            (_Y, d.py, d.periodic_y, "south", "north"),
        ):
            plans.append(
                _AxisPlan(
                    axis=axis,
                    sends=count > 1,
                    keep_low=periodic or not self.walls[low],
                    keep_high=periodic or not self.walls[high],
                    to_high=self._shift(count, neighbours[low], neighbours[high], 0),
                    to_low=self._shift(count, neighbours[high], neighbours[low], 1),
                )
            )

        def forward(xs):
            for plan in plans:
                n = xs[0].shape[plan.axis] - 2 * width
                lows = plan.to_high([_take(x, plan.axis, n, n + width) for x in xs])
                xs, lows = plan.in_turn(xs, lows)
                highs = plan.to_low([_take(x, plan.axis, width, 2 * width) for x in xs])
                xs, (lows, highs) = plan.in_turn(xs, (lows, highs))
                xs = tuple(
                    _replace_halos(x, plan.axis, width, plan.low(lo), plan.high(hi))
                    for x, lo, hi in zip(xs, lows, highs, strict=True)
                )
            return xs

        def adjoint(cts):
            for plan in reversed(plans):
                n = cts[0].shape[plan.axis] - 2 * width
                ct_lows = [plan.low(_take(c, plan.axis, 0, width)) for c in cts]
                ct_highs = [
                    plan.high(_take(c, plan.axis, n + width, n + 2 * width))
                    for c in cts
                ]
                # Each halo cell's cotangent returns to the strip it was copied
                # from: our low halo came from the low neighbour's high strip.
                into_high_strips = plan.to_low(ct_lows)
                ct_highs, into_high_strips = plan.in_turn(ct_highs, into_high_strips)
                into_low_strips = plan.to_high(ct_highs)
                cts, (into_high_strips, into_low_strips) = plan.in_turn(
                    cts, (into_high_strips, into_low_strips)
                )
                out = []
                for c, high, low in zip(
                    cts, into_high_strips, into_low_strips, strict=True
                ):
                    zeros = jnp.zeros_like(low)
                    c = _replace_halos(c, plan.axis, width, zeros, zeros)
                    c = _add_to(c, plan.axis, n, high)
                    out.append(_add_to(c, plan.axis, width, low))
                cts = tuple(out)
            return cts

        if d.size == 1:
            return forward  # plain JAX: every transform, forward mode included

        exchange = jax.custom_vjp(forward)
        exchange.defvjp(lambda x: (forward(x), None), lambda _, ct: (adjoint(ct),))
        return exchange

    def _shift(self, count, source, dest, tag):
        """Send a list of strips to ``dest`` as ONE buffer and receive the same
        shapes from ``source``."""
        if count == 1:
            return lambda strips: strips  # the neighbour across a periodic seam is us
        comm = self.context.jax_comm

        def shift(strips):
            import mpi4jax  # only multi-rank jobs need the MPI bridge

            flat = [s.reshape((-1,) + s.shape[-2:]) for s in strips]
            buf = flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=0)
            buf = mpi4jax.sendrecv(
                buf,
                buf,
                source=source,
                dest=dest,
                sendtag=tag,
                recvtag=tag,
                comm=comm,
            )
            bounds = list(_cumulative([f.shape[0] for f in flat]))
            starts = [0] + bounds[:-1]
            return [
                jax.lax.slice_in_dim(buf, a, b, axis=0).reshape(s.shape)
                for s, a, b in zip(strips, starts, bounds, strict=True)
            ]

        return shift

    def _periodic_neighbours(self) -> dict[str, int]:
        """Neighbour ranks with every axis wrapped (walls are zeroed after receipt)."""
        d = self.decomposition
        ix, iy = d.coords(self.rank)
        wrap = Decomposition(d.nx, d.ny, d.px, d.py, periodic_x=True, periodic_y=True)
        return {
            "west": wrap.rank_of(ix - 1, iy),
            "east": wrap.rank_of(ix + 1, iy),
            "south": wrap.rank_of(ix, iy - 1),
            "north": wrap.rank_of(ix, iy + 1),
        }


class _AxisPlan:
    """How one axis is exchanged: the two shifts and which received sides to keep."""

    def __init__(self, axis, sends, keep_low, keep_high, to_high, to_low):
        self.axis = axis
        # one tile along the axis: both shifts are local, nothing to order
        self.in_turn = _in_turn if sends else lambda after, received: (after, received)
        # each maps a list of strips to the list received (one message)
        self.to_high = to_high  # send our high strips up, receive the low neighbour's
        self.to_low = to_low  # send our low strips down, receive the high neighbour's
        self.low = (lambda a: a) if keep_low else jnp.zeros_like
        self.high = (lambda a: a) if keep_high else jnp.zeros_like


def _in_turn(after, received):
    """``after`` and ``received`` released together: what is computed from
    ``after`` (the next message, the rest of the step) waits until ``received``
    has arrived.

    Why: each rank's XLA schedules its own program, and the programs differ
    between ranks (a wall discards one of an axis's two messages, so nothing
    waits for it). A rank then sent a message late, after later exchanges,
    while its neighbour waited for it: a 2 x 2 training step through the CLI
    hung in MPI_Sendrecv (the bottom row in its second y message, the top row
    already in the next exchange). mpi4jax's ordered effect did not keep the
    order inside the rematerialised backward pass; these data dependencies do.
    """
    return jax.lax.optimization_barrier((after, received))


def _add_to(x, axis, start, strip):
    """``x`` with ``strip`` added to the cells starting at ``start`` along ``axis``."""
    current = _take(x, axis, start, start + strip.shape[axis])
    return jax.lax.dynamic_update_slice_in_dim(x, current + strip, start, axis=axis)


def _cumulative(sizes):
    total = 0
    for s in sizes:
        total += s
        yield total

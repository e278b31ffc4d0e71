"""Halo exchange on 1, 2 and 4 ranks against slices of a padded global array."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.parallel.halo import ForwardModeError, Halo, interior, with_halo

pytestmark = pytest.mark.mpi

NX, NY = 20, 12  # non-square; divisible by 1, 2 and 4 along either axis


def layouts(size):
    out = {(size, 1), (1, size)}
    if size == 4:
        out.add((2, 2))
    return sorted(out)


def padded_reference(g, width, periodic_x, periodic_y):
    """The global array with halos from np.pad: an independent statement of the BCs."""
    lead = [(0, 0)] * (g.ndim - 2)
    out = np.pad(
        g, lead + [(0, 0), (width, width)], mode="wrap" if periodic_x else "constant"
    )
    return np.pad(
        out, lead + [(width, width), (0, 0)], mode="wrap" if periodic_y else "constant"
    )


def local_padded(reference, d, rank, width):
    ys, xs = d.global_slices(rank)
    return reference[
        ..., ys.start : ys.stop + 2 * width, xs.start : xs.stop + 2 * width
    ]


@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize("periodic", list(itertools.product([True, False], repeat=2)))
def test_each_tile_halo_equals_global_slice(context, width, periodic):
    g = np.random.default_rng(width).normal(size=(2, NY, NX))
    reference = padded_reference(g, width, *periodic)
    for px, py in layouts(context.size):
        d = Decomposition(NX, NY, px, py, *periodic)
        halo = Halo(d, width, context)
        tile = with_halo(jnp.asarray(d.local_tile(g, context.rank)), width)
        filled = jax.jit(halo)(tile)
        np.testing.assert_array_equal(
            filled, local_padded(reference, d, context.rank, width)
        )


def test_tree_exchange_packs_fields_of_different_shapes(context):
    d = Decomposition(NX, NY, context.size, 1, periodic_x=True, periodic_y=False)
    halo = Halo(d, 2, context)
    rng = np.random.default_rng(7)
    fields = {"ssh": rng.normal(size=(NY, NX)), "temp": rng.normal(size=(3, NY, NX))}
    tiles = {
        k: with_halo(jnp.asarray(d.local_tile(v, context.rank)), 2)
        for k, v in fields.items()
    }
    before = halo.exchanges_traced
    filled = jax.jit(halo.tree)(tiles)
    assert (
        halo.exchanges_traced == before + 1
    )  # one message per neighbour for all fields
    for name, g in fields.items():
        expected = local_padded(padded_reference(g, 2, True, False), d, context.rank, 2)
        np.testing.assert_array_equal(filled[name], expected)


def stencil_loss(halo, steps, context, x_tile, weights_tile):
    """Exchange + nonlinear 5-point stencil steps, then a global weighted sum."""
    from neuralogcm_hpc.parallel.reductions import fast_sum

    w = halo.width
    x = x_tile
    for _ in range(steps):
        x = halo(x)
        c = x[..., w:-w, w:-w]
        lap = (
            x[..., w:-w, w + 1 : x.shape[-1] - w + 1]
            + x[..., w:-w, w - 1 : x.shape[-1] - w - 1]
            + x[..., w + 1 : x.shape[-2] - w + 1, w:-w]
            + x[..., w - 1 : x.shape[-2] - w - 1, w:-w]
            - 4 * c
        )
        x = with_halo(c + 0.1 * lap + 0.05 * jnp.sin(c) * c, w)
    return fast_sum(weights_tile * interior(x, w) ** 2, context)


@pytest.mark.parametrize("periodic", [(True, False), (True, True), (False, False)])
def test_gradient_across_ranks_equals_serial_gradient(
    context, serial_context, periodic
):
    """Equal to 1e-14 of the largest gradient, not bitwise: at a tile edge the
    cotangents arriving through the halo are added after the tile's own stencil
    contributions, in another order than the serial run's single sum (measured
    differences ~1e-15 relative, a few ulps)."""
    g = np.random.default_rng(3).normal(size=(NY, NX))
    weights = np.random.default_rng(4).uniform(size=(NY, NX))
    serial = Decomposition(NX, NY, 1, 1, *periodic)
    serial_halo = Halo(serial, 1, serial_context)
    grad_serial = jax.jit(
        jax.grad(lambda x: stencil_loss(serial_halo, 3, serial_context, x, weights))
    )(with_halo(jnp.asarray(g), 1))
    for px, py in layouts(context.size):
        d = Decomposition(NX, NY, px, py, *periodic)
        loss = functools.partial(stencil_loss, Halo(d, 1, context), 3, context)
        grad = jax.jit(jax.grad(loss))(
            with_halo(jnp.asarray(d.local_tile(g, context.rank)), 1),
            d.local_tile(weights, context.rank),
        )
        expected = d.local_tile(interior(grad_serial, 1), context.rank)
        scale = float(jnp.max(jnp.abs(grad_serial)))
        np.testing.assert_allclose(
            interior(grad, 1), expected, rtol=0, atol=1e-14 * scale
        )


def test_gradient_matches_central_finite_differences(context):
    """Central differences with h = 1e-6 have truncation error ~h^2 * f''' ~ 1e-12
    and round-off ~eps * |f| / h ~ 1e-10 relative: 1e-7 relative is a safe bound."""
    d = Decomposition(NX, NY, context.size, 1, periodic_x=True, periodic_y=False)
    halo = Halo(d, 1, context)
    g = np.random.default_rng(5).normal(size=(NY, NX))
    weights = np.random.default_rng(6).uniform(size=(NY, NX))
    w_tile = d.local_tile(weights, context.rank)
    loss = jax.jit(lambda x: stencil_loss(halo, 3, context, x, w_tile))
    x0 = with_halo(jnp.asarray(d.local_tile(g, context.rank)), 1)
    grad = jax.jit(jax.grad(lambda x: stencil_loss(halo, 3, context, x, w_tile)))(x0)
    eps = 1e-6
    for gj, gi in [(0, 0), (5, NX // 2), (NY - 1, NX - 1), (6, NX // 2 - 1)]:
        owner = d.rank_of(gi // d.tile_nx, gj // d.tile_ny)
        x0j, x0i = gj - d.offsets(owner)[1] + 1, gi - d.offsets(owner)[0] + 1
        bump = jnp.zeros_like(x0)
        if context.rank == owner:
            bump = bump.at[x0j, x0i].set(eps)
        fd = (loss(x0 + bump) - loss(x0 - bump)) / (2 * eps)
        analytic = context.bcast(float(grad[x0j, x0i]), root=owner)
        assert abs(float(fd) - analytic) <= 1e-7 * max(1.0, abs(analytic)), (gj, gi)


def test_forward_mode_across_ranks_raises_clearly(context):
    if context.size == 1:
        pytest.skip("forward mode is only refused across ranks")
    d = Decomposition(NX, NY, context.size, 1)
    halo = Halo(d, 1, context)
    x = with_halo(jnp.ones((NY, NX // context.size)), 1)
    with pytest.raises(ForwardModeError, match="Use reverse mode"):
        jax.jacfwd(lambda a: jnp.sum(halo(a)))(x)

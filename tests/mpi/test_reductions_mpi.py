"""Global reductions: reproducible sums are bit-identical for every tiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.parallel.reductions import (
    exact_reference_sum,
    fast_sum,
    global_max,
    global_mean,
    global_min,
    global_sum,
)

pytestmark = pytest.mark.mpi

NX, NY = 48, 16


def wide_range_field(seed):
    """Values spanning ~20 orders of magnitude with both signs: naive sums of it
    depend on order in the last bits, so bitwise agreement is a real test."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, NY, NX)) * np.exp(rng.normal(size=(3, NY, NX)) * 8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_sum_is_bit_identical_to_the_serial_sum(context, serial_context, dtype):
    g = wide_range_field(0).astype(dtype)
    serial = jax.jit(lambda x: global_sum(x, serial_context))(g)
    for px, py in {(context.size, 1), (1, context.size)}:
        tile = Decomposition(NX, NY, px, py).local_tile(g, context.rank)
        total = jax.jit(lambda x: global_sum(x, context))(tile)
        assert total.dtype == dtype
        assert total.tobytes() == serial.tobytes()


def test_global_sum_is_exact_to_one_rounding(context):
    """Within one ulp of math.fsum (the correctly rounded sum); float64 naive
    summation of this field is off by many ulps."""
    g = wide_range_field(1)
    tile = Decomposition(NX, NY, context.size, 1).local_tile(g, context.rank)
    total = float(jax.jit(lambda x: global_sum(x, context))(tile))
    exact = exact_reference_sum(g)
    assert abs(total - exact) <= np.spacing(abs(exact))


def test_extrema_mean_and_gradients(context):
    g = wide_range_field(2)
    w = np.random.default_rng(3).uniform(size=g.shape)
    d = Decomposition(NX, NY, context.size, 1)
    tile, w_tile = d.local_tile(g, context.rank), d.local_tile(w, context.rank)
    assert float(global_max(tile, context)) == g.max()
    assert float(global_min(tile, context)) == g.min()
    mean = float(global_mean(jnp.asarray(tile), jnp.asarray(w_tile), context))
    np.testing.assert_allclose(mean, (w * g).sum() / w.sum(), rtol=1e-12)
    # d/dx sum(w * x) = w, through the reproducible sum's custom JVP.
    grad = jax.grad(lambda x: global_sum(w_tile * x, context))(jnp.asarray(tile))
    np.testing.assert_array_equal(grad, w_tile)
    grad_fast = jax.grad(lambda x: fast_sum(x**2, context))(jnp.asarray(tile))
    np.testing.assert_array_equal(grad_fast, 2 * tile)


@pytest.mark.parametrize("magnitude", [1e-280, 1.0, 1e300])
def test_global_sum_is_exact_at_the_ends_of_the_float64_range(context, magnitude):
    """The power-of-two scalings are built from exponent bits: check them where
    that is delicate (scales near 2**-930 and 2**997), within one ulp of
    math.fsum. The field spans 1e-11..1 of its largest value, so 1e-280 keeps
    every value normal: XLA:CPU flushes subnormals (< 2.2e-308) to zero, which
    no ocean quantity comes near."""
    g = wide_range_field(4)
    g = g / np.abs(g).max() * magnitude  # the largest |value| is `magnitude`
    tile = Decomposition(NX, NY, context.size, 1).local_tile(g, context.rank)
    total = float(jax.jit(lambda x: global_sum(x, context))(tile))
    exact = exact_reference_sum(g)
    assert abs(total - exact) <= np.spacing(abs(exact))
    assert global_sum(jnp.zeros((2, 3)), context) == 0.0

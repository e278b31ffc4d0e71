"""Windows: shifted stencils on cropped rectangles equal the same stencil computed
on the full tile with explicit neighbours, wherever the window holds values."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.physics import window
from neuralogcm_hpc.physics.window import Window

RNG = np.random.default_rng(0)
A = jnp.asarray(RNG.standard_normal((7, 9)))
B = jnp.asarray(RNG.standard_normal((7, 9)))


def test_shift_drops_the_unknown_row_and_keeps_every_value_exact():
    w = Window(A)
    west = w.shift(-1, +1)  # value at i - 1
    assert west.margins == (0, 0, 1, 0)
    np.testing.assert_array_equal(west.array, A[:, :-1])
    north = w.shift(-2, -1)  # value at j + 1
    assert north.margins == (0, 1, 0, 0)
    np.testing.assert_array_equal(north.array, A[1:, :])


def test_laplacian_on_windows_equals_the_explicit_stencil():
    w = Window(A)
    lap = w.shift(-1, 1) + w.shift(-1, -1) + w.shift(-2, 1) + w.shift(-2, -1) - 4 * w
    explicit = (
        A[1:-1, :-2] + A[1:-1, 2:] + A[:-2, 1:-1] + A[2:, 1:-1] - 4 * A[1:-1, 1:-1]
    )
    assert lap.margins == (1, 1, 1, 1)
    np.testing.assert_array_equal(lap.interior(1), explicit)
    with pytest.raises(ValueError, match="exceed the halo 0"):
        lap.interior(0)


def test_arrays_scalars_and_broadcast_columns_mix_in():
    column = jnp.arange(7.0)[:, None]  # a (ny, 1) metric: never cropped along x
    w = Window(A).shift(-1, 1)
    out = (2.0 * w + B) / column + 1.0
    expected = (2.0 * A[:, :-1] + B[:, 1:]) / column + 1.0
    np.testing.assert_array_equal(out.array, expected)
    chosen = window.where(w > 0, w, B)
    np.testing.assert_array_equal(
        chosen.array, jnp.where(A[:, :-1] > 0, A[:, :-1], B[:, 1:])
    )


def test_stored_writes_the_window_into_its_place_and_into_a_slot():
    w = Window(A, (0, 0, 0, 0)).shift(-2, -1).shift(-1, 1)  # margins (0, 1, 1, 0)
    buffer = jnp.zeros((7, 9))
    out = window.stored(w, buffer)
    np.testing.assert_array_equal(out[:-1, 1:], A[1:, :-1])
    np.testing.assert_array_equal(out[-1], 0.0)  # outside: the buffer's values
    ring = window.stored(w, jnp.zeros((3, 7, 9)), 2)
    np.testing.assert_array_equal(ring[2, :-1, 1:], A[1:, :-1])
    np.testing.assert_array_equal(ring[:2], 0.0)

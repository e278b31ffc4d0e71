"""The stability guard: the first bad value and the largest CFL number, found by
global index on any tiling, and a message naming step, field and place."""

import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.physics import guard


@pytest.fixture
def model(serial_context):
    config = case_config("beta_plane_small").replace(
        **{"grid.nx": 16, "grid.ny": 8, "physics.cfl_limit": 0.5}
    )
    return build_model(config, serial_context)


def test_healthy_state_passes(model):
    health = model.health(model.initial_state())
    assert health.ok and 0 < float(health.cfl) < 0.5
    model.check(health, 3)


def test_nan_is_located_by_global_index(model):
    state = model.initial_state()
    fields = model.fields(state)
    fields["v"] = fields["v"].at[5, 11].set(jnp.nan)
    fields["ssh"] = fields["ssh"].at[2, 3].set(jnp.inf)  # a later field: not first
    health = model.health(model.with_fields(state, fields))
    assert not health.ok
    assert guard._decode(int(health.bad_key), model.prognostic_names, 1, (8, 16)) == (
        "v",
        0,
        5,
        11,
    )
    with pytest.raises(
        guard.StabilityError, match=r"step 7: NaN/Inf in v at .*i=11, j=5"
    ):
        model.check(health, 7)


def test_cfl_above_the_limit_names_the_place(model):
    state = model.initial_state()
    fields = model.fields(state)
    # |u| dt / dx = 0.9 at one u face (plus the wave speed): above the 0.5 limit
    fields["u"] = fields["u"].at[4, 9].set(0.9 * model.grid.dx_u[0, 0] / model.dt)
    health = model.health(model.with_fields(state, fields))
    assert health.ok and float(health.cfl) > 0.9
    assert guard._decode(int(health.cfl_key), ("u", "v"), 1, (8, 16)) == ("u", 0, 4, 9)
    with pytest.raises(guard.StabilityError, match=r"CFL .* > 0.5 in u at .*i=9, j=4"):
        model.check(health, 1)


def test_keys_use_global_indices_on_any_tile(serial_context):
    a = jnp.zeros((2, 3, 4))
    (keys,) = guard._local_keys([a], offset=(8, 5), shape_global=(10, 20), nz=2)
    # (k, j, i) = (1, 2, 3) on a tile at x offset 8, y offset 5: global (1, 7, 11)
    assert int(keys[1, 2, 3]) == (1 * 10 + 7) * 20 + 11
    assert guard._decode(int(keys[1, 2, 3]), ("t",), 2, (10, 20)) == ("t", 1, 7, 11)
    np.testing.assert_array_equal(np.unique(np.asarray(keys)).size, keys.size)

"""Shallow water on 1, 2 and 4 ranks: bit-identical to the serial run; gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import INITIAL_CONDITIONS, case_config
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.reductions import global_sum
from neuralogcm_hpc.physics.shallow_water import ShallowWaterModel

pytestmark = pytest.mark.mpi


def small(**changes):
    """A 32 x 16 jet channel; biharmonic on so the stencil reaches the full halo."""
    base = {
        "grid.nx": 32,
        "grid.ny": 16,
        "grid.dx": 20e3,
        "grid.dy": 20e3,
        "physics.ic_width": 80e3,
        "physics.biharmonic": 1e9,
        "physics.viscosity": 200.0,
        "time.dt": 120.0,
    }
    base.update(changes)
    return case_config("beta_plane_small").replace(**base)


def pair(config, context, serial_context):
    init = INITIAL_CONDITIONS[config.physics.initial]
    return (
        ShallowWaterModel(config, context, initial=init),
        ShallowWaterModel(config, serial_context, initial=init),
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"time.integrator": "rk3"},
        {"time.integrator": "ab2", "physics.wind_stress": 0.1, "physics.drag": 1e-6},
        # one exchange per step: the updated ssh is computed one ring into the
        # width-2 halo and must agree with the neighbour's own value bit for bit
        {"time.integrator": "fb_ab3", "physics.wind_stress": 0.1},
        {
            "grid.kind": "sphere",
            "physics.initial": "williamson2",
            "grid.depth": 3000.0,
            "physics.viscosity": 0.0,
            "physics.biharmonic": 0.0,
            "time.dt": 300.0,
            "time.integrator": "rk4",
            "physics.learn_fields": True,
        },
    ],
)
def test_50_steps_bit_identical_to_serial(context, serial_context, changes):
    # exact equality (no tolerance): the step has no cross-cell reductions, and
    # the halo supplies the very values the serial wrap/walls would
    config = small(**changes)
    tiled, serial = pair(config, context, serial_context)
    run = jax.jit(lambda m, s, p: m.advance(s, p, 50), static_argnums=0)
    out = tiled.fields(run(tiled, tiled.initial_state(), tiled.default_params()))
    ref = serial.fields(run(serial, serial.initial_state(), serial.default_params()))
    ys, xs = tiled.decomposition.global_slices(context.rank)
    for name in tiled.prognostic_names:
        np.testing.assert_array_equal(out[name], np.asarray(ref[name])[ys, xs])
    assert float(jnp.abs(out["u"]).max()) > 0  # the flow is not trivially zero


def test_viscosity_gradients_equal_serial(context, serial_context):
    """One compile covers both kinds: the Laplacian viscosity as a learnable 2-D
    field and the biharmonic coefficient as a replicated global scalar."""
    config = small(**{"physics.learn_fields": True})
    tiled, serial = pair(config, context, serial_context)

    def gradient(model, ctx):
        state = model.initial_state()

        def loss(params):
            final = model.advance(state, params, 10)
            return global_sum(model.grid.interior(final.fields["ssh"]) ** 2, ctx)

        grads = jax.jit(jax.grad(loss))(model.default_params())
        return np.asarray(grads.viscosity.raw), float(grads.biharmonic.raw)

    field, scalar = gradient(tiled, context)
    field_ref, scalar_ref = gradient(serial, serial_context)
    ys, xs = tiled.decomposition.global_slices(context.rank)
    # each rank owns its cells' coefficients: its slice of the serial gradient;
    # 1e-12: the adjoint halo adds cotangents in a different order than the wrap
    scale = np.abs(field_ref).max()
    np.testing.assert_allclose(field, field_ref[ys, xs], rtol=1e-12, atol=1e-14 * scale)
    assert np.abs(field).max() > 0
    # a replicated scalar: each rank holds its tile's part, the sum is the
    # gradient (the trainer all-reduces); 1e-12 allows for the summation order
    if context.size > 1:
        scalar = context.host_comm.allreduce(scalar)
    np.testing.assert_allclose(scalar, scalar_ref, rtol=1e-12)


def test_guard_raises_on_every_rank(context):
    """A NaN on the last rank's tile stops every rank with the same message."""
    from neuralogcm_hpc.physics.guard import StabilityError

    model = ShallowWaterModel(small(), context)
    state = model.initial_state()
    fields = model.fields(state)
    if context.rank == context.size - 1:
        fields["ssh"] = fields["ssh"].at[1, 2].set(jnp.inf)
    health = jax.jit(model.health)(model.with_fields(state, fields))
    x0, y0 = model.decomposition.offsets(context.size - 1)
    with pytest.raises(
        StabilityError,
        match=f"step 9: NaN/Inf in ssh .*"
        rf"\(i={x0 + 2}, j={y0 + 1}\)",
    ):
        model.check(health, 9)


def test_island_in_one_tile_bit_identical_to_serial(context, serial_context):
    """Land in only the first tile: its masks vary along x, the other tiles'
    do not. Every rank must still read full mask tiles (grid.x_invariant_columns
    decides with any_rank), or the land-free tiles would compile another
    program and round differently from the serial run."""
    config = small(**{"time.integrator": "fb_ab3", "physics.wind_stress": 0.1})
    depth = np.full((config.grid.ny, config.grid.nx), config.grid.depth)
    depth[5:7, 3:5] = -10.0  # a 2 x 2 island in the south-west tile
    init = INITIAL_CONDITIONS[config.physics.initial]
    tiled, serial = (
        ShallowWaterModel(config, ctx, bathymetry=depth, initial=init)
        for ctx in (context, serial_context)
    )
    run = jax.jit(lambda m, s, p: m.advance(s, p, 50), static_argnums=0)
    out = tiled.fields(run(tiled, tiled.initial_state(), tiled.default_params()))
    ref = serial.fields(run(serial, serial.initial_state(), serial.default_params()))
    ys, xs = tiled.decomposition.global_slices(context.rank)
    # checked after the collective run, so a failing rank cannot leave the
    # others waiting in an exchange
    assert np.asarray(tiled._stencil_grid.mask_u).shape == tiled.grid.shape
    for name in tiled.prognostic_names:
        np.testing.assert_array_equal(out[name], np.asarray(ref[name])[ys, xs])


@functools.cache
def serial_channel(steps: int) -> dict:
    """The 32 x 32 channel's serial fields after ``steps`` steps (once per job)."""
    config = small(**{"grid.ny": 32, "physics.wind_stress": 0.1})
    ctx = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    model = ShallowWaterModel(config, ctx, initial=INITIAL_CONDITIONS["jet"])
    run = jax.jit(lambda s, p: model.advance(s, p, steps))
    final = run(model.initial_state(), model.default_params())
    return {n: np.asarray(x) for n, x in model.fields(final).items()}


@pytest.mark.parametrize("kind", ["tall", "wide", "square"])
def test_every_layout_bit_identical_to_serial(context, kind, layout):
    """A 32 x 32 channel (fb_ab3, biharmonic, wind) on tall (4 x 1: tiles of 8
    columns), wide (1 x 4: tiles of 8 rows, the middle two touching no wall)
    and square (2 x 2) layouts at 4 ranks; 2 x 1 and 1 x 2 at 2. Tiles away
    from the walls have uniform masks, which XLA simplified differently until
    the static arrays went behind a barrier (physics/opaque.py): 1 ulp in
    271 of 1024 cells of a middle tile after one step."""
    tiles = layout(kind)
    steps = 10
    config = small(
        **{
            "grid.ny": 32,
            "physics.wind_stress": 0.1,
            "decomposition.px": tiles[0],
            "decomposition.py": tiles[1],
        }
    )
    model = ShallowWaterModel(config, context, initial=INITIAL_CONDITIONS["jet"])
    run = jax.jit(lambda s, p: model.advance(s, p, steps))
    out = model.fields(run(model.initial_state(), model.default_params()))
    ref = serial_channel(steps)
    ys, xs = model.decomposition.global_slices(context.rank)
    for name in model.prognostic_names:
        np.testing.assert_array_equal(out[name], ref[name][ys, xs])

"""Primitive equations on 1, 2 and 4 ranks: bit-identical to serial; gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.cases import case_config
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.reductions import global_sum
from neuralogcm_hpc.physics.primitive import PrimitiveModel

pytestmark = pytest.mark.mpi

N = 16  # 16 x 16 tiles as 2 x 1 or 2 x 2 ranks; tiles of 8 >= the 4-cell halo


def small_config():
    """A wind-driven, restored 16 x 16 x 4 basin (double_gyre physics) with the
    nonlinear EOS, shear mixing and learnable vertical coefficient fields. The
    barotropic cycle (10 sub-steps per dt, run on to 1.5 dt: 15) has a wide halo
    capped by the tile: 16 rings serially (batches of 14 and 1, one refill), 8
    on 8-cell tiles (batches of 6, 6 and 3, two refills), so the comparison also
    checks the communication-avoiding cycle with different refill points."""
    return case_config("double_gyre").replace(
        **{
            "grid.nx": N, "grid.ny": N, "grid.nz": 4, "grid.dx": 100e3,
            "grid.dy": 100e3, "grid.depth": 2000.0, "grid.dz_surface": 50.0,
            "physics.pe_eos": "jmfwg06", "physics.pe_barotropic_substeps": 10,
            "physics.learn_fields": True, "physics.pe_shear_viscosity": 1e-2,
        }
    )


def bathymetry():
    """A ridge and an island that straddle the tile boundaries at i, j = 8."""
    depth = np.full((N, N), 2000.0)
    depth[:, 7:9] = 900.0
    depth[6:10, 6:10] = 0.0
    return depth


def initial(config):
    x = (np.arange(N) + 0.5) / N
    temp = 12 + 2 * np.tanh((x[None, :, None] - 0.5) / 0.15) * np.ones((4, N, N))
    return {"temp": temp, "ssh": 0.2 * np.sin(2 * np.pi * x)[None, :] * x[:, None]}


def pair(context, serial_context, config=None):
    """(this job's tiled model, the serial one) of ``config`` (small_config())."""
    config = config or small_config()
    return (
        PrimitiveModel(config, context, bathymetry(), initial),
        PrimitiveModel(config, serial_context, bathymetry(), initial),
    )


def assert_tiles_equal_serial(tiled, serial, context, steps) -> dict:
    """Run both models ``steps`` steps from their initial states; every field
    of this rank's tile must equal the serial run's at those global cells.
    Returns the serial fields."""
    run = jax.jit(lambda m, s, p: m.advance(s, p, steps), static_argnums=0)
    out = tiled.fields(run(tiled, tiled.initial_state(), tiled.default_params()))
    ref = serial.fields(run(serial, serial.initial_state(), serial.default_params()))
    ys, xs = tiled.decomposition.global_slices(context.rank)
    for name in tiled.prognostic_names:
        np.testing.assert_array_equal(out[name], np.asarray(ref[name])[..., ys, xs])
    return ref


def test_50_steps_bit_identical_to_serial(context, serial_context):
    # exact equality: nothing in the step reduces across cells, and each halo
    # holds the very values the serial run has at those global cells
    tiled, serial = pair(context, serial_context)
    # opening + one refill + closing, learn_fields 1
    assert serial.exchanges_per_step == 4
    ref = assert_tiles_equal_serial(tiled, serial, context, 50)
    assert float(jnp.abs(ref["u"]).max()) > 1e-3  # the flow is not trivially zero


@pytest.mark.slow  # four reverse-mode compiles per rank: ~10 min on 2 cores
def test_gradients_equal_serial(context, serial_context):
    tiled, serial = pair(context, serial_context)

    def gradient(model, ctx):
        state = model.initial_state()

        def loss(params):
            f = model.fields(model.advance(state, params, 5))
            return global_sum(f["u"] ** 2 + f["temp"][0] ** 2 * 1e-3, ctx)

        g = jax.jit(jax.grad(loss))(model.default_params())
        return (
            np.asarray(g.vertical_diffusivity.raw),
            float(g.viscosity.raw),
            float(g.diffusivity.raw),
        )

    field, *scalars = gradient(tiled, context)
    field_ref, *scalars_ref = gradient(serial, serial_context)
    ys, xs = tiled.decomposition.global_slices(context.rank)
    # each rank owns its columns' coefficients; 1e-12: the adjoint halo adds
    # cotangents in another order than the serial wrap does
    scale = np.abs(field_ref).max()
    np.testing.assert_allclose(
        field, field_ref[:, ys, xs], rtol=1e-12, atol=1e-14 * scale
    )
    assert scale > 0
    # replicated scalars: the ranks' parts sum to the serial gradient
    if context.size > 1:
        scalars = [context.host_comm.allreduce(s) for s in scalars]
    np.testing.assert_allclose(scalars, scalars_ref, rtol=1e-10)


@functools.cache
def serial_basin(steps: int) -> dict:
    """The 16 x 16 basin's serial fields after ``steps`` steps (once per job)."""
    ctx = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    model = PrimitiveModel(small_config(), ctx, bathymetry(), initial)
    run = jax.jit(lambda s, p: model.advance(s, p, steps))
    final = run(model.initial_state(), model.default_params())
    return {n: np.asarray(x) for n, x in model.fields(final).items()}


# CI keeps "wide" (1 x 2 at 2 ranks: 71 s with the serial reference, loaded
# machine); "tall" and "square" add ~50 s per layout and rank count
@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("tall", marks=pytest.mark.slow),
        "wide",
        pytest.param("square", marks=pytest.mark.slow),
    ],
)
def test_every_layout_bit_identical_to_serial(context, kind, layout):
    """The 16 x 16 basin on tall and wide layouts (2 ranks: 2 x 1, tiles of 8
    columns, and 1 x 2, tiles of 8 rows; 4 ranks: 4 x 1 and 1 x 4, tiles of 4,
    as narrow as the halo, and the square 2 x 2). The barotropic cycle's wide
    halo is capped by the tile (16 serially, 8 or 4 here), so the level sums
    run on differently shaped arrays: with jnp.sum they rounded differently
    (1 ulp of the 2000 m depth), hence baroclinic.level_sum."""
    tiles = layout(kind)
    steps = 5
    config = small_config().replace(
        **{"decomposition.px": tiles[0], "decomposition.py": tiles[1]}
    )
    model = PrimitiveModel(config, context, bathymetry(), initial)
    run = jax.jit(lambda s, p: model.advance(s, p, steps))
    out = model.fields(run(model.initial_state(), model.default_params()))
    ref = serial_basin(steps)
    ys, xs = model.decomposition.global_slices(context.rank)
    for name in model.prognostic_names:
        np.testing.assert_array_equal(out[name], ref[name][..., ys, xs])


def test_forcing_store_with_winds_and_heat_flux_bit_identical_to_serial(
    context, serial_context, shared_tmp_path
):
    """Records read per tile and fetched per step by the host callback: 10 m
    winds varying in x and y (the bulk formula's face averages at tile edges
    need the neighbour's centres), a heat flux and restoring targets."""
    from neuralogcm_hpc.physics.forcing_store import write_store

    path = shared_tmp_path / "forcing.zarr"
    if context.is_root:
        y, x = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
        base = np.sin(2 * np.pi * x / N) * np.cos(np.pi * y / N)
        ramp = np.array([1.0, 2.0, 0.5])[:, None, None]
        write_store(path, np.array([0.0, 3600.0, 7200.0]), u10=8 * ramp * base,
                    v10=5 * ramp * base.T, heat_flux=100 * ramp * base,
                    temp_star=12 + ramp * base)
    context.barrier()  # the store is written before any rank reads it
    config = small_config().replace(**{"physics.forcing": str(path)})
    tiled, serial = pair(context, serial_context, config)
    assert_tiles_equal_serial(tiled, serial, context, 6)

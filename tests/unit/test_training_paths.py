"""Training paths beyond the shallow-water default: a user dataset as NetCDF, the
volume-drift penalty, and the hybrid over the primitive-equation core."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.model import HybridModel
from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.training import data as D
from neuralogcm_hpc.training.loss import LossSpec, cell_weights, step_loss


# -- a user dataset written as NetCDF in the documented layout ----------------------
def user_dataset(ny=8, nx=12, nz=3):
    """Random u, v, ssh (trajectory, time, y, x) and temp (trajectory, time, z, y,
    x), 600 s between snapshots - the layout read_tiles documents."""
    rng = np.random.default_rng(7)
    d2, d3 = D.DIMS_2D, D.DIMS_3D
    shape = (2, 5, ny, nx)
    variables = {n: (d2, rng.normal(size=shape)) for n in ("u", "v", "ssh")}
    variables["temp"] = (d3, rng.normal(size=(2, 5, nz, ny, nx)))
    return xr.Dataset(variables, coords={"time": ("time", np.arange(5) * 600.0)})


def test_netcdf_user_dataset_reads_only_each_tile_and_equals_zarr(tmp_path,
                                                                  monkeypatch):
    from xarray.backends import scipy_

    ds = user_dataset()
    ds.to_netcdf(tmp_path / "user.nc", engine="scipy")  # NetCDF3, no C library
    ds.to_zarr(tmp_path / "user.zarr", zarr_format=3, consolidated=False)
    reads = []  # every (y, x) window the NetCDF backend is asked for
    original = scipy_.ScipyArrayWrapper._getitem

    def spy(self, key):
        reads.append((self.variable_name, key[-2:]))
        return original(self, key)

    monkeypatch.setattr(scipy_.ScipyArrayWrapper, "_getitem", spy)
    names = ("u", "v", "ssh", "temp")
    d = Decomposition(12, 8, 3, 2, True, False)  # 6 tiles of 4 x 4
    for rank in range(6):
        reads.clear()
        nc = D.read_tiles(tmp_path / "user.nc", names, d, rank)
        zarr = D.read_tiles(tmp_path / "user.zarr", names, d, rank)
        ys, xs = d.global_slices(rank)
        assert nc.dt == zarr.dt == 600.0
        for name in names:
            np.testing.assert_array_equal(nc.fields[name], zarr.fields[name])
            np.testing.assert_array_equal(nc.fields[name],
                                          ds[name].values[..., ys, xs])
        data_reads = [(n, k) for n, k in reads if n in names]
        assert {n for n, _ in data_reads} == set(names)
        for name, (ky, kx) in data_reads:  # never outside this rank's tile
            got = (np.arange(8)[ky], np.arange(12)[kx])
            assert set(got[0]) <= set(range(8)[ys]), (rank, name, ky)
            assert set(got[1]) <= set(range(12)[xs]), (rank, name, kx)


# -- the volume-drift penalty ---------------------------------------------------------
@pytest.fixture(scope="module")
def sw_hybrid():
    """The 16 x 8 beta-plane channel of test_training.py, physics core only."""
    from neuralogcm_hpc.parallel.context import get_context

    config = case_config("beta_plane").replace(**{
        "grid.nx": 16, "grid.ny": 8, "grid.dx": 25e3, "grid.dy": 25e3})
    return HybridModel(build_model(config, get_context()))


def test_volume_penalty_is_zero_when_volume_is_conserved_and_has_the_fd_gradient(
        context, sw_hybrid):
    # stats: the penalty is lambda (dV / (A std_ssh))^2 with std_ssh = 0.5 m, so a
    # uniform ssh offset c gives exactly lambda (c / 0.5)^2 (A cancels).
    lam, std = 3.0, 0.5
    stats = types.SimpleNamespace(std={"u": np.ones(1), "v": np.ones(1),
                                       "ssh": np.full(1, std)})
    spec = LossSpec.build(sw_hybrid, stats, context, volume=lam)
    fields = sw_hybrid.model.fields(sw_hybrid.model.initial_state())
    target = {n: jnp.asarray(x) for n, x in fields.items()}
    area = cell_weights(sw_hybrid)["ssh"][0]

    # 1) volume conserved: +0.1 m in one wet cell, the same volume out of another
    # costs MSE but no penalty: dV = 6.25e7 - 6.25e7 m3 cancels to round-off
    # (~1e-8 m3), penalty ~ 3 (1e-8)^2 / (A std)^2 = 3e-16 / 1.6e21, far below 1e-24.
    area_np = np.asarray(area)
    wet = np.argwhere(area_np > 0)
    (j0, i0), (j1, i1) = wet[0], wet[-1]
    bump = np.zeros(area.shape)
    bump[j0, i0], bump[j1, i1] = 0.1, -0.1 * area_np[j0, i0] / area_np[j1, i1]
    moved = dict(target, ssh=target["ssh"] + bump)
    mse, _, penalty = jax.jit(lambda p: step_loss(spec, p, target, context))(moved)
    assert float(mse) > 0 and abs(float(penalty)) <= 1e-24

    # 2) a uniform offset c: penalty = lam (c / std)^2, and the surrogate's
    # gradient (what training differentiates) equals d penalty / dc = 2 lam c /
    # std^2 - sign and magnitude - and a central difference of the penalty
    # (exact for a quadratic up to round-off: 1e-9 relative).
    mask = area > 0

    @jax.jit
    def terms(c):
        pred = dict(target, ssh=target["ssh"] + c * mask)
        return step_loss(spec, pred, target, context)

    penalty_grad = jax.jit(jax.grad(lambda c: terms(c)[1] - terms(c)[0]))
    for c in (0.02, -0.05):
        penalty = float(terms(c)[2])
        np.testing.assert_allclose(penalty, lam * (c / std) ** 2, rtol=1e-12)
        grad = float(penalty_grad(c))
        h = 1e-4
        fd = (float(terms(c + h)[2]) - float(terms(c - h)[2])) / (2 * h)
        np.testing.assert_allclose(grad, 2 * lam * c / std**2, rtol=1e-12)
        np.testing.assert_allclose(grad, fd, rtol=1e-9)
        assert np.sign(grad) == np.sign(c)  # pushes the volume back


# -- the hybrid over the primitive-equation core ------------------------------------
def pe_config():
    """An 8 x 8 x 2 closed basin with double_gyre physics (walls on all sides), the
    linear EOS, two 500 m levels and 4 barotropic sub-steps of 450 s:
    sqrt(g H) dts / dx = 99 x 450 / 200e3 = 0.22. The smallest 3-D problem."""
    return case_config("double_gyre").replace(**{
        "grid.nx": 8, "grid.ny": 8, "grid.nz": 2, "grid.dx": 200e3,
        "grid.dy": 200e3, "grid.depth": 1000.0, "grid.dz_surface": 0.0,
        "physics.pe_eos": "linear", "physics.pe_barotropic_substeps": 4,
        "train.rollout": 1, "train.batch": 1, "train.width": 4, "train.depth": 2,
        "train.warmup_steps": 0, "train.output_init_scale": 1.0,
    })


@pytest.fixture(scope="module")
def pe_hybrid():
    """(hybrid, params with a fresh corrector, three snapshots of the core's own
    run as one trajectory, their statistics) with an island inside the basin."""
    from neuralogcm_hpc.parallel.context import get_context
    from neuralogcm_hpc.physics.primitive import PrimitiveModel
    from neuralogcm_hpc.training.normalise import corrector_normaliser, field_stats

    context, config = get_context(), pe_config()
    depth = np.full((8, 8), 1000.0)
    depth[3:5, 2:4] = 0.0  # land inside the basin, not only the walls
    model = PrimitiveModel(config, context, depth)
    hybrid = HybridModel(model)
    params = model.default_params()
    run = jax.jit(model.advance, static_argnums=2)
    states = [model.initial_state()]
    for _ in range(2):
        states.append(run(states[-1], params, 1))
    fields = {n: np.stack([np.asarray(model.fields(s)[n]) for s in states])[None]
              for n in model.prognostic_names}
    data = D.TileDataset(fields, model.dt)
    stats = field_stats(data, cell_weights(hybrid), context)
    t = config.train
    hp = hybrid.init_params(params, jax.random.key(1), t.width, t.depth,
                            corrector_normaliser(stats, hybrid, context),
                            t.output_init_scale)
    return hybrid, hp, data, stats, states[1]


def test_primitive_equation_hybrid_corrector_is_land_masked(pe_hybrid):
    # 3-D fields enter as level channels; every output is exactly 0 on land (the
    # island and the walls) and not 0 on water; a hybrid step stays finite.
    hybrid, hp, _, _, state = pe_hybrid
    corr = jax.jit(hybrid.correction)(hp.corrector, state.fields)
    assert set(corr) == set(hybrid.names) == {"u", "v", "temp", "salt", "ssh"}
    for name, c in corr.items():
        c, land = np.asarray(c), np.asarray(hybrid.out_masks[name]) == 0
        assert land.any() and (c[np.broadcast_to(land, c.shape)] == 0).all(), name
        assert np.abs(c).max() > 0, name
    after = hybrid.model.fields(jax.jit(hybrid.step)(state, hp))
    assert all(np.isfinite(np.asarray(x)).all() for x in after.values())


@pytest.mark.slow  # a reverse-mode compile of the 3-D core: ~50 s CPU on 2 cores
def test_primitive_equation_hybrid_trains_one_step(context, pe_hybrid):
    from neuralogcm_hpc.training.trainer import Trainer

    hybrid, hp, data, stats, _ = pe_hybrid
    trainer = Trainer(pe_config(), context, hybrid, hp, data, stats)
    state = trainer.init_state()
    before = trainer.params(state)
    state, metrics = trainer.train_step(state)
    assert np.isfinite(float(metrics["loss"])) and float(metrics["loss"]) > 0
    assert np.isfinite(float(metrics["gnorm"])) and float(metrics["gnorm"]) > 0
    after = trainer.params(state)
    assert not np.array_equal(after.corrector.head.weight, before.corrector.head.weight)
    assert not np.array_equal(after.physics.viscosity.raw, before.physics.viscosity.raw)
    for leaf in jax.tree.leaves(after):
        assert np.all(np.isfinite(np.asarray(leaf)))

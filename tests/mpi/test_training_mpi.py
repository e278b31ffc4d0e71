"""Hybrid training on 1, 2 and 4 ranks against the serial run in the same process."""

import jax
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.model import HybridModel
from neuralogcm_hpc.training import data as D
from neuralogcm_hpc.training.loss import cell_weights
from neuralogcm_hpc.training.normalise import corrector_normaliser, field_stats
from neuralogcm_hpc.training.trainer import Trainer

pytestmark = pytest.mark.mpi


def tiny(size, **changes):
    """16 x 8 channel (as tests/unit/test_training.py); 4 ranks tile it 2 x 2 so
    halos cross both axes and corners; corrector depth 3 > halo 2 needs one
    feature re-exchange."""
    base = {
        "grid.nx": 16, "grid.ny": 8, "grid.dx": 25e3, "grid.dy": 25e3,
        "time.dt": 300.0, "time.integrator": "heun", "physics.viscosity": 2000.0,
        "train.refine": 1, "train.fine_viscosity_factor": 1.0, "train.spinup": 0,
        "train.trajectory_length": 6, "train.trajectories": "1,1,1",
        "train.rollout": 2, "train.batch": 2, "train.width": 4, "train.depth": 3,
        "train.warmup_steps": 0, "train.output_init_scale": 1.0,
    }
    if size == 4:
        base.update({"decomposition.px": 2, "decomposition.py": 2})
    base.update(changes)
    return case_config("beta_plane").replace(**base)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from neuralogcm_hpc.parallel.context import get_context

    context = get_context()
    path = tmp_path_factory.mktemp("data") if context.is_root else None
    path = type(tmp_path_factory.getbasetemp())(context.bcast(str(path)))
    D.generate(tiny(context.size), context, path, build_model)  # collective
    return path


def trainer_for(config, context, data_dir):
    if context.size == 1:  # the serial reference: one tile, whatever the job's
        config = config.replace(**{"decomposition.px": 0, "decomposition.py": 0})
    model = build_model(config, context)
    hybrid = HybridModel(model, config.train.cadence, config.train.coupling)
    read = lambda s: D.read_tiles(data_dir / f"{s}.zarr", model.prognostic_names,  # noqa: E731
                                  model.decomposition, context.rank)
    train = read("train")
    stats = field_stats(train, cell_weights(hybrid), context)
    t = config.train
    norm = corrector_normaliser(stats, hybrid, context) if t.use_corrector else None
    params = hybrid.init_params(model.default_params(), jax.random.key(3), t.width,
                                t.depth, norm, t.output_init_scale, t.use_corrector)
    return Trainer(config, context, hybrid, params, train, stats, read("val"))


def test_corrector_and_hybrid_step_on_tiles_equal_serial(context, serial_context,
                                                         data_dir):
    # Bitwise: VALID convolutions read only halo cells the exchange fills with the
    # neighbours' values, so each tile computes the global network's own numbers.
    config = tiny(context.size)
    tiled = trainer_for(config, context, data_dir)
    serial = trainer_for(config, serial_context, data_dir)
    d = tiled.hybrid.model.decomposition
    ys, xs = d.global_slices(context.rank)
    for t in (tiled, serial):
        t.state0 = t.hybrid.model.with_fields(
            t.template, {n: x[0, 2] for n, x in t.data.fields.items()})
    assert tiled.trainable0.corrector.depth > tiled.hybrid.halo.width
    for trainer in (tiled, serial):
        params = trainer.params(trainer.init_state())
        trainer.corr = jax.jit(trainer.hybrid.correction)(params.corrector,
                                                          trainer.state0.fields)
        trainer.next = trainer.hybrid.model.fields(
            jax.jit(trainer.hybrid.step)(trainer.state0, params))
    for name in tiled.corr:
        np.testing.assert_array_equal(tiled.corr[name], serial.corr[name][..., ys, xs])
        np.testing.assert_array_equal(tiled.next[name], serial.next[name][..., ys, xs])


def test_one_optimisation_step_equals_serial(context, serial_context, data_dir):
    # Not bitwise: the gradient of a replicated weight is a sum over all cells,
    # which autodiff adds per tile and we then add over ranks - another summation
    # order than one global sum. Norm-wise over the whole parameter vector the
    # step agrees to <= 1e-13 relative. Element-wise the worst case is a weight
    # whose gradient is a cancelling sum of size comparable to Adam's eps = 1e-8
    # (measured: a zero-initialised head bias, 1.7e-12 relative in g, 4e-13
    # relative in its first update): <= 1e-12 of max(|theta|, lr) per element.
    config = tiny(context.size)
    results = []
    for ctx in (context, serial_context):
        trainer = trainer_for(config, ctx, data_dir)
        state, metrics = trainer.train_step(trainer.init_state())
        results.append((trainer.params(state), float(metrics["loss"])))
    (tiled, loss_t), (serial, loss_s) = results
    assert abs(loss_t - loss_s) <= 1e-13 * abs(loss_s)
    a = np.concatenate([np.ravel(x) for x in jax.tree.leaves(tiled.corrector)])
    b = np.concatenate([np.ravel(x) for x in jax.tree.leaves(serial.corrector)])
    assert np.max(np.abs(a - b)) <= 1e-13 * np.max(np.abs(b))
    lr = config.train.learning_rate
    np.testing.assert_array_less(np.abs(a - b), 1e-12 * np.maximum(np.abs(b), lr))
    np.testing.assert_allclose(tiled.physics.viscosity.raw,
                               serial.physics.viscosity.raw, rtol=1e-13)


def test_identical_twin_matches_serial(context, serial_context, data_dir):
    # 15 physics-only steps from nu = 500: the viscosity path on N ranks follows
    # the serial one; rounding differences of O(1e-16) per step do not grow
    # beyond 1e-11 relative over 15 Adam steps.
    config = tiny(context.size, **{"physics.viscosity": 500.0,
                                   "train.use_corrector": False,
                                   "train.physics_learning_rate": 0.1})
    values = []
    for ctx in (context, serial_context):
        trainer = trainer_for(config, ctx, data_dir)
        state = trainer.init_state()
        for step in range(15):
            state, _ = trainer.train_step(state)
            if step % 5 == 4:
                trainer.check_identical(state)
        values.append(float(trainer.params(state).physics.viscosity.value()))
    assert values[0] > 700.0  # it moved towards 2000 from 500
    assert abs(values[0] - values[1]) <= 1e-11 * values[1]

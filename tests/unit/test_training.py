"""Training: identical twin, rollout gradient vs finite differences, freezing, a
learning test, and bitwise resume, on a 16 x 8 beta-plane channel."""

import os
import signal

import equinox as eqx
import jax
import numpy as np
import pytest

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.config import ConfigError
from neuralogcm_hpc.model import HybridModel, filter_spec
from neuralogcm_hpc.trained import load_trained
from neuralogcm_hpc.training import data as D
from neuralogcm_hpc.training.loss import cell_weights, rollout_loss
from neuralogcm_hpc.training.normalise import corrector_normaliser, field_stats
from neuralogcm_hpc.training.trainer import Trainer, TrainState, train_main

TRUE_NU = 2000.0  # m2 s-1; nu dt / dx^2 = 1e-3, diffusive time dx^2 / nu = 3.6 days


def tiny(**changes):
    """25 km cells, H = 100 m: c dt / dx = 31.3 * 300 / 25e3 = 0.38 (Heun is
    stable to ~1 for the C-grid wave operator); the jet is 2 cells wide."""
    base = {
        "grid.nx": 16, "grid.ny": 8, "grid.dx": 25e3, "grid.dy": 25e3,
        "time.dt": 300.0, "time.integrator": "heun", "physics.viscosity": TRUE_NU,
        "train.refine": 1, "train.fine_viscosity_factor": 1.0, "train.spinup": 0,
        "train.trajectory_length": 10, "train.trajectories": "2,1,1",
        "train.rollout": 2, "train.batch": 2, "train.width": 4, "train.depth": 2,
        "train.warmup_steps": 0, "train.log_every": 1000, "train.validate_every": 1000,
    }
    base.update(changes)
    return case_config("beta_plane").replace(**base)


def setup(config, context, data_dir, seed=0):
    model = build_model(config, context)
    hybrid = HybridModel(model, config.train.cadence, config.train.coupling)
    read = lambda s: D.read_tiles(data_dir / f"{s}.zarr", model.prognostic_names,  # noqa: E731
                                  model.decomposition, context.rank)
    train, val = read("train"), read("val")
    stats = field_stats(train, cell_weights(hybrid), context)
    t = config.train
    norm = corrector_normaliser(stats, hybrid, context) if t.use_corrector else None
    params = hybrid.init_params(model.default_params(), jax.random.key(seed), t.width,
                                t.depth, norm, t.output_init_scale, t.use_corrector)
    return Trainer(config, context, hybrid, params, train, stats, val)


@pytest.fixture(scope="module")
def twin_data(tmp_path_factory):
    """Identical-twin data: the core itself with nu = 2000 m2 s-1, no refinement."""
    from neuralogcm_hpc.parallel.context import get_context

    path = tmp_path_factory.mktemp("twin")
    D.generate(tiny(), get_context(), path, build_model)
    return path


def viscosity(trainer, state):
    return float(trainer.params(state).physics.viscosity.value())


def test_identical_twin_recovers_viscosity(context, twin_data):
    # From nu = 500 (4x too small). Noise-free twin data make nu identifiable to
    # round-off; 60 Adam steps with a cosine decay bring it within 2 %.
    config = tiny(**{"physics.viscosity": 500.0, "train.use_corrector": False,
                     "train.steps": 60, "train.physics_learning_rate": 0.1,
                     "train.clip_norm": 0.0})
    trainer = setup(config, context, twin_data)
    state = trainer.init_state()
    for _ in range(60):
        state, _ = trainer.train_step(state)
    assert abs(viscosity(trainer, state) / TRUE_NU - 1) < 0.02


def test_rollout_gradient_matches_finite_differences(context, twin_data):
    # Central differences with h = 1e-5 in raw parameter units: truncation
    # O(h^2 f''') ~ 1e-10 relative, round-off ~ 1e-16 / 1e-5 = 1e-11 relative;
    # 1e-6 relative leaves room for both.
    config = tiny(**{"physics.viscosity": 800.0, "train.output_init_scale": 1.0})
    trainer = setup(config, context, twin_data)
    hybrid, spec = trainer.hybrid, trainer.loss_spec
    first, targets = trainer._stack(trainer.data, np.array([[0, 1]]), 2)
    first = {k: v[0] for k, v in first.items()}
    targets = {k: v[0] for k, v in targets.items()}
    params0 = trainer.params(trainer.init_state())

    def loss(p):
        state = hybrid.model.with_fields(trainer.template, first)
        return rollout_loss(hybrid, p, state, targets, spec, context, 1)[0]

    grads = jax.jit(jax.grad(loss))(params0)
    value = jax.jit(loss)
    picks = [
        (lambda p: p.physics.viscosity.raw, ()),
        (lambda p: p.corrector.head.weight, (0, 1, 0, 0)),
        (lambda p: p.corrector.lift.weight, (1, 2, 1, 0)),
    ]
    h = 1e-5
    for where, index in picks:
        leaf = where(params0)
        plus = eqx.tree_at(where, params0, leaf.at[index].add(h))
        minus = eqx.tree_at(where, params0, leaf.at[index].add(-h))
        fd = (float(value(plus)) - float(value(minus))) / (2 * h)
        exact = float(where(grads)[index])
        assert abs(exact - fd) <= 1e-6 * abs(exact) + 1e-14, (index, exact, fd)


def test_freezing_trains_only_the_chosen_part(context, twin_data):
    config = tiny(**{"physics.viscosity": 800.0, "train.train_physics": False,
                     "train.output_init_scale": 1.0})
    trainer = setup(config, context, twin_data)
    state = trainer.init_state()
    before = trainer.params(state)
    after = trainer.params(trainer.train_step(state)[0])
    assert float(after.physics.viscosity.raw) == float(before.physics.viscosity.raw)
    assert not np.array_equal(after.corrector.head.weight, before.corrector.head.weight)
    np.testing.assert_array_equal(after.corrector.norm.in_std,
                                  before.corrector.norm.in_std)
    frozen_net = setup(tiny(**{"train.train_corrector": False}), context, twin_data)
    assert jax.tree.leaves(frozen_net.trainable0.corrector) == []
    assert len(jax.tree.leaves(frozen_net.trainable0.physics)) == 1


def test_hybrid_beats_physics_only(context, tmp_path):
    # Truth has linear bottom drag r = 3e-5 s-1 that the core lacks (it changes u
    # by ~1 % per 300 s step); the corrector must learn the local tendency -r u.
    # Physics-only validation MSE is the yardstick; "clearly below" = < 1/2 of it.
    D.generate(tiny(**{"physics.drag": 3e-5}), context, tmp_path, build_model)
    config = tiny(**{"train.steps": 150, "train.learning_rate": 1e-2,
                     "train.train_physics": False, "train.width": 8,
                     "train.output_init_scale": 1e-2})
    # The free run over 9 steps (4.5x the training rollout) must improve as well:
    # the corrector has to generalise beyond the windows it was fitted on.
    trainer = setup(config, context, tmp_path)
    state = trainer.init_state()
    physics_only = trainer.evaluate(state, trainer.val, 2)  # corrector ~ 0 at start
    physics_free = trainer.forecast_error(state, trainer.val, 9)
    for _ in range(150):
        state, _ = trainer.train_step(state)
    hybrid = trainer.evaluate(state, trainer.val, 2)
    hybrid_free = trainer.forecast_error(state, trainer.val, 9)
    print(f"validation normalised MSE: physics {physics_only:.3e} hybrid {hybrid:.3e}"
          f"; 9-step free run: physics {physics_free:.3e} hybrid {hybrid_free:.3e}")
    assert hybrid < 0.5 * physics_only
    assert hybrid_free < 0.5 * physics_free


def test_resumed_training_equals_uninterrupted_bitwise(context, twin_data, tmp_path):
    # train_main rebuilds everything (data reader, statistics, network, optimiser)
    # from the config, so the second half of the resumed run starts from nothing
    # but the checkpoint: params, optimiser state and the data position.
    config = tiny(**{"physics.viscosity": 800.0, "train.data": str(twin_data),
                     "train.steps": 4, "train.checkpoint_every": 2,
                     "train.output_init_scale": 1.0, "train.eval_leads": ""})
    whole = train_main(config, context, checkpoint_dir=str(tmp_path / "a"))

    def signal_at_step_1(line):  # what Slurm does before the time limit
        if line.startswith("step 1/"):
            os.kill(os.getpid(), signal.SIGUSR1)

    stopped = train_main(config.replace(**{"train.log_every": 1}), context,
                         checkpoint_dir=str(tmp_path / "b"), log=signal_at_step_1)
    assert stopped["stopped_early"] and stopped["steps"] == 1
    resumed = train_main(config, context, checkpoint_dir=str(tmp_path / "b"),
                         resume=True)
    assert resumed["steps"] == whole["steps"] == 4
    assert resumed["params_sha256"] == whole["params_sha256"]
    assert resumed["loss"] == whole["loss"]
    # another network or learning rate would not continue this optimisation
    with pytest.raises(ConfigError, match=r"train.learning_rate: checkpoint 0.001"):
        train_main(config.replace(**{"train.learning_rate": 0.01}), context,
                   checkpoint_dir=str(tmp_path / "b"), resume=True)
    # simulate's path: the trained model comes back from the checkpoint directory
    model = build_model(config, context)
    hybrid, params = load_trained(tmp_path / "a", model, context)
    assert hybrid.cadence == config.train.cadence
    trainer = setup(config, context, twin_data)
    state = trainer.init_state()
    trained = TrainState(eqx.partition(params, filter_spec(params, True, True))[0],
                         state.opt_state, 4)
    assert trainer.params_hash(trained) == whole["params_sha256"]


def test_evaluation_of_the_true_model_is_perfect(context, twin_data, tmp_path):
    # Twin data are the core's own trajectory, re-started from snapshot 0 with the
    # true viscosity: the forecast repeats the generator's arithmetic, so RMSE is 0
    # to round-off (<= 1e-12 of the std) and the anomaly correlation 1; a wrong
    # viscosity must score worse. JSON and PNG are written.
    from neuralogcm_hpc.training import evaluate as E

    trainer = setup(tiny(**{"train.use_corrector": False}), context, twin_data)
    true = trainer.params(trainer.init_state())
    wrong = eqx.tree_at(lambda p: p.physics.viscosity.raw, true,
                        true.physics.viscosity.raw - 2.0)
    test = D.read_tiles(twin_data / "test.zarr", ("u", "v", "ssh"),
                        trainer.hybrid.model.decomposition, context.rank)
    days = [300 / 86400, 1500 / 86400]  # 1 and 5 hybrid steps
    stats = field_stats(trainer.data, cell_weights(trainer.hybrid), context)
    # the "hybrid" slot holds the wrong-viscosity model, "physics" the true one
    result = E.compare(trainer.hybrid, wrong, true, test, days, stats, context)
    assert result["lead_steps"] == [1, 5]
    for name in ("u", "v", "ssh"):
        assert max(result["physics"][name]["rmse_normalised"]) <= 1e-12
        assert min(result["physics"][name]["acc"]) > 1 - 1e-12
        assert result["hybrid"][name]["rmse"][-1] > 0
    json_path, png_path = E.write_report(result, tmp_path / "skill")
    assert json_path.stat().st_size > 0 and png_path.stat().st_size > 0


def test_persistence_and_climatology_references():
    from neuralogcm_hpc.training import evaluate as E

    rng = np.random.default_rng(0)
    fields = {"temp": rng.normal(size=(2, 5, 3, 4, 6)),
              "ssh": rng.normal(size=(2, 5, 4, 6))}
    test = D.TileDataset(fields, 86400.0)
    clim = {n: x.mean(axis=(0, 1)) for n, x in fields.items()}
    refs = E.reference_forecasts(test, [1, 4], clim)
    for n, x in fields.items():
        assert refs["persistence"][n].shape == (2, 2) + x.shape[2:]
        np.testing.assert_array_equal(refs["persistence"][n][:, 1], x[:, 0])
        np.testing.assert_array_equal(refs["climatology"][n][1, 0], clim[n])

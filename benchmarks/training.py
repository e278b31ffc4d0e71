"""Training throughput and memory vs rollout length; hybrid vs physics-only skill.

Usage: python benchmarks/training.py [--nx 32 --ny 16] [--rollouts 4 16 64]
           [--train-steps 300] [--out benchmarks/results/training.json]
Part 1 (memory/throughput): for each rollout length R, with nested jax.checkpoint
(segment ~ sqrt R) and without, compile one optimisation step and report XLA's
compiled memory analysis (temp bytes: the activations kept for the backward
pass) and samples/s over timed steps after warm-up.
Part 2 (skill): coarse-grained data from a 2x finer run with 1/4 the viscosity,
train the hybrid (corrector + viscosity) on it and compare RMSE / anomaly
correlation of physics-only and hybrid forecasts on the held-out test
trajectories at 1/10/30/120-day leads (as far as the test data reach).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

from neuralogcm_hpc.cases import case_config  # noqa: E402
from neuralogcm_hpc.parallel.context import get_context  # noqa: E402
from neuralogcm_hpc.training import evaluate as E  # noqa: E402
from neuralogcm_hpc.training.trainer import build  # noqa: E402


def config(nx: int, ny: int, **changes):
    """A 25 km beta-plane jet channel; dt = 480 s (c dt / dx = 0.6, inside
    SSP-RK3's C-grid limit); one hybrid step = 15 model steps = 2 hours."""
    base = {
        "grid.nx": nx, "grid.ny": ny, "grid.dx": 25e3, "grid.dy": 25e3,
        "time.dt": 480.0, "time.integrator": "rk3", "physics.viscosity": 2000.0,
        "physics.ic_width": 75e3, "physics.wind_stress": 0.05, "physics.drag": 5e-7,
        "train.cadence": 15, "train.refine": 2, "train.fine_viscosity_factor": 0.25,
        "train.spinup": 60, "train.width": 16, "train.depth": 3, "train.batch": 2,
        "train.warmup_steps": 20, "train.log_every": 50, "train.validate_every": 100,
    }
    base.update(changes)
    return case_config("beta_plane").replace(**base)


def memory_and_throughput(cfg, data_dir, rollouts, steps_timed: int) -> list[dict]:
    context = get_context()
    rows = []
    for rollout in rollouts:
        for remat in (True, False):
            # one physics step per hybrid step: R is then the rollout in steps
            c = cfg.replace(**{"train.rollout": rollout, "train.cadence": 1,
                               "train.remat_segment": 0 if remat else -1})
            trainer, state = build(c, context, data_dir)
            segment = trainer.segment(rollout)
            first, targets = trainer._stack(trainer.data,
                                            trainer.batch(0, rollout), rollout)
            fn = trainer._step_fn(segment)
            t0 = time.perf_counter()
            compiled = fn.lower(state.trainable, state.opt_state, first,
                                targets).compile()
            compile_s = time.perf_counter() - t0
            mem = compiled.memory_analysis()
            trainable, opt_state = state.trainable, state.opt_state
            for n in range(steps_timed + 1):  # the first call is the warm-up
                if n == 1:
                    t0 = time.perf_counter()
                first, targets = trainer._stack(trainer.data,
                                                trainer.batch(n, rollout), rollout)
                trainable, opt_state, metrics = compiled(trainable, opt_state,
                                                         first, targets)
            jax.block_until_ready(metrics["loss"])
            elapsed = time.perf_counter() - t0
            rows.append({
                "rollout": rollout, "checkpointing": remat,
                "segment": segment if remat else None,
                "temp_bytes": int(mem.temp_size_in_bytes),
                "argument_bytes": int(mem.argument_size_in_bytes),
                "samples_per_s": steps_timed * c.train.batch / elapsed,
                "compile_s": compile_s,
                "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                / 1024,
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def skill(cfg, data_dir, train_steps: int) -> dict:
    context = get_context()
    c = cfg.replace(**{"train.steps": train_steps, "train.rollout": 4,
                       "train.learning_rate": 3e-3})
    trainer, state = build(c, context, data_dir)
    # the untrained physics parameters without corrector; copied, because the
    # training step donates (and so deletes) the arrays it is given
    untrained = jax.tree.map(jax.numpy.copy, trainer.params(state).physics)
    physics_only = type(trainer.params(state))(untrained, None)
    t0 = time.perf_counter()
    for step in range(train_steps):
        state, metrics = trainer.train_step(state)
        if step % 50 == 0:
            print(f"step {step} loss {float(metrics['loss']):.3e}", flush=True)
    train_s = time.perf_counter() - t0
    from neuralogcm_hpc.training.data import read_tiles

    model = trainer.hybrid.model
    test = read_tiles(Path(data_dir) / "test.zarr", model.prognostic_names,
                      model.decomposition, context.rank)
    from neuralogcm_hpc.training.loss import cell_weights
    from neuralogcm_hpc.training.normalise import field_stats

    stats = field_stats(trainer.data, cell_weights(trainer.hybrid), context)
    result = E.compare(trainer.hybrid, trainer.params(state), physics_only, test,
                       [1, 10, 30, 120], stats, context)
    result.update({"train_steps": train_steps, "train_seconds": train_s,
                   "viscosity_trained": float(
                       trainer.params(state).physics.viscosity.value()),
                   "val_mse_final": trainer.evaluate(state, trainer.val, 4)})
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=32)
    parser.add_argument("--ny", type=int, default=16)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--timed-steps", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--trajectory-days", type=float, default=130.0)
    parser.add_argument("--parts", nargs="+", default=["memory", "skill"],
                        choices=["memory", "skill"])
    parser.add_argument("--out", default="benchmarks/results/training.json")
    args = parser.parse_args(argv)
    length = int(args.trajectory_days * 12) + 1  # 2-hour snapshots
    cfg = config(args.nx, args.ny, **{"train.trajectory_length": length,
                                      "train.trajectories": "2,1,1"})
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        build(cfg, get_context(), data_dir)  # generates the data
        generate_s = time.perf_counter() - t0
        out = Path(args.out)
        result = json.loads(out.read_text()) if out.exists() else {}
        result.update({"grid": [args.nx, args.ny], "data_generation_s": generate_s,
                       "device": jax.devices()[0].platform})
        if "memory" in args.parts:
            result["memory_throughput"] = memory_and_throughput(
                cfg, data_dir, args.rollouts, args.timed_steps)
        if "skill" in args.parts:
            result["skill"] = skill(cfg, data_dir, args.train_steps)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    if "skill" in result:
        E.write_report(result["skill"], out.with_name("training_skill"))
        print(json.dumps(result["skill"]["improvement_percent"]))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""SMOKE TEST of the training loop (throughput and memory vs rollout length) on a
steady 32 x 16 channel; the skill benchmark is benchmarks/gyre/ (issue 13).

Its truth settles into a steady zonal jet with no eddies and no subgrid fluxes,
so the skill it reports measures climate drift, not what a corrector is for.

Usage: python benchmarks/training.py [--nx 32 --ny 16] [--rollouts 4 16 64]
           [--train-steps 300] [--out benchmarks/results/training.json]
Part 1 (memory/throughput): for each rollout length R, with nested jax.checkpoint
(segment ~ sqrt R) and without, compile one optimisation step and report XLA's
compiled memory analysis (temp bytes: the activations kept for the backward
pass) and samples/s over timed steps after warm-up.
Part 2 (skill): coarse-grained data from a 2x finer run with 1/4 the viscosity;
stage 1 trains the core's viscosity alone, stage 2 the corrector (+ viscosity)
from there on rollouts growing from 2 to 16 hybrid steps; both keep the
parameters with the best 10-day free-run error on the validation trajectory.
RMSE / anomaly correlation of physics-only, physics with the trained viscosity
and the hybrid on the held-out test trajectory at 1/10/30/120-day leads (as far
as the test data reach). --data DIR keeps (or reuses) the generated data.
"""

from __future__ import annotations

import argparse
import dataclasses
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


def _train(trainer, state, steps: int, val_lead: int, val_every: int, label: str):
    """``steps`` optimisation steps keeping the parameters with the lowest
    validation error of free runs ``val_lead`` hybrid steps long (early stopping:
    the rollout loss spans hours, the drift that matters builds over days)."""
    best = (trainer.forecast_error(state, trainer.val, val_lead), 0,
            jax.tree.map(jax.numpy.copy, state.trainable))
    history = [(0, best[0])]
    for step in range(1, steps + 1):
        state, metrics = trainer.train_step(state)
        if step % val_every == 0 or step == steps:
            err = trainer.forecast_error(state, trainer.val, val_lead)
            history.append((step, err))
            print(f"{label} step {step} loss {float(metrics['loss']):.3e} "
                  f"val({val_lead}) {err:.3e}", flush=True)
            if err < best[0]:
                best = (err, step, jax.tree.map(jax.numpy.copy, state.trainable))
    return dataclasses.replace(state, trainable=best[2]), best[1], history


def skill(cfg, data_dir, train_steps: int, physics_steps: int) -> dict:
    """Four models on the test set: physics-only (the config's viscosity),
    physics with the viscosity trained alone (stage 1), physics with the best
    viscosity of a scan (by validation free runs), and the hybrid (stage 2:
    corrector + viscosity, from the stage-1 viscosity, rollouts growing from 2
    to 16 hybrid steps)."""
    context = get_context()
    val_lead, val_every = 120, 25  # 10-day free runs on the validation data
    common = {"train.rollout": 16, "train.batch": 4}
    c1 = cfg.replace(**common, **{"train.use_corrector": False,
                                  "train.steps": physics_steps,
                                  "train.physics_learning_rate": 5e-2})
    t1, s1 = build(c1, context, data_dir)
    # copied: the training step donates (and so deletes) the arrays it is given
    physics_only = jax.tree.map(jax.numpy.copy, t1.params(s1))
    t0 = time.perf_counter()
    s1, best1, hist1 = _train(t1, s1, physics_steps, val_lead, val_every, "physics")
    tuned = t1.params(s1)
    nu = float(tuned.physics.viscosity.value())
    # a viscosity chosen the classical way, for the corrector's added value:
    # the best of a scan by the same 10-day validation free runs
    scan, scanned = {}, None
    for value in (150.0, 300.0, 600.0, 1000.0, 2000.0):
        tc, sc = build(cfg.replace(**{"train.use_corrector": False,
                                      "physics.viscosity": value}), context, data_dir)
        scan[value] = tc.forecast_error(sc, tc.val, val_lead)
        if scan[value] == min(scan.values()):
            scanned = tc.params(sc)
    c2 = cfg.replace(**common, **{
        "physics.viscosity": nu, "train.steps": train_steps,
        "train.curriculum_start": 2, "train.curriculum_steps": train_steps // 2,
        "train.learning_rate": 1e-3, "train.physics_learning_rate": 1e-2})
    t2, s2 = build(c2, context, data_dir)
    s2, best2, hist2 = _train(t2, s2, train_steps, val_lead, val_every, "hybrid")
    train_s = time.perf_counter() - t0
    from neuralogcm_hpc.training.data import read_tiles
    from neuralogcm_hpc.training.loss import cell_weights
    from neuralogcm_hpc.training.normalise import field_stats

    model = t2.hybrid.model
    test = read_tiles(Path(data_dir) / "test.zarr", model.prognostic_names,
                      model.decomposition, context.rank)
    stats = field_stats(t2.data, cell_weights(t2.hybrid), context)
    hybrid = t2.params(s2)
    result = E.compare(t2.hybrid, hybrid, physics_only, test, [1, 10, 30, 120],
                       stats, context, {"physics_tuned": tuned,
                                        "physics_scan": scanned})
    result.update({
        "train_seconds": train_s,
        "viscosity_physics": float(physics_only.physics.viscosity.value()),
        "viscosity_tuned": nu,
        "viscosity_hybrid": float(hybrid.physics.viscosity.value()),
        "viscosity_scan": {str(k): v for k, v in scan.items()},
        "physics_stage": {"steps": physics_steps, "best_step": best1,
                          "val_history": hist1},
        "hybrid_stage": {"steps": train_steps, "best_step": best2,
                         "val_history": hist2},
        "validation": f"normalised MSE of {val_lead}-step free runs on the "
                      f"validation trajectory every {val_every} steps; the best "
                      "parameters are kept (early stopping)",
        "config": {k: v for k, v in dataclasses.asdict(c2.train).items()
                   if k not in ("data",)},
    })
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=32)
    parser.add_argument("--ny", type=int, default=16)
    parser.add_argument("--rollouts", type=int, nargs="+", default=[4, 16, 64])
    parser.add_argument("--timed-steps", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--physics-steps", type=int, default=100)
    parser.add_argument("--trajectory-days", type=float, default=130.0)
    parser.add_argument("--parts", nargs="+", default=["memory", "skill"],
                        choices=["memory", "skill"])
    parser.add_argument("--out", default="benchmarks/results/training.json")
    parser.add_argument("--data", default="",
                        help="reuse/keep the generated data here (default: a "
                        "temporary directory)")
    args = parser.parse_args(argv)
    length = int(args.trajectory_days * 12) + 1  # 2-hour snapshots
    cfg = config(args.nx, args.ny, **{"train.trajectory_length": length,
                                      "train.trajectories": "2,1,1"})
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.data or Path(tmp) / "data")
        fresh = not (data_dir / "train.zarr").exists()
        t0 = time.perf_counter()
        build(cfg, get_context(), data_dir)  # generates the data when fresh
        out = Path(args.out)
        result = json.loads(out.read_text()) if out.exists() else {}
        result.update({"grid": [args.nx, args.ny], "device": jax.devices()[0].platform})
        if fresh:
            result["data_generation_s"] = time.perf_counter() - t0
        if "memory" in args.parts:
            result["memory_throughput"] = memory_and_throughput(
                cfg, data_dir, args.rollouts, args.timed_steps)
        if "skill" in args.parts:
            result["skill"] = skill(cfg, data_dir, args.train_steps,
                                   args.physics_steps)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    if "skill" in result:
        E.write_report(result["skill"], out.with_name("training_skill"))
        print(json.dumps(result["skill"]["improvement_percent"]))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Train the eddying-gyre hybrid and its baselines; select each on the validation year.

    python benchmarks/gyre/train.py --data data/eddying_gyre --out runs/gyre_train

Variants (same network size, same data, same schedule): ``hybrid`` (learnable
physics + corrector), ``physics_only`` (learnable viscosity and drag, no
network), ``bias`` (a corrector that sees only geography: a learned,
state-independent forcing) and ``emulator`` (the network alone predicts each
day, no physics core). Each trains with ``train`` (multi-step rollouts of daily
hybrid steps, the rollout growing from 1 day to --rollout days), keeps a
checkpoint every --select-every steps, then free-runs every checkpoint over the
validation year and copies the one whose statistics match the truth best
(time-mean ssh error / std + |EKE ratio - 1|) to ``<out>/<variant>/selected``.
Test and independent data are never used here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neuralogcm_hpc.analysis import online  # noqa: E402
from neuralogcm_hpc.cases import build_model, case_config, with_derived  # noqa: E402
from neuralogcm_hpc.config import validate  # noqa: E402
from neuralogcm_hpc.parallel.context import get_context  # noqa: E402
from neuralogcm_hpc.trained import open_trained  # noqa: E402
from neuralogcm_hpc.training.trainer import train_main  # noqa: E402

VARIANTS = {
    "hybrid": {},
    "physics_only": {"train.use_corrector": False},
    "bias": {"train.corrector_inputs": "geography"},
    "emulator": {"train.physics_core": False, "train.train_physics": False},
}


def config_for(a, variant: str):
    day = 86400.0
    base = with_derived(case_config("eddying_gyre").replace(
        **{"grid.nx": a.nx, "grid.ny": a.nx}), set())
    cadence = round(day / base.time.dt)
    sets = {
        "train.data": a.data, "train.cadence": cadence,
        "train.rollout": a.rollout, "train.curriculum_start": 1,
        "train.curriculum_steps": a.steps // 2, "train.steps": a.steps,
        "train.batch": a.batch, "train.width": a.width, "train.depth": a.depth,
        "train.learning_rate": a.lr, "train.warmup_steps": min(20, a.steps // 10),
        "train.output_init_scale": 0.1,
        "train.checkpoint_every": a.select_every, "train.validate_every": a.steps,
        "train.log_every": max(1, a.steps // 20), "train.eval_leads": "1,5,10,30",
        "train.remat_segment": -1,
        "checkpoint.keep": a.steps // a.select_every + 1,
        **VARIANTS[variant],
    }
    return validate(base.replace(**sets))


def select(a, variant: str, directory: Path, log) -> dict:
    """Free-run every checkpoint over the validation year; copy the best."""
    import xarray as xr

    ds = xr.open_zarr(Path(a.data) / "val.zarr", consolidated=False)
    val = {n: np.asarray(ds[n].values[0], np.float64) for n in online.FIELDS}
    truth = {n: x[1:] for n, x in val.items()}
    dx = 2000e3 / a.nx
    truth_stats = online.statistics(truth, dx)
    model = build_model(config_for(a, variant))
    scores = {}
    for ckpt in sorted(directory.glob("ckpt-*"), key=lambda p: int(p.name[5:])):
        trained = open_trained(ckpt, model, get_context())
        runner = online.make_runner(ckpt.name, trained.hybrid, trained.params,
                                    online.DAY, a.nx)
        run, _ = online.free_run(runner, {n: x[0] for n, x in val.items()},
                                 len(val["ssh"]) - 1)
        stats = online.statistics(run, dx) if np.isfinite(run["ssh"]).all() else {}
        score = online.selection_score(online.compare(stats, truth_stats, run, truth))
        scores[ckpt.name] = score
        log(f"{variant} {ckpt.name}: validation-year score {score:.3f}")
    best = min(scores, key=scores.get)
    target = directory.parent / "selected"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    shutil.copytree(directory / best, target / best)
    return {"scores": scores, "selected": best}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/eddying_gyre")
    ap.add_argument("--out", default="runs/gyre_train")
    ap.add_argument("--nx", type=int, default=50)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--rollout", type=int, default=8, help="final rollout (days)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--select-every", type=int, default=50)
    a = ap.parse_args(argv)
    log = lambda m: print(m, flush=True)  # noqa: E731
    report = {}
    command = "python benchmarks/gyre/train.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    for variant in a.variants.split(","):
        directory = Path(a.out) / variant / "checkpoints"
        if directory.exists():
            raise SystemExit(f"{directory} exists; remove it or choose another --out")
        clock = time.perf_counter()
        config = config_for(a, variant)
        summary = train_main(config, get_context(), checkpoint_dir=str(directory),
                             log=log)
        chosen = select(a, variant, directory, log)
        report[variant] = {"command": command, "summary": summary, **chosen,
                           "train_wall_s": time.perf_counter() - clock,
                           "config": json.loads(config.to_json())["train"]}
        log(f"{variant}: selected {chosen['selected']} "
            f"({time.perf_counter() - clock:.0f} s)")
        (Path(a.out) / variant / "report.json").write_text(
            json.dumps(report[variant], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

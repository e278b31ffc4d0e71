"""Primitive-equation throughput of case `global` (1.5 deg x 23 levels): cell
updates per second and simulated days per wall second, 1 and 2 ranks, f64/f32.

Usage: python benchmarks/throughput_pe.py [--ranks 1 2] [--precisions float64
           float32] [--steps 4] [--repeat 3]
Each (ranks, precision) point is one `mpirun -n R python -m mpi4py` job, one core
per rank (benchmarks/common.py). A job times the jitted, state-donating
``advance`` of --steps model steps (dt = 1800 s; 24 barotropic sub-steps per dt,
which the time filter runs to 1.5 dt: 36 per step, between two halo exchanges on
a wide 2-D halo),
best of --repeat after two warm-up calls (compilation excluded), slowest rank.
Cell updates count all 240 x 106 x 23 cells (land included; the ocean fraction
is reported). Results: benchmarks/results/throughput_pe.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def worker(precision: str, steps: int, repeat: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    from neuralogcm_hpc.cases import build_model, case_config
    from neuralogcm_hpc.parallel.context import get_context

    ctx = get_context()
    cfg = case_config("global").replace(precision=precision)
    model = build_model(cfg, ctx)
    g, d = cfg.grid, model.decomposition
    params, state = model.default_params(), model.initial_state()
    traced = _traced_exchanges(model, state, params)
    advance = jax.jit(lambda s, p: model.advance(s, p, steps), donate_argnums=0)
    state, timing = common.time_rollout(advance, state, params, steps, repeat, ctx)
    model.check(jax.device_get(model.health(state)), int(state.step))
    cells = g.nx * g.ny * g.nz
    wet = float(np.asarray(model.grid.interior(model.grid.mask3_c)).sum())
    if ctx.host_comm is not None:  # ocean cells of all tiles
        wet = ctx.host_comm.allreduce(wet)
    step_s = timing["step_s"]
    out = {
        "case": "global",
        "grid": f"{g.nx}x{g.ny}x{g.nz}",
        "ranks": ctx.size,
        "layout": f"{d.px}x{d.py}",
        "precision": precision,
        "steps_per_call": steps,
        "dt_s": cfg.time.dt,
        "barotropic_substeps": cfg.physics.pe_barotropic_substeps,
        "exchanges_per_step": model.exchanges_per_step,
        "exchanges_traced_per_step": traced,
        "barotropic_halo": model.geometry.barotropic.width,
        **timing,
        "cell_updates_per_s": cells / step_s,
        "ocean_fraction": wet / cells,
        "sim_days_per_wall_s": cfg.time.dt / 86400 / step_s,
    }
    if ctx.is_root:
        print("RESULT " + json.dumps(out), flush=True)


def _traced_exchanges(model, state, params) -> int:
    """Halo exchanges in one traced model step (both halos: the 3-D one and the
    barotropic cycle's wide 2-D one); a check on ``model.exchanges_per_step``
    (loops are traced once, so it holds for physics.substeps = 1, as here)."""
    import jax

    halos = (model.halo, model.bt_halo)
    before = sum(h.exchanges_traced for h in halos)
    jax.jit(model.step).lower(state, params)
    return sum(h.exchanges_traced for h in halos) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--precisions", nargs="+", default=["float64", "float32"])
    parser.add_argument("--precision", default="float64")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.worker:
        worker(args.precision, args.steps, args.repeat)
        return
    results = []
    for precision in args.precisions:
        for ranks in args.ranks:
            job = common.mpirun(
                Path(__file__),
                ranks,
                [
                    "--worker",
                    "--precision",
                    precision,
                    "--steps",
                    str(args.steps),
                    "--repeat",
                    str(args.repeat),
                ],
            )
            results.append(common.last_json_line(job.stdout))
            print(json.dumps(results[-1]), flush=True)
    print(f"wrote {common.write_result('throughput_pe', results)}")


if __name__ == "__main__":
    main()

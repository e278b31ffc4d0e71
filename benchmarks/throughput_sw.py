"""Shallow-water throughput: cell updates/s, simulated days per wall second,
roofline fraction, halo exchanges per step and the exchange's cost, vs a baseline.

Usage: python benchmarks/throughput_sw.py [--grids 360x180 3600x1800] [--ranks 1 2]
           [--steps N] [--repeat 5]
Each (grid, ranks, precision) point is one `mpirun -n R python -m mpi4py` job, one
core per rank (benchmarks/common.py). A job times, per model step (slowest rank,
compilation excluded), in --repeat interleaved rounds (common.time_interleaved:
each round times every variant once, so the shared machine's slow phases hit
all alike):
  model      ShallowWaterModel, case beta_plane default (fb_ab3: forward-backward
             gravity waves + AB3, one tendency evaluation and one packed
             exchange per step), jitted and state-donating, --steps per call
             (default: the case's time.steps_per_call, 120, the simulate
             loop's call length; each call costs ~1 ms of dispatch on 2 ranks,
             as mpi4jax's ordered effects take JAX's Python path, i.e. 0.05 ms
             per step at 20 steps per call; 3600 x 1800 runs --steps / 60,
             at least 2)
  local      the same step with the exchange replaced by a local periodic copy
             of the tile (same work, no messages): ratio model / local
  model_rk3  the same model with SSP-RK3 (3 stages, 3 exchanges per step): the
             previous default, kept as a reference line
  baseline   benchmarks/baseline_sw.py: per-operator exchanges, AB2, 13 per step
             (AB2 is not stable for the jet at dt = 60 s; the baseline times a
             small-amplitude state, which is the same work per step)
Speedup and exchange ratio are medians of the per-round ratios; the best step
times are reported too. The 1-rank job also measures the STREAM triad bandwidth
through JAX. Roofline fraction = compulsory bytes per step / step time / triad
bandwidth of the cores used, with compulsory arrays per cell per step (8 B each
in f64, 4 B in f32; the channel's masks and depth are x-invariant columns, so
they add no per-cell traffic):
  fb_ab3: read u, v, ssh and 2 x 2 remembered slow tendencies, write u, v, ssh
          and 2 slow tendencies = 12
  rk3:    3 stages x (read 3 stage fields + 3 start fields, write 3) = 27
Results: benchmarks/results/throughput_sw.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

ARRAYS_PER_CELL_STEP = {"fb_ab3": 12, "rk3": 27}


def worker(nx: int, ny: int, precision: str, steps: int, repeat: int) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    from baseline_sw import BaselineShallowWater

    from neuralogcm_hpc.cases import build_model, case_config
    from neuralogcm_hpc.grid import build_grid
    from neuralogcm_hpc.parallel.context import ParallelContext, get_context
    from neuralogcm_hpc.parallel.decomposition import Decomposition
    from neuralogcm_hpc.parallel.halo import Halo

    ctx = get_context()
    cfg = case_config("beta_plane").replace(
        **{"grid.nx": nx, "grid.ny": ny, "precision": precision}
    )
    steps = steps or cfg.time.steps_per_call
    out = {
        "grid": f"{nx}x{ny}",
        "ranks": ctx.size,
        # other work on the shared machine inflates wall times: record it
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
        "precision": precision,
        "steps_per_call": steps,
    }
    model = build_model(cfg, ctx)
    d = model.decomposition
    out["layout"] = f"{d.px}x{d.py}"
    out["exchanges_per_step"] = model.exchanges_per_step
    params = model.default_params()

    def rollout(m):
        return jax.jit(lambda s, p: m.advance(s, p, steps), donate_argnums=0)

    variants = {"model": (rollout(model), model.initial_state(), params)}
    # the previous default, SSP-RK3 (3 exchanges per step), as a reference
    rk3 = build_model(cfg.replace(**{"time.integrator": "rk3"}), ctx)
    variants["model_rk3"] = (rollout(rk3), rk3.initial_state(), params)
    if ctx.size > 1:  # the same step with a local copy in place of the exchange
        local = build_model(cfg, ctx)
        serial = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
        tile = Decomposition(d.tile_nx, d.tile_ny, 1, 1, True, True)
        local.halo = Halo(tile, cfg.grid.halo, serial)
        variants["local"] = (rollout(local), local.initial_state(), params)

    bcfg = cfg.replace(**{"grid.halo": 1, "time.integrator": "ab2"})
    bgrid = build_grid(bcfg, d, ctx.rank)
    bhalo = Halo(d, 1, ctx)
    base = BaselineShallowWater(
        bgrid, bhalo, cfg.physics.gravity, cfg.physics.viscosity, cfg.time.dt
    )

    def zeros():  # distinct buffers: donation refuses one buffer passed twice
        return jax.numpy.zeros(bgrid.shape, bgrid.mask_c.dtype)

    carry = ((zeros(), zeros(), 0.01 * bgrid.mask_c), (zeros(), zeros(), zeros()))
    badvance = jax.jit(lambda c, _: base.advance(c, steps), donate_argnums=0)
    variants["baseline"] = (badvance, carry, None)

    before = model.halo.exchanges_traced
    states, timings = common.time_interleaved(variants, steps, repeat, ctx)
    out.update(timings)
    # traced once per compile: exchanges in one scan body = one model step
    out["exchanges_traced_per_step"] = model.halo.exchanges_traced - before
    out["model_rk3"]["exchanges_per_step"] = rk3.exchanges_per_step
    out["baseline_exchanges_per_step"] = base.exchanges_per_step
    model.check(
        jax.device_get(model.health(states["model"])), int(states["model"].step)
    )
    if "local" in out:
        out["exchange_ratio"] = common.paired_ratio(out["model"], out["local"])

    cells = nx * ny
    for key in ("model", "model_rk3", "baseline", "local"):
        if key in out:
            out[key]["cell_updates_per_s"] = cells / out[key]["step_s"]
    out["speedup_vs_baseline"] = common.paired_ratio(out["baseline"], out["model"])
    out["speedup_best_vs_baseline"] = out["baseline"]["step_s"] / out["model"]["step_s"]
    out["speedup_rk3_vs_baseline"] = common.paired_ratio(
        out["baseline"], out["model_rk3"]
    )
    out["integrator"] = cfg.time.integrator
    out["sim_days_per_wall_s"] = cfg.time.dt / 86400 / out["model"]["step_s"]
    itemsize = 8 if precision == "float64" else 4
    out["bytes_per_step"] = ARRAYS_PER_CELL_STEP[cfg.time.integrator] * itemsize * cells
    if ctx.size == 1:
        out["triad"] = common.triad_bandwidth(n=2**23, repeat=5)
    if ctx.is_root:
        print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--grids", nargs="+", default=["360x180"])
    parser.add_argument("--grid", default="360x180")
    parser.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--precisions", nargs="+", default=["float64", "float32"])
    parser.add_argument("--precision", default="float64")
    parser.add_argument(
        "--steps", type=int, default=0, help="per call; 0: time.steps_per_call"
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.worker:
        nx, ny = map(int, args.grid.split("x"))
        worker(nx, ny, args.precision, args.steps, args.repeat)
        return
    results, triad = [], {}
    for grid in args.grids:
        steps = args.steps if grid == "360x180" else max(2, args.steps // 60)
        for precision in args.precisions:
            for ranks in args.ranks:
                job = common.mpirun(
                    Path(__file__),
                    ranks,
                    [
                        "--worker",
                        "--grid",
                        grid,
                        "--precision",
                        precision,
                        "--steps",
                        str(steps),
                        "--repeat",
                        str(args.repeat),
                    ],
                )
                r = common.last_json_line(job.stdout)
                triad = r.pop("triad", triad)
                results.append(r)
                print(json.dumps(r), flush=True)
    bandwidth = triad.get("best_gb_per_s", 0.0) * 1e9
    for r in results:  # roofline: bytes moved per second vs triad of R cores
        achieved = r["bytes_per_step"] / r["model"]["step_s"]
        r["roofline_fraction"] = (
            achieved / (bandwidth * r["ranks"]) if bandwidth else None
        )
    path = common.write_result("throughput_sw", results, triad=triad)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Output throughput, I/O wait share (sync vs async), checkpoint cost, codec ratios.

Usage: python benchmarks/io.py [--ranks 1 2] [--records 12] [--step-ms 150]
Each rank count runs as its own `mpirun -n R python -m mpi4py` job; results go to
benchmarks/results/io.json. The field set is the `global` case's size: u, v, temp,
salt on 240 x 107 x 23 and ssh on 240 x 107, float64 (19.4 MB per record), smooth
and physical-like (stratified temperature, geostrophic-like currents). A model
"step" between records is a jitted fixed-cost computation (explicit diffusion
iterations, calibrated to --step-ms) that also evolves the fields. Figures:
  sync / async   wall time of `records` steps + records written with
                 max_in_flight = 0 (the loop waits for every write) and 4; the
                 share of wall time the loop spent inside writer calls (host
                 copy, waiting for a slot, the final flush); MB/s = raw bytes of
                 all ranks / time inside writer calls in the sync run
  checkpoint     save (fsync + checksums + atomic commit) and load_latest
                 (verify every checksum + read) of the same fields
  codecs         on-disk size / raw size and write MB/s for each codec, float64
                 and float32 output (rank 0, 4 records, sync)
Writes go to the page cache of the local disk (no fsync for outputs), as in a real
run; checkpoints fsync.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

NX, NY, NZ = 240, 107, 23


def physical_fields(d, rank):
    """Smooth global fields on a 1.5-degree grid, sliced to this rank's tile."""
    import numpy as np

    lon = np.deg2rad(np.linspace(0.75, 359.25, NX))
    lat = np.deg2rad(np.linspace(-79.5, 79.5, NY))
    z = np.linspace(5.0, 5000.0, NZ)[:, None, None]
    lo, la = np.meshgrid(lon, lat)
    temp = 2.0 + 26.0 * np.cos(la) ** 2 * np.exp(-z / 700.0)
    temp = temp + 1.5 * np.sin(3 * lo) * np.cos(2 * la) * np.exp(-z / 1500.0)
    salt = 34.7 + 0.8 * np.cos(la) ** 2 * np.exp(-z / 1000.0) + 0.05 * np.sin(lo)
    psi = np.sin(2 * la) * np.cos(lo) * np.exp(-z / 2000.0)
    u = -0.3 * np.gradient(psi, axis=1) / np.gradient(lat)[None, :, None] / 10
    v = 0.3 * np.gradient(psi, axis=2) / np.gradient(lon)[None, None, :] / 10
    ssh = 0.8 * np.cos(la) ** 2 * np.sin(lo + la) - 0.4
    # mesoscale "eddies": seeded noise smoothed over ~3 cells, so the fields are
    # not exactly separable (analytic fields compress unrealistically well)
    rng = np.random.default_rng(0)
    eddies = rng.standard_normal((NZ, NY, NX))
    for _ in range(6):
        eddies = (np.roll(eddies, 1, -1) + eddies + np.roll(eddies, -1, -1)) / 3
        eddies[:, 1:-1] = (eddies[:, :-2] + eddies[:, 1:-1] + eddies[:, 2:]) / 3
    temp, salt = temp + 0.5 * eddies, salt + 0.02 * eddies
    u, v, ssh = u + 0.05 * eddies, v + 0.05 * eddies, ssh + 0.02 * eddies[0]
    ys, xs = d.global_slices(rank)
    fields = {"u": u, "v": v, "temp": temp, "salt": salt, "ssh": ssh}
    return {k: np.ascontiguousarray(f[..., ys, xs]) for k, f in fields.items()}


def output_setup(d):
    import numpy as np

    from neuralogcm_hpc.io.zarr_writer import CoordSpec, VariableSpec

    coords = {
        "lon": CoordSpec(np.linspace(0.75, 359.25, NX), "degrees_east", "lon", "X"),
        "lat": CoordSpec(np.linspace(-79.5, 79.5, NY), "degrees_north", "lat", "Y"),
        "depth": CoordSpec(np.linspace(5.0, 5000.0, NZ), "m", "depth", "Z"),
    }
    three = ("depth", "lat", "lon")
    variables = {
        "u": VariableSpec(three, "m s-1", "eastward velocity"),
        "v": VariableSpec(three, "m s-1", "northward velocity"),
        "temp": VariableSpec(three, "degC", "potential temperature"),
        "salt": VariableSpec(three, "1e-3", "salinity"),
        "ssh": VariableSpec(("lat", "lon"), "m", "sea surface height"),
    }
    return variables, coords


def worker(records: int, step_ms: float, workdir: str) -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from neuralogcm_hpc.io.checkpoint import Checkpointer
    from neuralogcm_hpc.io.storage import CODECS
    from neuralogcm_hpc.io.zarr_writer import OutputWriter
    from neuralogcm_hpc.parallel.context import get_context
    from neuralogcm_hpc.parallel.decomposition import Decomposition

    ctx = get_context()
    d = Decomposition.auto(NX, NY, ctx.size)
    base = Path(ctx.bcast(workdir))
    variables, coords = output_setup(d)
    fields0 = {k: jnp.asarray(v) for k, v in physical_fields(d, ctx.rank).items()}
    raw_bytes = sum(v.nbytes for v in fields0.values()) * ctx.size  # per record

    def smooth(x):
        lap = jnp.roll(x, 1, -1) + jnp.roll(x, -1, -1) - 2 * x
        return x + 0.01 * lap

    @jax.jit
    def advance(fields, inner):
        body = lambda i, f: jax.tree_util.tree_map(smooth, f)  # noqa: E731
        return jax.lax.fori_loop(0, inner, body, fields)

    def step_time(inner):
        jax.block_until_ready(advance(fields0, inner))
        start = time.perf_counter()
        jax.block_until_ready(advance(fields0, inner))
        return ctx.bcast(time.perf_counter() - start)

    inner = 4
    while step_time(inner) < step_ms / 1e3 and inner < 4096:
        inner *= 2
    inner = max(1, int(inner * step_ms / 1e3 / step_time(inner)))
    measured_step = step_time(inner)

    def slowest(seconds):
        if ctx.host_comm is None:
            return seconds
        from mpi4py import MPI

        return ctx.host_comm.allreduce(seconds, op=MPI.MAX)

    def run_output(max_in_flight, codec="blosc-zstd", n=records, dtype="float64"):
        path = base / f"out-{max_in_flight}-{codec}-{dtype}.zarr"
        specs = {k: dataclasses.replace(v, dtype=dtype) for k, v in variables.items()}
        writer = OutputWriter(
            path,
            d,
            ctx,
            specs,
            coords,
            60.0,
            codec=codec,
            max_in_flight=max_in_flight,
        )
        fields, in_writer = fields0, 0.0
        ctx.barrier()
        start = time.perf_counter()
        for step in range(n):
            fields = jax.block_until_ready(advance(fields, inner))
            t0 = time.perf_counter()
            writer.write(step, fields)
            in_writer += time.perf_counter() - t0
        t0 = time.perf_counter()
        writer.close()
        in_writer += time.perf_counter() - t0
        wall = slowest(time.perf_counter() - start)
        disk = (
            sum(
                f.stat().st_size
                for v in variables
                for f in (path / v).rglob("c/**/*")
                if f.is_file()
            )
            if ctx.is_root
            else 0
        )
        return {
            "wall_s": wall,
            "io_s": slowest(in_writer),
            "io_share": slowest(in_writer) / wall,
            "disk_bytes": disk,
            "raw_bytes": raw_bytes * n * np.dtype(dtype).itemsize // 8,
        }

    result = {
        "ranks": ctx.size,
        "layout": [d.px, d.py],
        "records": records,
        "record_mb": raw_bytes / 1e6,
        "step_s": measured_step,
        "step_iterations": inner,
    }
    for label, bound in (("sync", 0), ("async", 4)):
        r = run_output(bound)
        r["mb_per_s"] = r["raw_bytes"] / 1e6 / r["io_s"]
        result[label] = r
    result["compute_only_s"] = measured_step * records

    tiled = {k: np.asarray(v) for k, v in fields0.items()}
    replicated = {"weights": np.linspace(0, 1, 100_000), "step": np.int64(1)}
    ckpt = Checkpointer(base / "ckpt", d, ctx, keep=2)
    saves, loads = [], []
    for step in range(1, 4):
        ctx.barrier()
        t0 = time.perf_counter()
        ckpt.save(step, tiled, replicated, {"config": {}})
        saves.append(slowest(time.perf_counter() - t0))
        ctx.barrier()
        t0 = time.perf_counter()
        ckpt.load_latest(required=True)
        loads.append(slowest(time.perf_counter() - t0))
    result["checkpoint"] = {
        "save_s": float(np.median(saves)),
        "load_s": float(np.median(loads)),
        "bytes_raw": raw_bytes + replicated["weights"].nbytes,
    }
    if ctx.size == 1:
        result["codecs"] = {}
        for codec, dtype in itertools.product(CODECS, ("float64", "float32")):
            r = run_output(0, codec, n=4, dtype=dtype)
            result["codecs"][f"{codec} {dtype}"] = {
                "ratio": r["raw_bytes"] / r["disk_bytes"],
                "write_mb_per_s": r["raw_bytes"] / 1e6 / r["io_s"],
            }
    if ctx.is_root:
        print("RESULT " + json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--records", type=int, default=12)
    parser.add_argument("--step-ms", type=float, default=150.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.records, args.step_ms, args.dir)
        return 0
    rows = []
    for ranks in args.ranks:
        workdir = tempfile.mkdtemp(prefix="io-bench-")
        try:
            job = common.mpirun(
                Path(__file__),
                ranks,
                [
                    "--worker",
                    "--records",
                    str(args.records),
                    "--step-ms",
                    str(args.step_ms),
                    "--dir",
                    workdir,
                ],
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        r = common.last_json_line(job.stdout)
        rows.append(r)
        print(
            f"ranks {ranks}: step {r['step_s'] * 1e3:.0f} ms, record "
            f"{r['record_mb']:.1f} MB; sync I/O share {100 * r['sync']['io_share']:.0f}"
            f" % ({r['sync']['mb_per_s']:.0f} MB/s), async I/O share "
            f"{100 * r['async']['io_share']:.0f} %; checkpoint save "
            f"{r['checkpoint']['save_s']:.2f} s, "
            f"load {r['checkpoint']['load_s']:.2f} s",
            flush=True,
        )
        for codec, c in r.get("codecs", {}).items():
            print(f"  {codec}: ratio {c['ratio']:.2f}, {c['write_mb_per_s']:.0f} MB/s")
    # the 2-core test machine is shared; its load says how far to trust timings
    path = common.write_result(
        "io", rows, grid=[NX, NY, NZ], load_average_1_5_15=os.getloadavg()
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

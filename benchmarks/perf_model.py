"""A performance model for 64 GPUs: per-step bytes from the compiled step, halo
traffic from the exchange plan, published hardware figures -> predicted scaling.

    .venv/bin/python benchmarks/perf_model.py            # ~2 min on 2 cores
    .venv/bin/python benchmarks/perf_model.py --write    # also refresh the README

Measured here (CPU compile of the real step, any machine): bytes accessed and
flops per cell and step (XLA cost analysis of the compiled step), and the
number of fused kernels. Modelled: one step on P GPUs takes

    t(P) = bytes_per_cell * cells / P / (efficiency * HBM bandwidth)   compute
         + kernels * launch                                            overheads
         + sum over messages of (latency + message bytes / link bandwidth)

with messages = exchanges per step x 2 directions x tiled axes, sent one after
another (mpi4jax's sendrecv blocks). ``efficiency`` is the fraction of the HBM
roofline the step reaches: 0.5 until `benchmarks/gpu_check.py` has measured
it (CPU runs here reach 42-79 % of the STREAM triad, README table above).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

from benchmarks.common import write_result  # noqa: E402
from neuralogcm_hpc.cases import build_model, case_config, with_derived  # noqa: E402
from neuralogcm_hpc.parallel.context import ParallelContext  # noqa: E402

README = Path(__file__).with_name("README.md")
SERIAL = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)

# Published hardware figures (vendor datasheets; latencies are typical
# measured MPI point-to-point values, an assumption stated as such).
HARDWARE = {
    "H100 SXM": {"hbm_GBps": 3350.0, "source": "NVIDIA H100 datasheet (HBM3)"},
    "H200 SXM": {"hbm_GBps": 4800.0, "source": "NVIDIA H200 datasheet (HBM3e)"},
}
LINKS = {
    # per direction, per GPU
    "NVLink 4 (in a node of 8)": {"GBps": 450.0, "latency_us": 3.0},
    "InfiniBand NDR 400 Gb/s (between nodes)": {"GBps": 50.0, "latency_us": 2.0},
}
LAUNCH_US = 4.0  # per fused kernel: CUDA launch + XLA's dispatch, no CUDA graphs
EFFICIENCY = 0.5  # fraction of the HBM roofline reached (until measured on a GPU)
GPUS_PER_NODE = 8


def measure(case: str, sets: dict) -> dict:
    """Bytes and flops per cell and step, kernels per step, of the compiled step
    (float64 as run; float32 halves the bytes)."""
    config = case_config(case).replace(**sets)
    config = with_derived(config, set(sets))
    model = build_model(config, SERIAL)
    state, params = model.initial_state(), model.default_params()
    compiled = jax.jit(lambda s, p: model.step(s, p)).lower(state, params).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    g = config.grid
    columns = g.nx * g.ny
    cells = columns * (g.nz if config.physics.mode == "primitive" else 1)
    text = compiled.as_text()
    return {
        "case": case,
        "grid": [g.nx, g.ny, g.nz],
        "cells": cells,
        "bytes_per_cell": cost["bytes accessed"] / cells,
        "flops_per_cell": cost["flops"] / cells,
        "kernels": len(re.findall(r"\bfusion(\.\d+)?\s*=", text)) or text.count(
            " fusion("
        ),
        "exchanges_per_step": model.exchanges_per_step,
        "halo": g.halo,
        "levels": g.nz if config.physics.mode == "primitive" else 1,
        "mode": config.physics.mode,
        "dt": config.time.dt,
    }


def halo_bytes(m: dict, tile: tuple[int, int], wide: int) -> list[float]:
    """Bytes of each message of one step along one axis side (float64): the
    shallow-water exchange packs u, v, ssh; the primitive step sends one wide
    2-D message (eta, U, V, G_u, G_v; halo ``wide``) and one 3-D message
    (u, v, T, S on every level, ssh; halo 4)."""
    ty, tx = tile
    edge = max(tx, ty)
    if m["mode"] == "shallow_water":
        return [m["halo"] * (edge + 2 * m["halo"]) * 3 * 8.0] * m["exchanges_per_step"]
    three_d = m["halo"] * (edge + 2 * m["halo"]) * (4 * m["levels"] + 1) * 8.0
    two_d = wide * (edge + 2 * wide) * 5 * 8.0
    return [two_d, three_d]


def step_time(m: dict, gpus: int, hbm: float, per_gpu_cells=None) -> dict:
    """Predicted seconds per step on ``gpus`` GPUs (strong scaling of the case's
    grid, or weak scaling with ``per_gpu_cells`` columns per GPU)."""
    nx, ny = m["grid"][0], m["grid"][1]
    px = 2 ** math.ceil(math.log2(gpus) / 2)
    py = gpus // px
    if per_gpu_cells is not None:
        tx = ty = int(math.sqrt(per_gpu_cells))
    else:
        tx, ty = math.ceil(nx / px), math.ceil(ny / py)
    cells = tx * ty * m["levels"]
    compute = m["bytes_per_cell"] * cells / (EFFICIENCY * hbm * 1e9)
    overhead = m["kernels"] * LAUNCH_US * 1e-6
    link = LINKS[
        "NVLink 4 (in a node of 8)"
        if gpus <= GPUS_PER_NODE
        else "InfiniBand NDR 400 Gb/s (between nodes)"
    ]
    wide = min(38, tx, ty)
    messages = halo_bytes(m, (ty, tx), wide)
    axes = (px > 1) + (py > 1)
    comm = axes * 2 * sum(link["latency_us"] * 1e-6 + b / (link["GBps"] * 1e9)
                          for b in messages)
    total = compute + overhead + comm
    return {
        "gpus": gpus,
        "layout": [px, py],
        "tile": [tx, ty],
        "compute_ms": 1e3 * compute,
        "overhead_ms": 1e3 * overhead,
        "comm_ms": 1e3 * comm,
        "step_ms": 1e3 * total,
        "bound": max(("compute", compute), ("latency/launch", overhead + comm),
                     key=lambda kv: kv[1])[0],
    }


def crossover_columns(m: dict, hbm: float, gpus: int) -> int:
    """Tile columns below which overheads and messages cost more than the
    compute (the step stops scaling): solve compute(cells) = the rest."""
    lo, hi = 16, 1 << 26
    while hi - lo > 16:
        mid = (lo + hi) // 2
        t = step_time(m, gpus, hbm, per_gpu_cells=mid)
        if t["compute_ms"] < t["overhead_ms"] + t["comm_ms"]:
            lo = mid
        else:
            hi = mid
    return hi


def table(record: dict) -> str:
    lines = []
    for name, rows in record["predictions"].items():
        lines.append(f"\n**{name}**\n")
        lines.append("| GPUs | layout | tile | compute ms | launch ms | halo ms | "
                     "step ms | speed-up | efficiency | bound |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        base = rows[0]["step_ms"] * rows[0]["gpus"]
        for r in rows:
            speed = rows[0]["step_ms"] / r["step_ms"]
            eff = base / (r["step_ms"] * r["gpus"]) if "strong" in name else (
                rows[0]["step_ms"] / r["step_ms"])
            lines.append(
                f"| {r['gpus']} | {r['layout'][0]}x{r['layout'][1]} | "
                f"{r['tile'][0]}x{r['tile'][1]} | {r['compute_ms']:.3f} | "
                f"{r['overhead_ms']:.3f} | {r['comm_ms']:.3f} | {r['step_ms']:.3f} | "
                f"{speed:.1f} | {eff:.2f} | {r['bound']} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="refresh the README")
    args = parser.parse_args(argv)
    measured = {
        "global": measure("global", {}),
        "eddying_gyre_1024": measure(
            "eddying_gyre", {"grid.nx": 1024, "grid.ny": 1024}
        ),
    }
    hbm = HARDWARE["H100 SXM"]["hbm_GBps"]
    gpus = [1, 2, 4, 8, 16, 32, 64]
    predictions = {
        "global 1.5 deg PE (240x106x23), strong scaling, H100": [
            step_time(measured["global"], n, hbm) for n in gpus
        ],
        "eddy-resolving shallow-water basin 16384^2 (eddying_gyre step), strong "
        "scaling, H100": [
            step_time(
                {**measured["eddying_gyre_1024"], "grid": [16384, 16384, 1]}, n, hbm
            )
            for n in gpus
        ],
        "shallow-water basin, weak scaling at 4096^2 per GPU, H100": [
            step_time(measured["eddying_gyre_1024"], n, hbm, per_gpu_cells=4096**2)
            for n in gpus
        ],
    }
    crossover = {
        name: {
            f"{n} GPUs": crossover_columns(m, hbm, n) for n in (8, 64)
        }
        for name, m in measured.items()
    }
    record = {
        "measured": measured,
        "hardware": HARDWARE,
        "links": LINKS,
        "launch_us": LAUNCH_US,
        "efficiency": EFFICIENCY,
        "predictions": predictions,
        "crossover_columns_per_gpu": crossover,
        "command": "benchmarks/perf_model.py",
    }
    write_result("perf_model", record)
    text = table(record)
    print(text)
    print(json.dumps(crossover, indent=1))
    if args.write:
        readme = README.read_text()
        begin, end = "<!-- perf-model:begin -->", "<!-- perf-model:end -->"
        head, rest = readme.split(begin)
        _, tail = rest.split(end)
        README.write_text(f"{head}{begin}\n{text}\n{end}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

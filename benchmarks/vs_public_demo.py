"""Whole-process time per simulated day against the public mpi4jax shallow-water
demo, side by side on one core, in float32 and float64.

    git clone https://github.com/mpi4jax/mpi4jax /tmp/mpi4jax   # outside the project
    python benchmarks/vs_public_demo.py --demo /tmp/mpi4jax/examples/shallow_water.py

The demo (mpi4jax's examples/shallow_water.py, `--benchmark`: no plots, no
output) and our `beta_plane` case simulate the same flow: 360 x 180 cells of
5 km, 100 m deep, f0 = 2e-4 s-1, beta = 2e-11 m-1 s-1, a zonal jet on a zonally
periodic channel, 10 simulated days. The demo steps AB2 at its CFL-limited
dt = 19.96 s (43,300 steps); ours steps forward-backward AB3 at dt = 60 s
(14,400 steps; see cases/beta_plane.py for its stability). "Equal precision":
the demo's float32 default against `precision=float32`, and the demo with
JAX_ENABLE_X64=1 (every array float64) against our float64 default.

Each run is a whole process (`python ...`, interpreter start to exit: import,
compilation, stepping), pinned to one core with taskset, launched directly
(no mpirun; both take their one-process paths). Ours runs with an empty
persistent compilation cache ("cold", a first run: the comparison) and again
with it filled ("warm", a repeated or restarted run); the demo has no cache.
Repeats alternate the programs so that drifting machine load hits both.
Results: benchmarks/results/vs_public_demo.json (median wall and user CPU
seconds of the repeats, seconds per simulated day, ratios).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

DAYS = 10
# The demo's flow (its module constants), which our beta_plane case must match
# for the comparison to be of equal work per simulated day.
DEMO_FLOW = {
    "grid.nx": 360,
    "grid.ny": 180,
    "grid.dx": 5e3,
    "grid.dy": 5e3,
    "grid.depth": 100.0,
    "grid.periodic_x": True,
    "grid.periodic_y": False,
    "physics.f0": 2e-4,
    "physics.beta": 2e-11,
    "physics.gravity": 9.81,
}


def check_same_flow() -> None:
    """Refuse to compare if the beta_plane case no longer simulates the demo's flow."""
    from neuralogcm_hpc.cases import case_config

    config = case_config("beta_plane")
    for key, value in DEMO_FLOW.items():
        section, name = key.split(".")
        ours = getattr(getattr(config, section), name)
        if ours != value:
            raise SystemExit(f"beta_plane has {key} = {ours}, the demo {value}: "
                             "not the same flow, no comparison")


def run_once(cmd: list[str], env: dict, core: int | None) -> dict:
    """Wall and CPU seconds of one whole process; its output's last lines."""
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core), *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return {
        "wall_s": wall,
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "tail": (done.stdout + done.stderr).strip().splitlines()[-1:],
    }


def variants(demo: Path, cache_root: Path) -> dict:
    """name -> (command, environment overrides, fresh cache before each run)."""
    ours = [sys.executable, "-m", "neuralogcm_hpc.run", "--case", "beta_plane",
            "--days", str(DAYS)]
    demo_cmd = [sys.executable, str(demo), "--benchmark"]
    out = {}
    for precision, x64 in (("float32", "0"), ("float64", "1")):
        out[f"demo_{precision}"] = (demo_cmd, {"JAX_ENABLE_X64": x64}, False)
        for cache in ("cold", "warm"):
            env = {"NEURALOGCM_COMPILATION_CACHE": str(cache_root / precision)}
            out[f"ours_{precision}_{cache}"] = (
                [*ours, "--set", f"precision={precision}"], env, cache == "cold"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, required=True,
                        help="path to mpi4jax's examples/shallow_water.py")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--core", type=int, default=0,
                        help="CPU core to pin every run to (-1: no pinning)")
    args = parser.parse_args()
    demo = args.demo.resolve()
    if not demo.is_file():
        parser.error(f"--demo {demo}: no such file (clone mpi4jax first, see --help)")
    check_same_flow()
    core = None if args.core < 0 else args.core
    base = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(common.ROOT)}
    samples: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="vs-demo-") as tmp:
        table = variants(demo, Path(tmp))
        for repeat in range(args.repeats):
            for name, (cmd, env, fresh) in table.items():
                cache = env.get("NEURALOGCM_COMPILATION_CACHE")
                if fresh and cache:
                    shutil.rmtree(cache, ignore_errors=True)
                sample = run_once(cmd, {**base, **env}, core)
                samples.setdefault(name, []).append(sample)
                print(f"[{repeat + 1}/{args.repeats}] {name}: "
                      f"{sample['wall_s']:.2f} s wall, {sample['user_s']:.2f} s user",
                      flush=True)
    results = {}
    for name, runs in samples.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        results[name] = {
            "wall_s_median": round(wall, 2),
            "wall_s_all": [round(r["wall_s"], 2) for r in runs],
            "user_s_median": round(statistics.median(r["user_s"] for r in runs), 2),
            "s_per_simulated_day": round(wall / DAYS, 3),
            "last_line": runs[-1]["tail"],
        }
    ratios = {}
    for precision in ("float32", "float64"):
        for cache in ("cold", "warm"):
            ratios[f"demo_over_ours_{precision}_{cache}"] = round(
                results[f"demo_{precision}"]["wall_s_median"]
                / results[f"ours_{precision}_{cache}"]["wall_s_median"], 2)
    for name, value in ratios.items():
        print(f"{name}: {value}x")
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    common.write_result(
        "vs_public_demo",
        results,
        days=DAYS,
        repeats=args.repeats,
        pinned_core=core,
        demo_sha256=hashlib.sha256(demo.read_bytes()).hexdigest(),
        # XLA's default codegen uses the widest vectors the CPU has; ours is
        # capped at AVX (bit-identity, neuralogcm_hpc/__init__.py), so the demo
        # gains on AVX-512 machines and we do not: record which this was.
        cpu_avx512=" avx512f " in flags.replace("\n", " "),
        ratios=ratios,
    )


if __name__ == "__main__":
    main()

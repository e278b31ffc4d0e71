"""Benchmark helpers: machine description, timing with warm-up, JSON results, triad."""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
# One XLA CPU thread per rank: each MPI rank then uses one core, so 1 -> 2 ranks
# measures the decomposition, not XLA's own threading competing with MPI ranks.
ONE_THREAD = "--xla_cpu_multi_thread_eigen=false"


def git_hash() -> str:
    """HEAD commit, with "+dirty" when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "neuralogcm_hpc", "benchmarks"],
            cwd=ROOT,
        ).returncode
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    """What the numbers were measured on: CPU, cores, memory, devices, versions."""
    import jax

    info = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d.device_kind) for d in jax.local_devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        # Other work on the machine inflates timings: record how busy it was.
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    try:
        from mpi4py import MPI

        info["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    # not installed, or installed without an MPI library to load (a GPU box
    # running benchmarks/gpu_check.py)
    except (ImportError, RuntimeError, OSError):
        info["mpi"] = "none"
    return info


def write_result(name: str, results, out_dir: Path = RESULTS, **extra) -> Path:
    """Save ``results`` as ``out_dir/name.json`` with machine, date and git hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git": git_hash(),
        "machine": machine(),
        **extra,
        "results": results,
    }
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def time_call(
    fn: Callable, *args, warmup: int = 2, repeat: int = 7, context=None
) -> dict:
    """Seconds per call of ``fn(*args)`` after ``warmup`` calls (compilation).

    Each sample waits for the result (``block_until_ready``); with a multi-rank
    ``context`` the ranks start together (barrier) and a sample is the slowest
    rank's time, the time the job as a whole takes. Reports median, min, max of
    wall time; on a shared machine min (best of ``repeat``) is the least
    disturbed figure. ``cpu_min_s`` is the smallest CPU time the process used for
    a call (slowest rank): it does not grow while other programs hold the core,
    so it is the steadier figure on a loaded machine (MPI waits spin, and count).
    """
    import jax

    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    walls, cpus = [], []
    for _ in range(repeat):
        if context is not None:
            context.barrier()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        wall, cpu = slowest(wall, context), slowest(cpu, context)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "cpu_min_s": min(cpus),
        "repeat": repeat,
    }


def time_rollout(
    advance: Callable, state, params, steps: int, repeat: int, context=None
):
    """``(state, timings)`` of ``state = advance(state, params)`` calls, per step
    (``time_interleaved`` with one variant)."""
    states, timings = time_interleaved(
        {"run": (advance, state, params)}, steps, repeat, context
    )
    return states["run"], timings["run"]


def time_interleaved(variants: dict, steps: int, repeat: int, context=None):
    """``(states, timings)``, both keyed like ``variants`` = {name: (advance,
    state, params)}, of ``state = advance(state, params)`` calls, per step.

    ``advance`` runs ``steps`` model steps and donates the state, so each call
    continues from the last. Each variant's first call compiles
    (``first_call_s``) and a second warms up; then ``repeat`` rounds each time
    every variant once, in turn, so a slow phase of a shared machine (its speed
    drifts by up to 1.5x over minutes here) slows all variants of a round alike
    and paired ratios stay meaningful. Per variant, each sample is the slowest
    rank's time: ``step_s`` (best, the least disturbed), ``step_median_s``,
    ``cpu_step_s`` (CPU seconds) and ``samples_s`` (per round, for ratios).
    """
    import jax

    states, timings = {}, {}
    for name, (advance, state, params) in variants.items():
        start = time.perf_counter()
        state = jax.block_until_ready(advance(state, params))
        first_call = slowest(time.perf_counter() - start, context)
        states[name] = jax.block_until_ready(advance(state, params))
        timings[name] = {"first_call_s": first_call, "walls": [], "cpus": []}
    for _ in range(repeat):
        for name, (advance, _, params) in variants.items():
            if context is not None:
                context.barrier()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            states[name] = jax.block_until_ready(advance(states[name], params))
            wall = slowest(time.perf_counter() - wall0, context) / steps
            timings[name]["walls"].append(wall)
            cpu = slowest(time.process_time() - cpu0, context) / steps
            timings[name]["cpus"].append(cpu)
    for t in timings.values():
        walls, cpus = t.pop("walls"), t.pop("cpus")
        t.update(
            step_s=min(walls),
            step_median_s=statistics.median(walls),
            cpu_step_s=min(cpus),
            samples_s=walls,
        )
    return states, timings


def paired_ratio(numerator: dict, denominator: dict) -> float:
    """Median over rounds of numerator / denominator sample (time_interleaved)."""
    pairs = zip(numerator["samples_s"], denominator["samples_s"], strict=True)
    return statistics.median(a / b for a, b in pairs)


def slowest(value: float, context=None) -> float:
    """The largest ``value`` over the ranks of ``context`` (itself when serial)."""
    if context is None or context.host_comm is None:
        return value
    from mpi4py import MPI

    return context.host_comm.allreduce(value, op=MPI.MAX)


def triad_bandwidth(n: int = 2**24, repeat: int = 10) -> dict:
    """STREAM-triad bandwidth a = b + s c in float64 through jitted JAX.

    Counts 3 x 8 bytes per element (read b and c, write a); 2^24 elements = 384 MiB
    moved per call, far beyond any cache, so this is the memory roofline the
    model's memory-bound stencils can reach on this device.
    """
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    b = jnp.arange(n, dtype=jnp.float64)
    c = jnp.ones(n, dtype=jnp.float64)
    triad = jax.jit(lambda b, c: b + 3.0 * c)
    timing = time_call(triad, b, c, warmup=2, repeat=repeat)
    moved = 3 * 8 * n
    return {
        "elements": n,
        "bytes_per_call": moved,
        "median_s": timing["median_s"],
        "gb_per_s": moved / timing["median_s"] / 1e9,
        "best_gb_per_s": moved / timing["min_s"] / 1e9,
    }


def mpirun(
    script: Path, ranks: int, args: list[str], timeout: float | None = 1800,
    capture: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``script`` as a ``python -m mpi4py`` job of ``ranks`` ranks, one core each.
    ``capture=False`` lets the job print as it goes (long runs show progress).

    Ranks are bound to cores while they fit (``--bind-to core``); beyond the core
    count they are oversubscribed, unbound and yield while waiting, and their
    numbers say so.
    """
    venv = ROOT / ".venv" / "bin"
    launcher = venv / "mpirun" if (venv / "mpirun").exists() else Path("mpirun")
    cores = os.cpu_count() or 1
    cmd = [str(launcher)]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += ["--bind-to", "core"] if ranks <= cores else ["--oversubscribe"]
    cmd += ["--bind-to", "none"] if ranks > cores else []
    cmd += ["-n", str(ranks), sys.executable, "-m", "mpi4py", str(script), *args]
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {ONE_THREAD}"}
    if ranks > cores:  # oversubscribed: a waiting rank yields its core
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
    out = subprocess.run(
        cmd, capture_output=capture, text=True, timeout=timeout, env=env, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({out.returncode}):\n{(out.stderr or '')[-3000:]}"
        )
    return out


def last_json_line(stdout: str, tag: str = "RESULT ") -> dict:
    """The JSON payload of the last line starting with ``tag`` in a job's output."""
    lines = [line for line in stdout.splitlines() if line.startswith(tag)]
    if not lines:
        raise RuntimeError(f"no {tag.strip()} line in the job's output:\n{stdout}")
    return json.loads(lines[-1][len(tag) :])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None

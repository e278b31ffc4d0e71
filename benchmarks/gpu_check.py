"""One-GPU check in under 8 minutes: bandwidth, step throughput vs roofline, the
primitive-equation step, the corrector's cost, gradient memory, determinism.

Usage: python benchmarks/gpu_check.py [--tiny] [--out PATH] [--budget-s S]
       (or benchmarks/gpu_check.sh, which picks the venv and logs)
One process, no MPI: every model is built on a serial ParallelContext, so a GPU
machine with JAX + CUDA but without mpi4py/mpi4jax runs it. Sections, in order
(each records its own error instead of ending the run; once --budget-s is spent
the rest are marked skipped, so the JSON always comes back):
  device       device kind, platform, memory limit, jax version
  triad        STREAM triad a = b + 3 c through jitted JAX (common.triad_bandwidth):
               the measured memory roofline, float64, 2^27 elements (3 GiB moved
               per call, ~0.7 ms on an H200: far above dispatch cost)
  sw           beta_plane shallow water (fb_ab3) at 1024^2, 2048^2, 4096^2 in
               float32 and float64: cell updates/s, bytes per cell per step from
               the compiled single step's cost analysis ("bytes accessed") and the
               compulsory 12 arrays per cell per step (throughput_sw.py), each as
               a fraction of the triad roofline
  pe           case `global` (240 x 106 x 23) step time, float64 and float32
  corrector    the hybrid (physics + default ConvCorrector, train.width/depth)
               against physics alone at 1024^2 float32: added fraction of step time
  determinism  two fresh processes with NEURALOGCM_DETERMINISTIC=1 (XLA_FLAGS
               --xla_gpu_deterministic_ops=true): float64 hybrid state after 20
               steps and the gradient of a 4-step rollout, hashed; equal = bit-identical
  grad_memory  compiled memory (temp bytes, in model states) of the gradient of a
               rollout loss w.r.t. physics + corrector parameters for rollouts of
               4, 16, 64 steps, plain and with checkpointed segments of sqrt(R)
The JSON is rewritten after every section, so a run stopped by the 8-minute
limit (gpu_check.sh) keeps what it finished.
--tiny shrinks every size so that the CPU runs it in CI (55-66 CPU-s on the
2-core machine, most of it compilation, half of that the gradient programs).
Results: benchmarks/results/gpu_check.json (--tiny: gpu_check_tiny.json)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

# fb_ab3: read u, v, ssh + 2 x 2 slow tendencies, write u, v, ssh + 2 tendencies
COMPULSORY_ARRAYS = 12
FULL = {
    "sw_sizes": (1024, 2048, 4096),
    "sw_steps": {1024: 100, 2048: 50, 4096: 20},  # >= ~10 ms per timed call
    "repeat": 5,
    "triad_n": 2**27,
    "pe_grid": None,  # the case's own 240 x 106 x 23
    "pe_steps": 8,
    "corrector_n": 1024,
    "corrector_steps": 50,
    "grad_n": 1024,
    "grad_lengths": (4, 16, 64),
    "det_n": 1024,
    "det_steps": 20,
    "pe_precisions": ("float64", "float32"),
    "net": None,  # the config's train.width / train.depth
}
# Compilation is most of a CPU run (~3 s per shallow-water program, ~10 s for
# the primitive equations, more for gradients through the network): one size,
# one float64 PE program, a 4-channel, 1-layer network, one gradient length.
TINY = {
    "sw_sizes": (32,),
    "sw_steps": {32: 5},
    "repeat": 2,
    "triad_n": 2**20,
    "pe_grid": (48, 22, 5),  # compiles in ~15 s on one CPU core
    "pe_steps": 1,
    "corrector_n": 32,
    "corrector_steps": 2,
    "grad_n": 32,
    "grad_lengths": (4,),
    "det_n": 32,
    "det_steps": 4,
    "pe_precisions": ("float64",),
    "net": (4, 1),
}


def serial_context():
    from neuralogcm_hpc.parallel.context import ParallelContext

    return ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)


def device_info() -> dict:
    import jax

    dev = jax.devices()[0]
    stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
    return {
        "kind": dev.device_kind,
        "platform": dev.platform,
        "count": jax.device_count(),
        "memory_limit_bytes": (stats or {}).get("bytes_limit"),
        "jax": jax.__version__,
    }


def cost_bytes(fn, *args) -> float | None:
    """``bytes accessed`` of the compiled ``fn(*args)`` (XLA's cost analysis)."""
    import jax

    analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):  # older JAX: one dict per computation
        analysis = analysis[0] if analysis else None
    value = (analysis or {}).get("bytes accessed")
    return float(value) if value else None


def sw_model(n: int, precision: str):
    from neuralogcm_hpc.cases import build_model, case_config

    cfg = case_config("beta_plane").replace(
        **{"grid.nx": n, "grid.ny": n, "precision": precision}
    )
    return cfg, build_model(cfg, serial_context())


def sw_throughput(n: int, precision: str, steps: int, repeat: int, bw: float) -> dict:
    import jax

    _, model = sw_model(n, precision)
    params, state = model.default_params(), model.initial_state()
    cells = n * n
    measured = cost_bytes(model.step, state, params)
    advance = jax.jit(lambda s, p: model.advance(s, p, steps), donate_argnums=0)
    state, timing = common.time_rollout(advance, state, params, steps, repeat)
    step_s = timing["step_s"]
    itemsize = 4 if precision == "float32" else 8
    out = {
        "n": n,
        "precision": precision,
        "steps_per_call": steps,
        **timing,
        "cell_updates_per_s": cells / step_s,
        "bytes_per_cell_step_cost_analysis": measured / cells if measured else None,
        "bytes_per_cell_step_compulsory": COMPULSORY_ARRAYS * itemsize,
    }
    for key in ("cost_analysis", "compulsory"):
        per_cell = out[f"bytes_per_cell_step_{key}"]
        out[f"roofline_fraction_{key}"] = (
            per_cell * cells / step_s / bw if per_cell and bw else None
        )
    out["finite"] = bool(jax.numpy.isfinite(model.fields(state)["ssh"]).all())
    return out


def pe_step(precision: str, grid, steps: int, repeat: int) -> dict:
    import jax

    from neuralogcm_hpc.cases import build_model, case_config

    cfg = case_config("global").replace(precision=precision)
    if grid is not None:
        names = ("grid.nx", "grid.ny", "grid.nz")
        cfg = cfg.replace(**dict(zip(names, grid, strict=True)))
    model = build_model(cfg, serial_context())
    params, state = model.default_params(), model.initial_state()
    advance = jax.jit(lambda s, p: model.advance(s, p, steps), donate_argnums=0)
    start = time.perf_counter()
    state = jax.block_until_ready(advance(state, params))
    first = time.perf_counter() - start
    state, timing = common.time_rollout(advance, state, params, steps, repeat)
    g = cfg.grid
    return {
        "grid": f"{g.nx}x{g.ny}x{g.nz}",
        "precision": precision,
        "steps_per_call": steps,
        "compile_and_first_call_s": first,
        **timing,
        "sim_days_per_wall_s": cfg.time.dt / 86400 / timing["step_s"],
    }


def hybrid_of(cfg, model, net):
    """The hybrid around ``model``; ``net`` = (width, depth), None: the config's."""
    import jax

    from neuralogcm_hpc.model import HybridModel

    width, depth = net or (cfg.train.width, cfg.train.depth)
    hybrid = HybridModel.from_config(model, cfg.train)
    params = hybrid.init_params(
        model.default_params(), jax.random.PRNGKey(0), width, depth
    )
    return hybrid, params, (width, depth)


def corrector_cost(n: int, steps: int, repeat: int, net) -> dict:
    import jax

    cfg, model = sw_model(n, "float32")
    hybrid, hparams, (width, depth) = hybrid_of(cfg, model, net)

    def rollout(m):
        return jax.jit(lambda s, p: m.advance(s, p, steps), donate_argnums=0)

    variants = {
        "physics": (rollout(model), model.initial_state(), hparams.physics),
        "hybrid": (rollout(hybrid), model.initial_state(), hparams),
    }
    _, timings = common.time_interleaved(variants, steps, repeat)
    ratio = common.paired_ratio(timings["hybrid"], timings["physics"])
    return {
        "n": n,
        "precision": "float32",
        "width": width,
        "depth": depth,
        "physics_step_s": timings["physics"]["step_s"],
        "hybrid_step_s": timings["hybrid"]["step_s"],
        "added_fraction": ratio - 1.0,
    }


def grad_memory(n: int, lengths, net, spent=lambda: False) -> dict:
    import jax
    import jax.numpy as jnp

    from neuralogcm_hpc.solver import checkpointed_rollout, rollout

    cfg, model = sw_model(n, "float32")
    hybrid, hparams, _ = hybrid_of(cfg, model, net)
    state = model.initial_state()
    state_bytes = sum(x.nbytes for x in jax.tree.leaves(state) if hasattr(x, "nbytes"))

    def loss_of(length: int, segment: int):
        def loss(p):
            step = lambda s: hybrid.step(s, p)  # noqa: E731
            if segment:
                final = checkpointed_rollout(step, state, length, segment)
            else:
                final = rollout(step, state, length)
            return sum(jnp.sum(f**2) for f in model.fields(final).values())

        return jax.grad(loss)

    rows = []
    for length in lengths:
        for segment in (0, math.isqrt(length)):
            if spent():
                rows.append({"rollout": length, "checkpoint_segment": segment,
                             "skipped": True})  # fmt: skip
                continue
            compiled = jax.jit(loss_of(length, segment)).lower(hparams).compile()
            memory = compiled.memory_analysis()
            temp = getattr(memory, "temp_size_in_bytes", None)
            rows.append(
                {
                    "rollout": length,
                    "checkpoint_segment": segment,
                    "temp_bytes": temp,
                    "temp_in_states": temp / state_bytes if temp else None,
                }
            )
    return {"n": n, "precision": "float32", "state_bytes": state_bytes, "rows": rows}


def determinism_worker(n: int, steps: int, net) -> None:
    """Print the hashes of a float64 hybrid rollout and of its gradient."""
    os.environ["NEURALOGCM_DETERMINISTIC"] = "1"
    from neuralogcm_hpc.parallel.devices import configure_devices

    plan = configure_devices()
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    cfg, model = sw_model(n, "float64")
    hybrid, hparams, _ = hybrid_of(cfg, model, net)
    state = jax.jit(lambda s, p: hybrid.advance(s, p, steps))(
        model.initial_state(), hparams
    )

    def loss(p):
        final = hybrid.advance(model.initial_state(), p, 4)
        return sum(jnp.sum(f**2) for f in model.fields(final).values())

    grads = jax.jit(jax.grad(loss))(hparams)

    def digest(tree) -> str:
        h = hashlib.sha256()
        for leaf in jax.tree.leaves(tree):
            if hasattr(leaf, "dtype"):
                h.update(np.ascontiguousarray(jax.device_get(leaf)).tobytes())
        return h.hexdigest()

    record = {
        "state_sha256": digest(model.fields(state)),
        "grad_sha256": digest(grads),
        "deterministic_plan": plan.deterministic,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    print("RESULT " + json.dumps(record), flush=True)


def determinism(n: int, steps: int, tiny: bool) -> dict:
    """Two fresh processes, each compiling and running anew; in --tiny mode the
    second loads the first's programs from a persistent compilation cache (saves
    ~20 CPU-s of the CI run; it then compares execution only)."""
    runs = []
    command = [sys.executable, __file__, "--determinism-worker", str(n), str(steps)]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as cache:
        if tiny:
            env["JAX_COMPILATION_CACHE_DIR"] = cache
            env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        for _ in range(2):
            job = subprocess.run(
                command + (["--tiny"] if tiny else []),
                capture_output=True,
                text=True,
                timeout=150,  # two of them stay inside the 8-minute limit
                cwd=common.ROOT,
                env=env,
            )
            if job.returncode != 0:
                raise RuntimeError(f"determinism worker failed: {job.stderr[-2000:]}")
            runs.append(common.last_json_line(job.stdout))
    same = all(runs[0][k] == runs[1][k] for k in ("state_sha256", "grad_sha256"))
    return {"n": n, "steps": steps, "precision": "float64", "runs": runs,
            "shared_compilation_cache": tiny, "bit_identical": same}  # fmt: skip


def run_all(sizes: dict, budget_s: float, tiny: bool, save) -> dict:
    """Every section in turn; ``save(out)`` after each, so a run killed at the
    8-minute limit still leaves the sections it finished."""
    import jax

    jax.config.update("jax_enable_x64", True)  # int64 step counter, float64 runs
    start = time.perf_counter()
    out: dict = {"sections_s": {}}

    def spent() -> bool:
        return time.perf_counter() - start > budget_s

    def section(name, fn, *args):
        if spent():
            out[name] = {"skipped": f"time budget of {budget_s:.0f} s spent"}
            return
        t0 = time.perf_counter()
        try:
            out[name] = fn(*args)
        except Exception as exc:  # record and go on: the other figures still count
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        out["sections_s"][name] = round(time.perf_counter() - t0, 2)
        out["total_s"] = round(time.perf_counter() - start, 2)
        save(out)
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    section("device", device_info)
    section("triad", common.triad_bandwidth, sizes["triad_n"], sizes["repeat"] * 2)
    bw = out["triad"].get("best_gb_per_s", 0.0) * 1e9

    def sw_all():
        rows = []
        for precision in ("float32", "float64"):
            for n in sizes["sw_sizes"]:
                if spent():
                    rows.append({"n": n, "precision": precision, "skipped": True})
                    continue
                steps = sizes["sw_steps"][n]
                rows.append(sw_throughput(n, precision, steps, sizes["repeat"], bw))
        return rows

    section("sw", sw_all)
    section(
        "pe",
        lambda: [
            pe_step(p, sizes["pe_grid"], sizes["pe_steps"], sizes["repeat"])
            for p in sizes["pe_precisions"]
        ],
    )
    section(
        "corrector",
        corrector_cost,
        sizes["corrector_n"],
        sizes["corrector_steps"],
        sizes["repeat"],
        sizes["net"],
    )
    section("determinism", determinism, sizes["det_n"], sizes["det_steps"], tiny)
    # last: up to 6 gradient compilations, each stopped by the budget
    n, lengths = sizes["grad_n"], sizes["grad_lengths"]
    section("grad_memory", grad_memory, n, lengths, sizes["net"], spent)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CI size, on any device")
    parser.add_argument("--out", type=Path, help="JSON path (default: results/)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=420.0,
        help="start no section after this many seconds (the whole check must "
        "stay under 8 minutes; the last section takes < 1 minute on a GPU)",
    )
    parser.add_argument("--determinism-worker", nargs=2, type=int, metavar=("N", "K"))
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    if args.determinism_worker:
        determinism_worker(*args.determinism_worker, sizes["net"])
        return
    name = "gpu_check_tiny.json" if args.tiny else "gpu_check.json"
    out = args.out or common.RESULTS / name
    mode = "tiny" if args.tiny else "full"

    def save(results: dict) -> None:
        common.write_result(out.stem, results, out.parent, mode=mode)

    run_all(sizes, args.budget_s, args.tiny, save)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

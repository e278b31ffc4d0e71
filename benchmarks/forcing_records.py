"""Compile time and program size of a primitive-equation step vs forcing records.

    python benchmarks/forcing_records.py [--records 30 365] [--nx 96 --ny 64]

Builds the double gyre at nx x ny x 3 with a physics.forcing store of N daily
records (taux, tauy, temp_star, salt_star) and jits one model step; prints, per
N: seconds to lower and to compile, the size of the optimised HLO text, XLA's
memory analysis (arguments, constants inside the program, generated code) and
the store's bytes per field on this tile, the serialised executable's size
and the process's peak resident memory (one process per N).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.physics.forcing_store import write_store
from neuralogcm_hpc.precision import enable_x64

SERIAL = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
DAY = 86400.0


def measure(records: int, nx: int, ny: int, root: Path) -> dict:
    cfg = case_config("double_gyre").replace(
        **{"grid.nx": nx, "grid.ny": ny, "grid.nz": 3, "physics.pe_restore_days": 10.0}
    )
    path = root / f"forcing{records}.zarr"
    rng = np.random.default_rng(0)
    shape = (records, ny, nx)
    write_store(
        path,
        np.arange(records) * DAY,
        taux=0.1 * rng.standard_normal(shape),
        tauy=0.1 * rng.standard_normal(shape),
        temp_star=10 + rng.standard_normal(shape),
        salt_star=35 + rng.standard_normal(shape),
    )
    model = build_model(cfg.replace(**{"physics.forcing": str(path)}), SERIAL)
    state, params = model.initial_state(), model.default_params()
    fn = jax.jit(lambda s, p: model.advance(s, p, 1))
    clock = time.perf_counter()
    lowered = fn.lower(state, params)
    lower_s = time.perf_counter() - clock
    clock = time.perf_counter()
    compiled = lowered.compile()
    compile_s = time.perf_counter() - clock
    mem = compiled.memory_analysis()
    try:
        from jax.experimental.serialize_executable import serialize

        executable_bytes = len(serialize(compiled)[0])
    except Exception:  # noqa: BLE001 - not every backend serialises
        executable_bytes = -1
    clock = time.perf_counter()
    jax.block_until_ready(compiled(state, params))
    run_s = time.perf_counter() - clock
    return {
        "records": records,
        "lower_s": round(lower_s, 2),
        "compile_s": round(compile_s, 2),
        "first_call_s": round(run_s, 3),
        "stablehlo_chars": len(lowered.as_text()),
        "hlo_chars": len(compiled.as_text()),
        "argument_bytes": int(mem.argument_size_in_bytes),
        "constant_bytes": int(getattr(mem, "constant_size_in_bytes", -1) or 0),
        "generated_code_bytes": int(mem.generated_code_size_in_bytes),
        "temp_bytes": int(mem.temp_size_in_bytes),
        "executable_bytes": executable_bytes,
        "peak_rss_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
        "field_bytes": records * (ny + 8) * (nx + 8) * 8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[30, 365])
    parser.add_argument("--nx", type=int, default=96)
    parser.add_argument("--ny", type=int, default=64)
    args = parser.parse_args()
    enable_x64()
    with tempfile.TemporaryDirectory() as root:
        for n in args.records:  # one process per count: its own peak memory
            if len(args.records) > 1:
                cmd = [sys.executable, __file__, "--records", str(n), "--nx",
                       str(args.nx), "--ny", str(args.ny)]
                subprocess.run(cmd, check=True)
            else:
                print(json.dumps(measure(n, args.nx, args.ny, Path(root))),
                      flush=True)


if __name__ == "__main__":
    main()

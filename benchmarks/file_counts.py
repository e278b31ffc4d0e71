"""Output files per simulated year, one record per file vs blocks of records per file
(Zarr v3 shards), and what the blocks cost in write time.

Usage: python benchmarks/file_counts.py [--blocks 1 8 32 128] [--records 365]
One process writes --records daily snapshot records of the 5 primitive-equation
variables (u, v, ssh, temp, salt) on one tile of the `global` case cut for 64
ranks (240 x 106 x 23 on 8 x 8 ranks: a 30 x 14 x 23 tile, float64; 13.25 rows
rounded up) through OutputWriter, once per records_per_block, and counts the
files the store holds. Every tile of a 64-rank run writes the same files
(tests/mpi/test_io_mpi.py checks the count per tile), so files per simulated
year on 64 ranks = variable files of the one-tile store x 64 per year (the
shared metadata and coordinate files, ~20, are counted apart). Also reported:
CPU and wall seconds per record written (background writes waited for at the
end; CPU counts every thread) and the store's size.
Results: benchmarks/results/file_counts.json
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

RANKS, TILE_NY, TILE_NX, NZ = 64, 14, 30, 23
NAMES = ("u", "v", "ssh", "temp", "salt")


def write_year(path: Path, records: int, block: int) -> dict:
    from neuralogcm_hpc.io.zarr_writer import CoordSpec, OutputWriter, VariableSpec
    from neuralogcm_hpc.parallel.context import ParallelContext
    from neuralogcm_hpc.parallel.decomposition import Decomposition

    serial = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    coords = {
        "x": CoordSpec(np.arange(TILE_NX, dtype=float), "m", "x"),
        "y": CoordSpec(np.arange(TILE_NY, dtype=float), "m", "y"),
        "depth": CoordSpec(np.arange(NZ, dtype=float), "m", "depth"),
    }
    variables = {
        n: VariableSpec(("y", "x") if n == "ssh" else ("depth", "y", "x"), "1", n)
        for n in NAMES
    }
    writer = OutputWriter(
        path,
        Decomposition(TILE_NX, TILE_NY),
        serial,
        variables,
        coords,
        86400.0,
        snapshot_every=1,
        records_per_block=block,
    )
    rng = np.random.default_rng(0)
    base = rng.standard_normal((NZ, TILE_NY, TILE_NX)).cumsum(axis=2)  # smooth-ish
    start, cpu = time.perf_counter(), time.process_time()
    for step in range(records):
        field = base + 1e-3 * step
        writer.update(step, {n: field[0] if n == "ssh" else field for n in NAMES})
    writer.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    files = [f for f in path.rglob("*") if f.is_file()]
    variable_files = sum(
        1 for f in files if f.relative_to(path).parts[0] in NAMES and "c" in f.parts
    )
    years = records / 365.0
    return {
        "records_per_block": block,
        "records": records,
        "variable_files_one_tile": variable_files,
        # metadata, coordinates, time and step (one chunk per 512 records)
        "shared_files": len(files) - variable_files,
        "files_per_year_64_ranks": variable_files * RANKS / years,
        "predicted_files_per_year_64_ranks": len(NAMES)
        * RANKS
        * math.ceil(records / block)
        / years,
        # all threads' CPU: the wall time is the shared machine's
        "cpu_s_per_record": cpu / records,
        "wall_s_per_record": seconds / records,
        "store_bytes": sum(f.stat().st_size for f in files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--records", type=int, default=365)
    args = parser.parse_args()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="file_counts-"))
    try:
        for block in args.blocks:
            row = write_year(work / f"b{block}.zarr", args.records, block)
            rows.append(row)
            print(row, flush=True)
    finally:
        shutil.rmtree(work)
    fifty = {r["records_per_block"]: r["files_per_year_64_ranks"] * 50 for r in rows}
    path = common.write_result(
        "file_counts",
        rows,
        scenario="daily snapshots of u, v, ssh, temp, salt on 64 ranks",
        files_for_50_years=fifty,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""benchmarks/gpu_check.py --tiny runs on the CPU without MPI and records sane JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("device", "triad", "sw", "pe", "corrector", "grad_memory", "determinism")


def test_tiny_gpu_check_without_mpi(tmp_path):
    # A GPU machine may have no mpi4py/mpi4jax: modules that refuse to import stand
    # in for them, in this process's children too (the determinism workers).
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    for name in ("mpi4py", "mpi4jax"):
        (blocked / f"{name}.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{blocked}{os.pathsep}{ROOT}"}
    env.pop("OMPI_COMM_WORLD_SIZE", None)  # one process even inside mpirun
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--tiny", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["mode"] == "tiny" and record["machine"]["mpi"] == "none"
    res = record["results"]
    for name in SECTIONS:
        assert "error" not in res[name] and "skipped" not in res[name], res[name]
    assert res["device"]["kind"] and res["triad"]["best_gb_per_s"] > 0
    for row in res["sw"]:
        assert row["finite"] and row["cell_updates_per_s"] > 0
        assert row["bytes_per_cell_step_compulsory"] == (
            48 if row["precision"] == "float32" else 96
        )
        assert 0 < row["roofline_fraction_compulsory"]
        # XLA's bytes accessed count every operand of every op: at least the
        # compulsory traffic
        assert row["bytes_per_cell_step_cost_analysis"] >= 48
    assert {r["precision"] for r in res["sw"]} == {"float32", "float64"}
    assert res["pe"][0]["step_s"] > 0
    assert res["corrector"]["hybrid_step_s"] > 0
    rows = res["grad_memory"]["rows"]
    plain = [r["temp_bytes"] for r in rows if r["checkpoint_segment"] == 0]
    remat = [r["temp_bytes"] for r in rows if r["checkpoint_segment"] > 0]
    assert plain and remat and max(remat) <= max(plain)
    det = res["determinism"]
    assert det["bit_identical"] is True
    assert all(len(r["state_sha256"]) == 64 for r in det["runs"])

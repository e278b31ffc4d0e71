"""Helpers that launch `python -m neuralogcm_hpc.run` as real (MPI) processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# A tiny beta-plane channel: compiles and runs in seconds, tiles over 1, 2, 4 ranks.
TINY = ["--set", "grid.nx=32", "--set", "grid.ny=16", "--set", "time.steps_per_call=5"]


def mpirun(ranks: int) -> list[str]:
    if ranks == 1:
        return [sys.executable]
    launcher = [str(BIN / "mpirun"), "-n", str(ranks), "--oversubscribe"]
    if os.geteuid() == 0:
        launcher.append("--allow-run-as-root")
    return launcher + [sys.executable]


def run_cli(ranks: int, *args: str, timeout: float = 300, check: bool = True):
    """Run the CLI on ``ranks`` processes; returns (completed process, SUMMARY)."""
    cmd = mpirun(ranks) + ["-m", "neuralogcm_hpc.run", *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc, summary_of(proc.stdout)


def summary_of(stdout: str) -> dict | None:
    lines = [x for x in stdout.splitlines() if x.startswith("SUMMARY ")]
    return json.loads(lines[-1][len("SUMMARY ") :]) if lines else None

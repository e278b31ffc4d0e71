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


# -- whole-job kills (node failure) -------------------------------------------
def launch_session(ranks: int, *args: str, stdout=None) -> subprocess.Popen:
    """Start ``launch/mpirun.sh -n ranks`` in a POSIX session of its own.

    Open MPI 5 puts every rank in its own process group, so killing the
    launcher's group misses the ranks; the session holds them all.
    """
    env = dict(os.environ, PYTHON=sys.executable, MPIRUN=str(BIN / "mpirun"))
    # one core per rank is not guaranteed on a CI runner
    env["MPIRUN_ARGS"] = "--oversubscribe"
    cmd = ["bash", str(ROOT / "launch" / "mpirun.sh"), "-n", str(ranks), *args]
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # setsid: its pid is the session id
    )


def session_pids(sid: int) -> list[int]:
    """Live (not zombie) processes whose session id is ``sid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # fields after "(comm)": state ppid pgrp session ...; comm may hold spaces
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] not in "ZX":
            found.append(int(entry.name))
    return found


def kill_session(proc: subprocess.Popen, timeout: float = 30) -> int:
    """SIGKILL every process of ``proc``'s session (launcher and all ranks) at
    once, as a node failure would; returns how many were killed. Repeats until
    none is left, since a launcher may fork between the listing and the kill."""
    import signal
    import time

    sid, killed, deadline = proc.pid, set(), time.monotonic() + timeout
    while True:
        pids = session_pids(sid)
        if not pids:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"session {sid} survives SIGKILL: pids {pids}")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    proc.wait(timeout=timeout)
    return len(killed)

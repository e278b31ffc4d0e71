"""launch/slurm_cpu.sbatch submitted to a real single-node Slurm, chain end to end."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRY_CHAIN = ROOT / "launch" / "slurm_local" / "try_chain.sh"


def _missing() -> str | None:
    """Why this machine cannot run the real chain (None: it can)."""
    for tool in ("sbatch", "squeue", "scontrol", "slurmctld", "slurmd", "munged"):
        if shutil.which(tool) is None:
            return (f"{tool} not found: apt-get install slurm-wlm munge libpmix-dev "
                    "(Debian) to run the real Slurm chain")
    if os.getuid() != 0:
        return "the local Slurm of launch/slurm_local/setup.sh runs as root"
    if not (ROOT / ".venv" / "bin" / "python").exists():
        return "no .venv in the checkout (the batch script runs .venv/bin/python)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_slurm_chain_usr1_checkpoint_afterany_equals_one_run(tmp_path):
    """At least two segments, each but the last stopped by Slurm's USR1 warning with
    a final checkpoint and resubmitted with afterany; the last reaches the target
    with the state_sha256 of one uninterrupted run (launch/slurm_local/try_chain.sh:
    7 minutes on the 2 cores here, up to ~25 under heavy load; it starts and stops
    the local cluster itself when none is up)."""
    work = tmp_path / "chain"
    out = subprocess.run(
        ["bash", str(TRY_CHAIN), str(work)], capture_output=True, text=True,
        timeout=3600,
    )
    lines = [x for x in out.stdout.splitlines() if x.startswith("TRY_CHAIN ")]
    assert lines, out.stderr[-4000:]
    result = json.loads(lines[-1][len("TRY_CHAIN "):])
    assert out.returncode == 0 and result["ok"], result["problems"]
    segments = result["segments"]
    assert len(segments) >= 2
    for seg in segments[:-1]:
        assert seg["usr1"] and seg["final_checkpoint"]
        assert seg["stopped_at"] == seg["step"] and not seg["target_reached"]
    assert segments[-1]["target_reached"]
    assert segments[-1]["state_sha256"] == result["reference"]["state_sha256"]
    # the chain's own Slurm jobs: the first submitted one, then one per resubmission
    assert [s["resubmitted"] for s in segments[:-1]] == [s["job"] for s in segments[1:]]

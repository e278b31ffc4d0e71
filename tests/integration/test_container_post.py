"""containers/neuralogcm_hpc.def's %post, run in a fresh Debian chroot, then MPI."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRY_POST = ROOT / "containers" / "try_post.sh"


def _missing() -> str | None:
    """Why this machine cannot build the chroot (None: it can)."""
    if os.getuid() != 0:
        return "debootstrap, chroot and mounts need root"
    for tool in ("debootstrap", "chroot", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install debootstrap)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_missing() is not None, reason=str(_missing()))
def test_definition_post_builds_and_runs_mpi_in_a_fresh_chroot(tmp_path):
    """containers/try_post.sh: debootstrap bookworm, the def's %files, %post (CPU),
    %test, then `mpirun -n 2 ... --steps 5` inside; its state_sha256 equals the same
    run on the host (same pinned versions). Downloads ~1 GB from Debian and PyPI:
    7-10 minutes here (docs in containers/README.md)."""
    chroot = tmp_path / "chroot"
    out = subprocess.run(
        ["bash", str(TRY_POST)], env={**os.environ, "CHROOT": str(chroot)},
        capture_output=True, text=True, timeout=3600,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert "OK: %post, %test and a 2-rank MPI smoke ran" in log
    sha = re.search(r"smoke state_sha256 ([0-9a-f]{64})", log)
    assert sha, log[-3000:]
    assert not chroot.exists(), "the chroot is removed without --keep"

    host = subprocess.run(
        [str(ROOT / "launch" / "mpirun.sh"), "-n", "2", "--case", "beta_plane_small",
         "--steps", "5", "--set", "grid.nx=32", "--set", "grid.ny=16"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert host.returncode == 0, host.stderr[-3000:]
    assert f'"state_sha256": "{sha[1]}"' in host.stdout

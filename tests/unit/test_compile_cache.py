"""The persistent compilation cache: where it lives, and that a run loading its
programs from it ends on the same state bit for bit."""

import os
import subprocess
import sys
from pathlib import Path

from neuralogcm_hpc.compile_cache import ENV_VAR, cache_dir

ROOT = Path(__file__).resolve().parents[2]


def test_cache_dir_from_setting_environment_and_home(tmp_path):
    home = {"XDG_CACHE_HOME": str(tmp_path)}
    assert cache_dir("auto", home) == tmp_path / "neuralogcm_hpc" / "jax"
    assert cache_dir("off", home) is None
    assert cache_dir("/scratch/c", home) == Path("/scratch/c")
    # the environment beats the config, both ways
    assert cache_dir("/scratch/c", {**home, ENV_VAR: "off"}) is None
    assert cache_dir("off", {**home, ENV_VAR: "/x"}) == Path("/x")
    assert cache_dir("auto", {}).parts[-3:] == (".cache", "neuralogcm_hpc", "jax")


def test_a_run_from_the_cache_is_bit_identical(tmp_path):
    env = {**os.environ, ENV_VAR: str(tmp_path / "cache")}
    env.pop("OMPI_COMM_WORLD_SIZE", None)  # one process even inside mpirun
    cmd = [sys.executable, "-m", "neuralogcm_hpc.run", "simulate", "--steps", "5",
           "--set", "grid.nx=32", "--set", "grid.ny=16",
           "--set", "time.steps_per_call=5"]  # fmt: skip
    digests, entries = [], []
    for _ in range(2):  # compiles and fills the cache, then loads from it
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        assert "persistent compilation cache" not in proc.stderr  # no bad entry
        line = next(x for x in proc.stdout.splitlines() if x.startswith("SUMMARY"))
        digests.append(line.split('"state_sha256": "')[1][:64])
        entries.append(sorted(p.name for p in (tmp_path / "cache").iterdir()))
    assert entries[0], "the first run wrote no cache entry"
    assert entries[1] == entries[0]  # the second compiled nothing new
    assert digests[0] == digests[1]

"""SIGKILL a process that saves checkpoints back to back; the newest valid one loads.

Each trial resumes from the newest checkpoint (like a resubmitted job), saves
continuously and is killed at a seeded random moment -- mostly mid-save, since
saving is all it does. After every kill, ``load_latest`` must return, without any
corruption warning, a checkpoint whose content equals what was saved for its step,
and never an older one than the last save the child reported complete.
"""

import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from neuralogcm_hpc.io.checkpoint import Checkpointer
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

CONTENT = """
import numpy as np

def content(step):
    rng = np.random.default_rng(step)
    tiled = {"u": rng.standard_normal((32, 48)), "t": rng.standard_normal((4, 32, 48))}
    return tiled, {"step": np.int64(step), "w": rng.standard_normal(1000)}
"""

CHILD = (
    CONTENT
    + """
import sys
from neuralogcm_hpc.io.checkpoint import Checkpointer
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

ctx = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
ckpt = Checkpointer(sys.argv[1], Decomposition(48, 32), ctx, keep=3)
latest = ckpt.load_latest()
step = latest.step if latest else 0
print("ready", step, flush=True)
while True:
    step += 1
    tiled, replicated = content(step)
    ckpt.save(step, tiled, replicated, {"step": step})
    print("saved", step, flush=True)
"""
)


@pytest.mark.parametrize("trials", [12, pytest.param(60, marks=pytest.mark.slow)])
def test_sigkill_never_leaves_a_loadable_partial_checkpoint(tmp_path, trials):
    namespace: dict = {}
    exec(CONTENT, namespace)  # the same content function the child uses
    content = namespace["content"]
    rng = np.random.default_rng(20261124)
    ctx = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    ckpt = Checkpointer(tmp_path, Decomposition(48, 32), ctx, keep=3)
    killed_mid_save = 0
    for _ in range(trials):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        ready = child.stdout.readline().split()
        assert ready[0] == "ready", ready
        time.sleep(rng.uniform(0.02, 0.5))
        child.kill()  # SIGKILL: no handler, no cleanup
        child.wait()
        saved = [int(line.split()[1]) for line in child.stdout if line.strip()]
        child.stdout.close()
        killed_mid_save += any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())
        newest_reported = max(saved, default=int(ready[1]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a committed checkpoint never fails
            restored = ckpt.load_latest()
        if newest_reported == 0:
            assert restored is None or restored.step == 1
            continue
        # the save in progress may have committed before its "saved" line was printed
        assert restored.step in (newest_reported, newest_reported + 1)
        tiled, replicated = content(restored.step)
        for name, value in {**tiled, **replicated}.items():
            got = {**restored.tiled, **restored.replicated}[name]
            np.testing.assert_array_equal(got, value)
    print(f"{killed_mid_save} of {trials} kills left a .tmp- directory")
    assert killed_mid_save >= 1  # the kills did land inside saves

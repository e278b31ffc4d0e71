"""Start-up compiles few XLA programs: every eager jnp operation at model build
is a program of its own (~50 ms to compile on the CPU, per rank, per run, and
programs with halo exchanges miss the persistent cache), so building a model
must stay batched into a few jitted calls (benchmarks/README.md, start-up)."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import collections, json, sys
import jax
compiled = collections.Counter()
jax.monitoring.register_event_duration_secs_listener(
    lambda name, seconds, **kw: compiled.update([name]))
from neuralogcm_hpc.precision import enable_x64
enable_x64()
from neuralogcm_hpc.cases import build_model, case_config
model = build_model(case_config(sys.argv[1]))
model.initial_state(), model.default_params()
print(json.dumps(compiled["/jax/core/compile/backend_compile_duration"]))
"""


# Measured when this test was written: 13 and 22 (from 38 and 45 before the
# column metrics, the halo fill and the coefficient defaults were batched).
@pytest.mark.parametrize("case, most", [("beta_plane_small", 15), ("double_gyre", 25)])
def test_building_a_model_compiles_few_programs(case, most):
    # a fresh interpreter without the persistent cache: nothing compiled yet
    env = {**os.environ, "NEURALOGCM_COMPILATION_CACHE": "off", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, case], env=env, capture_output=True, text=True,
        check=True,
    )
    count = json.loads(done.stdout.strip().splitlines()[-1])
    assert 0 < count <= most, f"{case}: {count} programs compiled at start-up"

"""The requested precision is true, or the model is refused (never a silent float32)."""

import os
import subprocess
import sys

import pytest

from tests.integration.cli import ROOT

BUILD = """
import jax
from neuralogcm_hpc.cases import build_model, case_config
{setup}
config = case_config("beta_plane_small").replace(
    **{{"grid.nx": 32, "grid.ny": 16, "precision": "{precision}"}})
state = build_model(config).initial_state()
print(state.step.dtype, sorted({{str(v.dtype) for v in state.fields.values()}}))
"""


def python(code: str) -> subprocess.CompletedProcess:
    """A fresh interpreter as a notebook has it: no jax_enable_x64 anywhere."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_building_a_model_without_x64_is_refused(precision):
    out = python(BUILD.format(setup="", precision=precision))
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("neuralogcm_hpc.config.ConfigError: "), last
    assert f"precision = {precision} needs 64-bit JAX" in last
    assert "jax_enable_x64" in last


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_enable_x64_makes_the_precision_true(precision):
    setup = "from neuralogcm_hpc.precision import enable_x64; enable_x64()"
    out = python(BUILD.format(setup=setup, precision=precision))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["int64", f"['{precision}']"]

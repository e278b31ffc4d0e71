"""The XLA:CPU flags the package sets at import (neuralogcm_hpc/__init__.py)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAP = "--xla_cpu_max_isa=AVX"
LANES = "--xla_backend_extra_options=-force-vector-width=8"

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the ISA cap and vector width are set on x86-64 only",
)


def flags_after_import(env_extra: dict, pythonpath: list[str] = ()) -> list[str]:
    """XLA_FLAGS as a fresh interpreter leaves them after ``import neuralogcm_hpc``."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS",)}
    env.pop("NEURALOGCM_ALLOW_FMA", None)
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([*pythonpath, str(ROOT)])
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, neuralogcm_hpc; print(os.environ.get('XLA_FLAGS', ''))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_defaults_cap_the_isa_and_force_eight_lanes():
    assert flags_after_import({}) == [CAP, LANES]


def test_flags_already_given_win():
    mine = ["--xla_cpu_max_isa=AVX2", "--xla_backend_extra_options=-foo=1"]
    assert flags_after_import({"XLA_FLAGS": " ".join(mine)}) == mine


def test_allow_fma_opts_out_of_both():
    assert flags_after_import({"NEURALOGCM_ALLOW_FMA": "1"}) == []


def test_a_gpu_plugin_keeps_the_llvm_option_off(tmp_path):
    # the LLVM option reaches every backend (NVPTX too): with a CUDA plugin
    # importable, only the CPU ISA cap is set
    plugin = tmp_path / "jax_plugins" / "xla_cuda12"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    assert flags_after_import({}, [str(tmp_path)]) == [CAP]

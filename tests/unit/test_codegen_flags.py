"""The XLA:CPU ISA cap the package sets at import (neuralogcm_hpc/__init__.py)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CAP = "--xla_cpu_max_isa=AVX"

pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="the ISA cap is set on x86-64 only",
)


def flags_after_import(env_extra: dict) -> list[str]:
    """XLA_FLAGS as a fresh interpreter leaves them after ``import neuralogcm_hpc``."""
    env = dict(os.environ)
    for inherited in ("XLA_FLAGS", "NEURALOGCM_ALLOW_FMA"):
        env.pop(inherited, None)
    env.update(env_extra, PYTHONPATH=str(ROOT))
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


def test_default_caps_the_isa():
    assert flags_after_import({"XLA_FLAGS": "--xla_dump_to=/tmp/x"}) == [
        "--xla_dump_to=/tmp/x",
        CAP,
    ]


def test_flags_already_given_win():
    mine = ["--xla_cpu_max_isa=AVX2"]
    assert flags_after_import({"XLA_FLAGS": " ".join(mine)}) == mine


def test_allow_fma_opts_out():
    assert flags_after_import({"NEURALOGCM_ALLOW_FMA": "1"}) == []

"""GLORYS-layout files -> prepare -> train on 2 ranks -> evaluate (the documented
command of docs/real_data.md, scripts/real_data.sh)."""

import json
import math
import subprocess
import sys

import pytest

from neuralogcm_hpc.prepare import synthetic
from tests.integration.cli import ROOT, run_cli

EXAMPLE = ROOT / "docs" / "examples" / "glorys_small.toml"


def overrides(tmp_path) -> list[str]:
    """The example config with its paths moved into ``tmp_path``."""
    data = tmp_path / "data"
    return [
        "--set",
        f"prepare.sources={tmp_path / 'raw'}/*.nc",
        "--set",
        f"train.data={data}",
        "--set",
        f"grid.bathymetry={data / 'grid.zarr'}",
    ]


@pytest.mark.slow  # measured 30 min on 2 cores at load 20-35 (PE compiles dominate)
def test_glorys_files_to_trained_evaluated_hybrid_on_2_ranks(tmp_path):
    synthetic.write(tmp_path / "raw", days=16)
    sets = overrides(tmp_path)
    prepare = subprocess.run(
        [
            sys.executable,
            "-m",
            "neuralogcm_hpc.prepare",
            "--config",
            str(EXAMPLE),
            *sets,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert prepare.returncode == 0, prepare.stderr
    run = tmp_path / "run"
    _, summary = run_cli(
        2,
        "train",
        "--config",
        str(EXAMPLE),
        *sets,
        "--checkpoint-dir",
        str(run),
        timeout=1500,
    )
    assert summary["steps"] == 2 and math.isfinite(summary["loss"])
    skill = json.loads((run / "skill.json").read_text())
    assert skill["lead_days"] == [1.0, 2.0, 3.0]
    for label in ("physics", "hybrid", "persistence", "climatology"):
        for name in ("u", "v", "temp", "salt", "ssh"):
            assert all(math.isfinite(r) for r in skill[label][name]["rmse"])
        # per depth: one RMSE per model level at each lead
        assert [len(r) for r in skill[label]["temp"]["rmse_levels"]] == [4, 4, 4]
    # the synthetic wave moves: persistence is wrong, and worse at longer leads
    assert (
        0
        < skill["persistence"]["temp"]["rmse"][0]
        < skill["persistence"]["temp"]["rmse"][-1]
    )
    for png in ("skill.png", "skill_levels.png"):
        assert (run / png).stat().st_size > 0

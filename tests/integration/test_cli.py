"""The command line contract: SUMMARY, rank invariance, clear errors on every rank."""

import subprocess

import pytest

from tests.integration.cli import ROOT, TINY, run_cli


def test_readme_run_command_runs_the_default_case_on_4_ranks(tmp_path):
    """The README's main job (the shipped hybrid on the 40 km gyre), shortened to
    30 days, with its quick-look plots."""
    import os

    out = tmp_path / "default.zarr"
    proc = subprocess.run(
        ["bash", "scripts/run_default.sh", "--days", "30"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "OUT": str(out)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SUMMARY ") == 1  # rank 0 only
    from tests.integration.cli import summary_of

    summary = summary_of(proc.stdout)
    assert summary["ranks"] == 4 and summary["simulated_days"] == 30
    assert summary["case"] == "eddying_gyre" and summary["trained_params"]
    for key in ("wall_seconds", "decomposition"):
        assert key in summary
    assert (out / "zarr.json").is_file()
    for png in ("maps.png", "timeseries.png", "eke.png"):
        assert (tmp_path / "default_plots" / png).stat().st_size > 1000


def test_same_problem_on_1_2_4_ranks_is_bit_identical():
    digests = {
        n: run_cli(n, *TINY, "--steps", "20")[1]["state_sha256"] for n in (1, 2, 4)
    }
    assert len(set(digests.values())) == 1, digests


def test_rank_count_that_does_not_divide_the_grid_fails_on_every_rank():
    proc, summary = run_cli(3, *TINY, "--steps", "5", check=False)
    assert proc.returncode != 0 and summary is None
    errors = [x for x in proc.stderr.splitlines() if "DecompositionError" in x]
    assert sorted(x.split(":")[2].strip() for x in errors) == [
        "rank 0/3",
        "rank 1/3",
        "rank 2/3",
    ]
    assert "3 ranks cannot tile the 32 x 16 grid" in errors[0]
    assert "rank counts that fit" in errors[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "grid.nx=abc"], "grid.nx must be an integer, got 'abc'"),
        (["--set", "grid.nxx=4"], "unknown key(s) grid.nxx"),
        (
            ["--set", "time.integrator=leapfrog"],
            "time.integrator = 'leapfrog' is not one of",
        ),
        (["--config", "missing.toml"], "config file missing.toml does not exist"),
        (["--resume"], "--resume needs a checkpoint directory"),
        (
            ["--set", "decomposition.px=2", "--set", "decomposition.py=1"],
            "needs 2 ranks but the job has 1",
        ),
        (
            ["--set", "grid.halo=1", "--set", "physics.biharmonic=1e9"],
            "shallow water needs grid.halo >= 2",
        ),
        (["--days", "0.0001"], "is not a whole number of time steps"),
    ],
)
def test_bad_input_gets_a_one_line_reason_and_nonzero_exit(args, message):
    proc, _ = run_cli(1, *TINY, *args, check=False)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("neuralogcm_hpc: error: ") and message in last, last


def test_help_documents_every_option():
    proc = subprocess.run(
        [__import__("sys").executable, "-m", "neuralogcm_hpc.run", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    for option in (
        "--case",
        "--config",
        "--set",
        "--steps",
        "--days",
        "--output",
        "--checkpoint-dir",
        "--resume",
        "simulate",
        "train",
    ):
        assert option in proc.stdout

"""Exact restart through the CLI: checkpoints, fresh processes, other rank counts."""

import random
import signal
import subprocess

import numpy as np
import pytest
import xarray as xr

from tests.integration.cli import ROOT, TINY, mpirun, run_cli, summary_of

STEPS = 20
OUT = ["--set", "output.every=5", "--set", "output.average_every=10"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 20-step run on one rank: final digest and output store."""
    path = tmp_path_factory.mktemp("reference") / "out.zarr"
    _, summary = run_cli(1, *TINY, *OUT, "--steps", str(STEPS), "--output", str(path))
    return summary["state_sha256"], path


def assert_same_output(path, reference_path):
    """Every variable of the two stores equal bit for bit, time axes included."""
    with xr.open_zarr(path) as got, xr.open_zarr(reference_path) as want:
        assert sorted(got.data_vars) == sorted(want.data_vars)
        for name in want.variables:
            np.testing.assert_array_equal(got[name].values, want[name].values, name)


@pytest.mark.parametrize(
    "first, second",
    [
        (1, 1),
        (4, 2),
        (2, 4),
        (4, 1),
        pytest.param(2, 2, marks=pytest.mark.slow),
        pytest.param(4, 4, marks=pytest.mark.slow),
    ],
)
def test_half_checkpoint_fresh_process_half_equals_uninterrupted(
    reference, tmp_path, first, second
):
    digest, reference_path = reference
    common = [
        *TINY,
        *OUT,
        "--output",
        str(tmp_path / "out.zarr"),
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
        "--steps",
        str(STEPS // 2),
    ]
    run_cli(first, *common)
    _, summary = run_cli(second, *common, "--resume")
    assert summary["step"] == STEPS and summary["state_sha256"] == digest
    assert_same_output(tmp_path / "out.zarr", reference_path)


def test_cold_start_into_a_used_checkpoint_directory_is_refused(tmp_path):
    args = [*TINY, "--checkpoint-dir", str(tmp_path), "--steps", "5"]
    run_cli(1, *args)
    proc, _ = run_cli(1, *args, check=False)
    assert proc.returncode == 2
    assert "already holds checkpoints" in proc.stderr and "--resume" in proc.stderr


def test_resume_without_any_valid_checkpoint_is_an_error(tmp_path):
    proc, _ = run_cli(
        1, *TINY, "--checkpoint-dir", str(tmp_path), "--resume", check=False
    )
    assert proc.returncode == 2 and "no valid checkpoint" in proc.stderr


def _start(ranks, tmp_path, steps):
    cmd = mpirun(ranks) + [
        "-m",
        "neuralogcm_hpc.run",
        *TINY,
        "--steps",
        str(steps),
        "--set",
        "checkpoint.every=5",
        "--set",
        "time.steps_per_call=1",
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
    ]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _resume_to(ranks, tmp_path, total):
    done = max(int(p.name.split("-")[1]) for p in (tmp_path / "ckpt").glob("ckpt-*"))
    return run_cli(
        ranks,
        *TINY,
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
        "--resume",
        "--steps",
        str(total - done),
    )[1]


@pytest.mark.parametrize("ranks", [1, 2])
def test_stop_signal_writes_a_final_checkpoint_and_resume_is_exact(tmp_path, ranks):
    proc = _start(ranks, tmp_path, 10_000)
    for line in proc.stdout:  # wait until the run is past its first checkpoint
        if "checkpoint" in line and "written" in line:
            break
    # Open MPI's mpirun forwards SIGUSR1 (Slurm's warning signal) to every rank but
    # ends the job on SIGTERM; a lone process gets SIGTERM, as from a scheduler.
    proc.send_signal(signal.SIGUSR1 if ranks > 1 else signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    summary = summary_of(output)
    stopped_at = summary["step"]
    assert summary["stopped_early"] and stopped_at >= 5
    assert (tmp_path / "ckpt" / f"ckpt-{stopped_at:012d}" / "manifest.json").is_file()
    # Five more steps from the final checkpoint equal an uninterrupted run.
    _, uninterrupted = run_cli(1, *TINY, "--steps", str(stopped_at + 5))
    resumed = _resume_to(1, tmp_path, stopped_at + 5)
    assert resumed["state_sha256"] == uninterrupted["state_sha256"]


@pytest.mark.parametrize("trial", range(2))
def test_sigkill_at_a_random_moment_then_resume_is_exact(reference, tmp_path, trial):
    """SIGKILL lands anywhere, often inside a checkpoint write (one every 5 steps,
    one step per call); the resumed run must still end on the reference state.
    tests/unit/test_crash_consistency.py repeats this 10+ times at the I/O level."""
    rng = random.Random(trial)
    proc = _start(2, tmp_path, STEPS)
    seen = 0
    for line in proc.stdout:
        seen += "written" in line
        if seen >= 1 + trial:
            break
    import time

    time.sleep(rng.uniform(0.0, 0.5))
    proc.kill()
    proc.wait(timeout=60)
    subprocess.run(["pkill", "-9", "-f", str(tmp_path)], check=False)
    assert not any(
        p.name.startswith("ckpt-") and not (p / "manifest.json").exists()
        for p in (tmp_path / "ckpt").iterdir()
    )
    summary = _resume_to(1, tmp_path, STEPS)
    assert summary["step"] == STEPS and summary["state_sha256"] == reference[0]


def test_primitive_equation_restart_on_another_rank_count_is_exact(tmp_path):
    """The 3-D model's checkpoint holds tiled fields and its scalar integrator
    memory (AB2's start flag, replicated): 1 rank for 4 steps, then 2 ranks for
    4 more equals 8 uninterrupted steps bitwise."""
    tiny_gyre = [
        "--case", "double_gyre", "--set", "grid.nx=16", "--set", "grid.ny=16",
        "--set", "grid.nz=4", "--set", "time.steps_per_call=2",
    ]  # fmt: skip
    _, want = run_cli(1, *tiny_gyre, "--steps", "8")
    common = [*tiny_gyre, "--checkpoint-dir", str(tmp_path / "ckpt"), "--steps", "4"]
    run_cli(1, *common)
    _, got = run_cli(2, *common, "--resume")
    assert got["step"] == 8 and got["state_sha256"] == want["state_sha256"]


def test_a_second_run_on_a_locked_directory_is_refused(tmp_path):
    """While one run holds the checkpoint directory, a second is refused with one
    line naming the holder, exit 2; the first run is unharmed."""
    proc = _start(1, tmp_path, 10_000)
    for line in proc.stdout:  # the lock is held from before the first step
        if "checkpoint" in line and "written" in line:
            break
    second, _ = run_cli(1, *TINY, "--checkpoint-dir", str(tmp_path / "ckpt"),
                        "--resume", "--steps", "5", check=False)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=300)
    assert second.returncode == 2
    errors = [x for x in second.stderr.splitlines() if "error" in x]
    assert len(errors) == 1 and f"pid {proc.pid}" in errors[0], second.stderr
    assert proc.returncode == 0, output


def test_a_fresh_run_replaces_an_output_store_only_with_overwrite(tmp_path):
    store = tmp_path / "out.zarr"
    args = [*TINY, "--steps", "5", "--output", str(store)]
    run_cli(1, *args)
    proc, _ = run_cli(1, *args, check=False)
    assert proc.returncode == 2 and "pass --overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    run_cli(1, *args, "--overwrite")


def test_a_failed_output_write_stops_the_run_and_resume_heals_it(reference, tmp_path):
    """A write that cannot land (a file where record 3's chunk directory must go)
    ends the resumed segment with one line, exit 2, before its checkpoint; the
    store keeps no hole; once the cause is gone, --resume ends on the reference
    state and store."""
    digest, reference_path = reference
    common = [*TINY, *OUT, "--output", str(tmp_path / "out.zarr"),
              "--checkpoint-dir", str(tmp_path / "ckpt")]
    run_cli(1, *common, "--steps", "10")
    blocker = tmp_path / "out.zarr" / "ssh" / "c" / "3"
    blocker.write_text("in the way")
    proc, _ = run_cli(1, *common, "--steps", "10", "--resume", check=False)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "ckpt" / f"ckpt-{STEPS:012d}").exists()
    with xr.open_zarr(tmp_path / "out.zarr") as ds:
        assert (np.diff(ds.step.values) > 0).all() and ds.step.values[-1] < 15
    blocker.unlink()
    _, summary = run_cli(1, *common, "--steps", "10", "--resume")
    assert summary["state_sha256"] == digest
    assert_same_output(tmp_path / "out.zarr", reference_path)

"""Exact restart through the CLI: checkpoints, fresh processes, other rank counts."""

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.integration.cli import (
    ROOT,
    TINY,
    kill_session,
    launch_session,
    mpirun,
    run_cli,
    session_pids,
    summary_of,
)

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


# A whole-job kill (node failure) at random moments: launcher and every rank in
# one SIGKILL, including inside checkpoint commits and background output writes
# (one step per call; output every 2 steps, means every 4, checkpoints every 4).
KILL_STEPS = 24
KILL_CASE = [
    *TINY, "--set", "time.steps_per_call=1", "--set", "output.every=2",
    "--set", "output.average_every=4", "--set", "checkpoint.every=4",
]  # fmt: skip
CI_TRIALS, SLOW_TRIALS = 2, 20


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The 2-rank kill case never killed: digest, store, and its count of log
    lines (the anchors a kill is timed from)."""
    path = tmp_path_factory.mktemp("uninterrupted")
    proc = launch_session(
        2, *KILL_CASE, "--steps", str(KILL_STEPS), "--output",
        str(path / "out.zarr"), "--checkpoint-dir", str(path / "ckpt"),
    )  # fmt: skip
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output
    anchors = sum(line.startswith("[") for line in output.splitlines())
    return summary_of(output)["state_sha256"], path / "out.zarr", anchors


def _next_segment(ckpt) -> list[str]:
    """What a user does after a crash (no --until-step here): resume for the
    remaining steps from the newest committed checkpoint, or, when the kill came
    before the first one, start afresh over the partial store (--overwrite)."""
    committed = ckpt.glob("ckpt-*")
    steps = [int(p.name[5:]) for p in committed if (p / "manifest.json").is_file()]
    if not steps:
        return ["--overwrite", "--steps", str(KILL_STEPS)]
    return ["--resume", "--steps", str(KILL_STEPS - max(steps))]


def _landed_in(ckpt, store, since: int, before: set[str]) -> str:
    """Where a kill landed, from what it left behind: a new checkpoint temporary
    directory, or output chunks newer than the segment's start (``since``, ns)
    for records beyond the committed time axis; else compute or start-up. A
    lower bound: a write that had not yet created a file counts as elsewhere."""
    if set(_temporaries(ckpt)) - before:
        return "checkpoint write"
    for axis in ("ssh", "ssh_mean"):
        meta = store / ("step" + axis[3:]) / "zarr.json"
        if not meta.is_file() or not (store / axis / "c").is_dir():
            continue
        committed = json.loads(meta.read_text())["shape"][0]
        # a file holds a block of records (a shard; the chunk grid is its shape)
        grid = json.loads((store / axis / "zarr.json").read_text())["chunk_grid"]
        block = grid["configuration"]["chunk_shape"][0]
        for record in (store / axis / "c").iterdir():
            if (int(record.name) + 1) * block > committed and any(
                f.stat().st_mtime_ns >= since for f in record.rglob("*") if f.is_file()
            ):
                return "output write"
    return "elsewhere" if (store / "zarr.json").is_file() else "start-up"


def _temporaries(ckpt) -> list[str]:
    return [p.name for p in ckpt.glob(".tmp-ckpt-*")] if ckpt.is_dir() else []


def _kill_at_random(args, ckpt, store, rng, anchors) -> tuple[str, bool]:
    """Run one segment and SIGKILL its whole session a random time after a
    random log line; returns the moment and where it landed, and whether the
    segment had already ended by itself (then nothing was killed)."""
    anchor, delay = rng.randrange(anchors + 1), rng.uniform(0.0, 1.5)
    before, since = set(_temporaries(ckpt)), time.time_ns()
    proc = launch_session(2, *args)
    seen, last = 0, ""
    while seen < anchor:
        line = proc.stdout.readline()
        if not line:  # the segment ended before the anchor
            break
        if line.startswith("["):
            seen, last = seen + 1, line.strip()
    time.sleep(delay)
    killed = kill_session(proc)
    proc.stdout.close()
    assert not session_pids(proc.pid)
    finished = killed == 0 and proc.returncode == 0
    where = _landed_in(ckpt, store, since, before)
    where = "nothing (it had ended)" if finished else where
    return (
        f"{' '.join(args[-3:])}: {killed} processes killed {delay:.2f} s after "
        f"log line {anchor} ({last[:60]!r}), landed in {where}"
    ), finished


@pytest.mark.parametrize(
    "trial",
    [
        *range(CI_TRIALS),
        *(
            pytest.param(t, marks=pytest.mark.slow)
            for t in range(CI_TRIALS, CI_TRIALS + SLOW_TRIALS)
        ),
    ],
)
def test_whole_job_sigkill_at_random_moments_then_resume_is_exact(
    uninterrupted, tmp_path, trial
):
    """A 2-rank job SIGKILLed whole (launcher and ranks, as on a node failure)
    one or more times at random moments, then resumed to the end (on 2 ranks, or
    on 1 for odd trials), ends on the uninterrupted run's state_sha256 with an
    identical output store (no duplicate, no missing record) and no lock left.
    tests/unit/test_crash_consistency.py kills inside the I/O code itself."""
    digest, reference_path, anchors = uninterrupted
    rng = random.Random(f"whole-job-kill-{trial}")
    ckpt, store = tmp_path / "ckpt", tmp_path / "out.zarr"
    common = [*KILL_CASE, "--output", str(store), "--checkpoint-dir", str(ckpt)]
    kills = 1 if trial < CI_TRIALS else rng.choice([1, 1, 2, 3])
    moments = []
    for _ in range(kills):
        args = [*common, *_next_segment(ckpt)]
        moment, finished = _kill_at_random(args, ckpt, store, rng, anchors)
        moments.append(moment)
        print(f"trial {trial}: {moment}")
        half = [p for p in ckpt.glob("ckpt-*") if not (p / "manifest.json").is_file()]
        assert not half, (moments, half)  # a ckpt-* is always complete
        if finished:
            break
    ranks = 1 + trial % 2
    proc, summary = run_cli(ranks, *common, *_next_segment(ckpt), check=False)
    context = f"trial {trial}, kills: {moments}; final run on {ranks} rank(s)"
    assert proc.returncode == 0, f"{context}\n{proc.stdout}\n{proc.stderr}"
    assert summary["step"] == KILL_STEPS, context
    assert summary["state_sha256"] == digest, context
    with xr.open_zarr(store) as got:
        for axis in ("step", "step_mean"):
            assert (np.diff(got[axis].values) > 0).all(), (context, axis)
    assert_same_output(store, reference_path)
    assert not (ckpt / ".lock").exists() and not Path(f"{store}.lock").exists()


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
    # one record per file, so that a file can stand where record 3's must go
    common = [*TINY, *OUT, "--output", str(tmp_path / "out.zarr"),
              "--checkpoint-dir", str(tmp_path / "ckpt"),
              "--set", "output.records_per_block=1"]  # fmt: skip
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

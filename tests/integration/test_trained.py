"""Train through the CLI on 2 ranks, resume it, simulate with the trained model."""

import shutil

import pytest

from tests.integration.cli import run_cli

# The 16 x 8 channel of tests/unit/test_training.py (identical-twin data, no
# refinement or spin-up): 2 ranks tile it 2 x 1, the corrector (depth 2) fits the
# halo. Four optimisation steps (the schedule's length), checkpoints every 2; no
# test-set evaluation.
GRID = ["--case", "beta_plane", "--set", "grid.nx=16", "--set", "grid.ny=8",
        "--set", "grid.dx=25e3", "--set", "grid.dy=25e3", "--set", "time.dt=300",
        "--set", "time.integrator=heun", "--set", "time.steps_per_call=5"]
TRAIN = [f"--set=train.{kv}" for kv in (
    "refine=1", "fine_viscosity_factor=1", "spinup=0", "trajectory_length=4",
    "trajectories=1,1,1", "rollout=2", "batch=1", "width=4", "depth=2",
    "warmup_steps=0", "output_init_scale=1", "steps=4", "checkpoint_every=2",
    "eval_leads=")]


# Generous limits: a compile-bound run needs ~30 s of CPU but many times that in
# wall time on a shared, oversubscribed 2-core machine.
def train(ranks, data, ckpt, *extra):
    return run_cli(ranks, "train", *GRID, *TRAIN, "--set", f"train.data={data}",
                   "--checkpoint-dir", str(ckpt), *extra, timeout=900)[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two optimisation steps on 1 rank (the run also generates the data)."""
    root = tmp_path_factory.mktemp("trained")
    summary = train(1, root / "data", root / "ckpt", "--steps", "2")
    assert summary["steps"] == 2
    return root


def simulate(ranks, *extra, check=True):
    return run_cli(ranks, "simulate", *GRID, *extra, check=check, timeout=900)


def test_simulate_with_trained_params_resumed_on_2_ranks_equals_1_rank(trained,
                                                                      tmp_path):
    # The corrector is tile-local and the physics rank-invariant, so the hybrid's
    # state is bit-identical on any rank count: 5 steps on 1 rank, then a fresh
    # 2-rank process resuming from the checkpoint for 5 more, equals 10 steps on
    # 1 rank in one go.
    params = ["--params", str(trained / "ckpt")]
    _, whole = simulate(1, *params, "--steps", "10")
    assert whole["trained_params"]["checkpoint"] == "ckpt-000000000002"
    _, physics = simulate(1, "--steps", "10")
    assert physics["state_sha256"] != whole["state_sha256"]  # the hybrid ran
    ckpt = ["--checkpoint-dir", str(tmp_path / "sim"), "--steps", "5"]
    simulate(1, *params, *ckpt)
    proc, _ = simulate(1, *ckpt, "--resume", check=False)
    assert proc.returncode == 2
    assert f"pass --params {trained / 'ckpt'}" in proc.stderr
    _, resumed = simulate(2, *params, *ckpt, "--resume")
    assert resumed["step"] == 10 and resumed["decomposition"] == [2, 1]
    assert resumed["state_sha256"] == whole["state_sha256"]


@pytest.mark.slow  # three 2-rank trainings, ~3 min CPU
def test_two_rank_training_stopped_and_resumed_equals_uninterrupted(trained,
                                                                    tmp_path):
    # A fresh process rebuilds data reader, statistics, network and optimiser
    # from the config and continues from the checkpoint's parameters, optimiser
    # state and data position: parameters and loss agree bit for bit.
    data = trained / "data"
    whole = train(2, data, tmp_path / "whole")
    assert train(2, data, tmp_path / "parts", "--steps", "2")["steps"] == 2
    resumed = train(2, data, tmp_path / "parts", "--resume")
    assert resumed["steps"] == whole["steps"] == 4
    assert resumed["params_sha256"] == whole["params_sha256"]
    assert resumed["loss"] == whole["loss"]


def test_simulate_params_errors_name_the_problem_and_the_fix(trained, tmp_path):
    proc, _ = simulate(1, "--set", "grid.nx=32", "--params", str(trained / "ckpt"),
                       check=False)
    assert proc.returncode == 2
    assert "grid.nx=16 (this run: 32)" in proc.stderr
    assert "--set grid.nx=16" in proc.stderr
    proc, _ = simulate(1, "--params", str(tmp_path / "nowhere"), check=False)
    assert proc.returncode == 2 and "no such directory" in proc.stderr
    # a flipped byte in the network's weights of every kept checkpoint: named,
    # and none is used
    broken = tmp_path / "broken"
    shutil.copytree(trained / "ckpt", broken)
    chunks = [p for p in broken.glob("ckpt-*/replicated/network.00000/c/**/*")
              if p.is_file()]
    assert chunks
    for chunk in chunks:
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
    proc, _ = simulate(1, "--params", str(broken), check=False)
    assert proc.returncode == 2 and "no checkpoint verifies" in proc.stderr
    assert "array 'network.00000'" in proc.stderr

"""Launch scripts: exact dry-run commands; chain logic run against a stub model."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch"


def run(args, env=None, check=True, **kwargs):
    full_env = {**os.environ, **(env or {})}
    for name in ("DRY_RUN", "SLURM_JOB_ID", "CHAIN_SEGMENT", "CONTAINER", "RUN_ARGS",
                 "SBATCH_ARGS", "SRUN_MPI"):
        if env is None or name not in env:
            full_env.pop(name, None)
    out = subprocess.run(
        [str(a) for a in args], env=full_env, capture_output=True, text=True,
        timeout=120, **kwargs,
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out


def words(line: str) -> list[str]:
    return shlex.split(line)


# -- dry runs: the exact commands --------------------------------------------
def test_mpirun_dry_run_openmpi_flags():
    out = run(
        [LAUNCH / "mpirun.sh", "-n", "64", "--dry-run", "simulate", "--steps", "3"],
        env={"MPI_FLAVOUR": "openmpi", "MPIRUN": "mpirun", "PYTHON": "py"},
    )
    cmd = words(out.stdout)
    root = ["--allow-run-as-root"] if os.getuid() == 0 else []
    # 64 ranks exceed the cores of any CI machine, so --oversubscribe is added.
    assert cmd == ["mpirun", *root, "--oversubscribe", "-n", "64", "py", "-m",
                   "mpi4py", "-m", "neuralogcm_hpc.run", "simulate", "--steps", "3"]


def test_mpirun_dry_run_mpich_has_no_openmpi_flags():
    out = run(
        [LAUNCH / "mpirun.sh", "--", "--case", "a b"],
        env={"DRY_RUN": "1", "NP": "2", "MPI_FLAVOUR": "mpich", "MPIRUN": "mpiexec",
             "PYTHON": "py", "MPIRUN_ARGS": "-bind-to core"},
    )
    assert words(out.stdout) == ["mpiexec", "-bind-to", "core", "-n", "2", "py", "-m",
                                 "mpi4py", "-m", "neuralogcm_hpc.run", "--case", "a b"]


def test_mpirun_rejects_bad_rank_count():
    out = run([LAUNCH / "mpirun.sh", "-n", "zero", "--dry-run"], check=False)
    assert out.returncode == 2 and "positive integer" in out.stderr


def test_chain_local_dry_run():
    out = run(
        [LAUNCH / "chain_local.sh", "--days", "30", "--segment-steps", "100",
         "--checkpoint-dir", "ck", "-n", "2", "--dry-run", "--", "--case", "x"],
        env={"PYTHON": "py"},
    )
    first, note = out.stdout.splitlines()
    # Every segment is this one command: it resumes when ck holds a checkpoint.
    assert words(first) == ["env", "PYTHON=py", str(LAUNCH / "mpirun.sh"), "-n", "2",
                            "--", "simulate", "--until-days", "30", "--steps", "100",
                            "--checkpoint-dir", "ck", "--case", "x"]
    assert "target_reached" in note


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_slurm_dry_run(kind, tmp_path):
    (tmp_path / "ckpt-000000001000").mkdir()  # resumed or not: the same command
    env = {"DRY_RUN": "1", "TARGET_DAYS": "365", "SEGMENT_STEPS": "1000",
           "CHECKPOINT_DIR": str(tmp_path), "RUN_ARGS": "--case c --output o.zarr",
           "SLURM_JOB_ID": "4242", "CHAIN_SEGMENT": "3", "NEURALOGCM_HOME": str(ROOT),
           "PYTHON": "py"}
    script = LAUNCH / f"slurm_{kind}.sbatch"
    srun, note, sbatch = run(["bash", script], env=env).stdout.splitlines()
    assert words(srun) == ["srun", "--kill-on-bad-exit=1", "--mpi=pmix", "py", "-m",
                           "mpi4py", "-m",
                           "neuralogcm_hpc.run", "simulate", "--until-days", "365",
                           "--steps", "1000", "--checkpoint-dir", str(tmp_path),
                           "--case", "c", "--output", "o.zarr"]
    assert "SIGUSR1" in note and "target_reached" in note
    assert words(sbatch) == ["sbatch", "--dependency=afterany:4242",
                             "--export=ALL,CHAIN_SEGMENT=4", str(script)]
    text = script.read_text()
    assert "#SBATCH --signal=B:USR1@300" in text
    assert ("#SBATCH --gpus-per-task=1" in text) == (kind == "gpu")


def test_slurm_dry_run_srun_mpi_plugin_can_be_chosen():
    # Open MPI 5 (PyPI wheel) needs PMIx; a site MPI may need another plugin.
    env = {"DRY_RUN": "1", "TARGET_DAYS": "1", "SEGMENT_STEPS": "5",
           "CHECKPOINT_DIR": "ck", "NEURALOGCM_HOME": str(ROOT), "PYTHON": "py"}
    script = LAUNCH / "slurm_cpu.sbatch"
    for value, option in (("pmi2", ["--mpi=pmi2"]), ("default", [])):
        srun = run(["bash", script], env={**env, "SRUN_MPI": value}).stdout
        cmd = words(srun.splitlines()[0])
        assert cmd[: 3 + len(option)] == ["srun", "--kill-on-bad-exit=1", *option, "py"]


def test_slurm_dry_run_passes_sbatch_args_to_the_resubmission():
    # Options on the first sbatch's command line replace the #SBATCH lines for that
    # job only; the chain must hand them to every later job (seen for real under a
    # local Slurm: the resubmitted job asked for the script's 32 tasks and pended).
    env = {"DRY_RUN": "1", "TARGET_DAYS": "1", "SEGMENT_STEPS": "5",
           "CHECKPOINT_DIR": "ck", "SLURM_JOB_ID": "7", "NEURALOGCM_HOME": str(ROOT),
           "SBATCH_ARGS": "--ntasks-per-node=2 --time=3:00 --signal=B:USR1@90"}
    script = LAUNCH / "slurm_cpu.sbatch"
    sbatch = run(["bash", script], env=env).stdout.splitlines()[2]
    assert words(sbatch) == ["sbatch", "--dependency=afterany:7",
                             "--ntasks-per-node=2", "--time=3:00",
                             "--signal=B:USR1@90", "--export=ALL,CHAIN_SEGMENT=2",
                             str(script)]


def test_slurm_dry_run_in_container():
    env = {"DRY_RUN": "1", "TARGET_DAYS": "1", "SEGMENT_STEPS": "5",
           "CHECKPOINT_DIR": "ck", "CONTAINER": "img.sif", "NEURALOGCM_HOME": str(ROOT)}
    srun = run(["bash", LAUNCH / "slurm_gpu.sbatch"], env=env).stdout.splitlines()[0]
    cmd = words(srun)
    assert cmd[:7] == ["srun", "--kill-on-bad-exit=1", "--mpi=pmix", "apptainer",
                       "exec", "--nv", "--bind"]
    assert cmd[8:13] == ["img.sif", "python3", "-m", "mpi4py", "-m"]


def test_slurm_requires_its_variables():
    out = run(["bash", LAUNCH / "slurm_cpu.sbatch"],
              env={"DRY_RUN": "1", "NEURALOGCM_HOME": str(ROOT)}, check=False)
    assert out.returncode == 2 and "TARGET_DAYS" in out.stderr


def test_apptainer_dry_run():
    out = run(
        [LAUNCH / "apptainer.sh", "-n", "2", "--gpu", "--dry-run", "m.sif", "--",
         "--steps", "7"],
        env={"MPIRUN": "mpirun", "MPI_FLAVOUR": "mpich", "BIND": "/scratch"},
        cwd="/tmp",
    )
    assert words(out.stdout) == ["mpirun", "-n", "2", "apptainer", "exec", "--nv",
                                 "--bind", "/tmp,/scratch", "--pwd", "/tmp", "m.sif",
                                 "python3", "-m", "mpi4py", "-m", "neuralogcm_hpc.run",
                                 "--steps", "7"]


# -- the chain logic against a stub model -------------------------------------
# The stub stands in for `python -m neuralogcm_hpc.run` and keeps the CLI contract
# of --until-days D --steps N: continue from the step saved in --checkpoint-dir
# (fresh when none), advance at most N steps of 0.25 day toward the first step at
# or after D days, nothing when there; SUMMARY reports the step reached.
STUB = r'''#!{python}
import json, math, os, sys
args = sys.argv[1:]
if args[:2] == ["-m", "mpi4py"]:
    args = args[2:]
if args[:2] != ["-m", "neuralogcm_hpc.run"]:
    os.execv({python!r}, [{python!r}] + sys.argv[1:])
args = args[2:]
ckpt = args[args.index("--checkpoint-dir") + 1]
steps = int(args[args.index("--steps") + 1])
target = math.ceil(float(args[args.index("--until-days") + 1]) / 0.25)
with open(os.path.join(os.path.dirname(ckpt), "calls.txt"), "a") as f:
    f.write(" ".join(args) + "\n")
state = os.path.join(ckpt, "step.json")
step = json.load(open(state))["step"] if os.path.exists(state) else 0
if os.environ.get("STUB_FAIL_AT") == str(step):
    print("stub: NaN in ssh", file=sys.stderr); sys.exit(3)
taken = 0 if os.environ.get("STUB_STALL") == "1" else min(steps, target - step)
step += max(taken, 0)
assert "--resume" not in args, "--until-days resumes by itself"
os.makedirs(os.path.join(ckpt, "ckpt-%012d" % step), exist_ok=True)
json.dump({{"step": step}}, open(state, "w"))
print("SUMMARY " + json.dumps({{"steps": max(taken, 0), "step": step,
                               "simulated_days": step * 0.25, "target_step": target,
                               "target_reached": step >= target}}))
'''


@pytest.fixture
def stub_python(tmp_path):
    path = tmp_path / "python"
    path.write_text(STUB.format(python=sys.executable))
    path.chmod(0o755)
    return path


def chain(tmp_path, stub_python, *extra, env=None):
    return run(
        [LAUNCH / "chain_local.sh", "--days", "10", "--segment-steps", "16",
         "--checkpoint-dir", tmp_path / "ck", *extra],
        env={"PYTHON": str(stub_python), **(env or {})}, check=False,
    )


def test_chain_local_runs_segments_to_the_target(tmp_path, stub_python):
    out = chain(tmp_path, stub_python)
    assert out.returncode == 0, out.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    # 10 days = 40 steps of 0.25 day: 16 + 16 + 8, the model stops at the target.
    assert len(calls) == 3 and len(set(calls)) == 1  # one command, repeated
    assert json.loads((tmp_path / "ck" / "step.json").read_text())["step"] == 40
    logs = sorted((tmp_path / "ck" / "logs").glob("segment-*.log"))
    assert [json.loads(p.read_text()[8:])["steps"] for p in logs] == [16, 16, 8]


def test_chain_local_run_again_after_the_target_does_nothing(tmp_path, stub_python):
    assert chain(tmp_path, stub_python).returncode == 0
    out = chain(tmp_path, stub_python)  # the same job script, resubmitted
    assert out.returncode == 0, out.stderr
    assert len((tmp_path / "calls.txt").read_text().splitlines()) == 4
    assert json.loads((tmp_path / "ck" / "step.json").read_text())["step"] == 40
    assert "segment 1 reached step 40" in out.stderr


def test_chain_local_stops_at_a_failing_segment(tmp_path, stub_python):
    out = chain(tmp_path, stub_python, env={"STUB_FAIL_AT": "16"})
    assert out.returncode == 3 and "segment 2 failed with status 3" in out.stderr


def test_chain_local_stops_when_no_progress(tmp_path, stub_python):
    out = chain(tmp_path, stub_python, env={"STUB_STALL": "1"})
    assert out.returncode == 1 and "did not advance" in out.stderr


def slurm_env(tmp_path, stub_python, srun_body):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(f"#!/usr/bin/env bash\n{srun_body}\n")
    (bin_dir / "sbatch").write_text(
        f'#!/usr/bin/env bash\necho "$@" >> {tmp_path}/sbatch.txt\n'
    )
    for tool in ("srun", "sbatch"):
        (bin_dir / tool).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TARGET_DAYS": "10",
            "SEGMENT_STEPS": "16", "CHECKPOINT_DIR": str(tmp_path / "ck"),
            "SLURM_JOB_ID": "100", "PYTHON": str(stub_python),
            "NEURALOGCM_HOME": str(ROOT)}


def test_slurm_segment_resubmits_until_target(tmp_path, stub_python):
    # The fake srun drops its options (--kill-on-bad-exit, --mpi), runs the command.
    env = slurm_env(tmp_path, stub_python,
                    'while [[ $1 == --* ]]; do shift; done; exec "$@"')
    script = LAUNCH / "slurm_cpu.sbatch"
    for _ in range(3):  # 16 + 16 + 8 steps: the third job reaches step 40
        run(["bash", script], env=env)
    lines = (tmp_path / "sbatch.txt").read_text().splitlines()
    expected = f"--dependency=afterany:100 --export=ALL,CHAIN_SEGMENT=2 {script}"
    assert lines == [expected] * 2
    # resubmitted by hand after the chain finished: no step, no further job
    run(["bash", script], env=env)
    assert (tmp_path / "sbatch.txt").read_text().splitlines() == lines
    assert json.loads((tmp_path / "ck" / "step.json").read_text())["step"] == 40


def sbatch_warned_after_1_s(env) -> str:
    """Run slurm_cpu.sbatch, send it Slurm's USR1 warning after 1 s; it must
    exit 0. Returns its stderr."""
    proc = subprocess.Popen(
        ["bash", str(LAUNCH / "slurm_cpu.sbatch")], env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(1.0)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_slurm_segment_signal_checkpoints_and_resubmits(tmp_path, stub_python):
    # srun that sleeps until the USR1 forwarded by the batch shell, then exits 143
    # like a killed model would; the chain must go on from the last checkpoint.
    env = slurm_env(tmp_path, stub_python,
                    "trap 'echo got-usr1 >&2; exit 143' USR1\n"
                    "for i in $(seq 300); do sleep 0.1; done")
    err = sbatch_warned_after_1_s(env)
    assert "got-usr1" in err and "checkpointing" in err
    assert "afterany:100" in (tmp_path / "sbatch.txt").read_text()


def test_slurm_segment_warning_after_the_target_ends_the_chain(tmp_path, stub_python):
    # The USR1 warning can come while the model finishes at its target (seen under a
    # real Slurm); the SUMMARY then says target_reached and no job is resubmitted.
    env = slurm_env(tmp_path, stub_python,
                    "trap 'echo got-usr1 >&2' USR1\n"
                    "for i in $(seq 20); do sleep 0.1; done\n"
                    'while [[ $1 == --* ]]; do shift; done; "$@"')
    env["SEGMENT_STEPS"] = "100"
    err = sbatch_warned_after_1_s(env)
    assert "got-usr1" in err and "chain done" in err
    assert not (tmp_path / "sbatch.txt").exists()


# -- the chain with the real model --------------------------------------------
def test_chain_local_real_model_is_restart_bit_identical(tmp_path, capsys):
    """Two chained segments give the same final state as one uninterrupted run."""
    from neuralogcm_hpc.run import main

    python = sys.executable
    small = "--set grid.nx=16 --set grid.ny=8 --set time.steps_per_call=2".split()
    # The uninterrupted reference runs in this process (one interpreter start less).
    assert main(["simulate", "--steps", "6", *small]) == 0
    reference = capsys.readouterr().out.split("SUMMARY ", 1)[1].splitlines()[0]
    summary = json.loads(reference)
    out = run(
        [LAUNCH / "chain_local.sh", "--days", repr(summary["simulated_days"]),
         "--segment-steps", "4", "--checkpoint-dir", tmp_path / "ck", "--", *small],
        env={"PYTHON": python},
    )
    logs = sorted((tmp_path / "ck" / "logs").glob("segment-*.log"))
    assert len(logs) == 2, out.stderr  # 4 + 2 steps
    last = logs[-1].read_text().split("SUMMARY ", 1)[1].splitlines()[0]
    assert json.loads(last)["state_sha256"] == summary["state_sha256"]

"""GPU placement from launcher environments, without GPUs (env and count injected)."""

import os
import subprocess
import sys

import pytest

from neuralogcm_hpc.parallel.devices import (
    DETERMINISTIC_FLAG,
    DeviceError,
    configure_devices,
    plan_devices,
)


@pytest.mark.parametrize(
    "launcher",
    [
        {"OMPI_COMM_WORLD_LOCAL_RANK": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"},
        {"MPI_LOCALRANKID": "2", "MPI_LOCALNRANKS": "4"},
        {"PMI_LOCAL_RANK": "2", "PMI_LOCAL_SIZE": "4"},
        {"SLURM_LOCALID": "2"},
    ],
    ids=["openmpi", "mpich-hydra", "pmi", "slurm"],
)
def test_each_launcher_binds_local_rank_to_its_gpu(launcher):
    plan = plan_devices(launcher, gpu_count=4)
    assert plan.platform == "gpu" and plan.local_rank == 2
    assert plan.env["CUDA_VISIBLE_DEVICES"] == "2"
    assert plan.env["MPI4JAX_USE_CUDA_MPI"] == "0"  # off unless asked
    assert "XLA_FLAGS" not in plan.env


def test_cpu_run_is_left_alone():
    plan = plan_devices({"OMPI_COMM_WORLD_LOCAL_RANK": "1"}, gpu_count=0)
    assert plan.platform == "cpu" and plan.env == {}


def test_forced_cpu_hides_gpus_from_jax():
    plan = plan_devices({"NEURALOGCM_DEVICE": "cpu"}, gpu_count=8)
    assert plan.platform == "cpu" and plan.env == {"JAX_PLATFORMS": "cpu"}


def test_existing_visible_list_is_indexed_by_local_rank():
    env = {"CUDA_VISIBLE_DEVICES": "4,5,6,7", "OMPI_COMM_WORLD_LOCAL_RANK": "3"}
    assert plan_devices(env, gpu_count=0).gpu == "7"
    uuids = {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb", "SLURM_LOCALID": "1"}
    assert plan_devices(uuids).gpu == "GPU-bb"


def test_slurm_per_task_binding_is_trusted():
    # srun --gpus-per-task=1 under cgroups: every task sees its own GPU as "0".
    env = {"SLURM_LOCALID": "3", "CUDA_VISIBLE_DEVICES": "0"}
    plan = plan_devices(env)
    assert plan.gpu == "0" and plan.env["CUDA_VISIBLE_DEVICES"] == "0"


@pytest.mark.parametrize(
    "env",
    [
        {"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"},
        {"MPI_LOCALRANKID": "2"},
        {"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "3",
         "CUDA_VISIBLE_DEVICES": "0,1"},
    ],
)
def test_more_ranks_than_gpus_is_a_clear_error(env):
    with pytest.raises(DeviceError, match=r"ranks on this node but 2 GPU") as err:
        plan_devices(env, gpu_count=2)
    assert "one rank per GPU" in str(err.value)


def test_gpu_requested_but_absent():
    with pytest.raises(DeviceError, match="no GPU is visible"):
        plan_devices({"NEURALOGCM_DEVICE": "gpu", "CUDA_VISIBLE_DEVICES": "-1"})


def test_cuda_aware_mpi_and_deterministic_switches():
    env = {
        "NEURALOGCM_CUDA_AWARE_MPI": "1",
        "NEURALOGCM_DETERMINISTIC": "true",
        "XLA_FLAGS": "--xla_gpu_deterministic_ops=false --xla_dump_to=/tmp/x",
    }
    plan = plan_devices(env, gpu_count=1)
    assert plan.cuda_aware_mpi and plan.deterministic
    assert plan.env["MPI4JAX_USE_CUDA_MPI"] == "1"
    # The user's other flags survive; a contradicting value is replaced.
    assert plan.env["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {DETERMINISTIC_FLAG}"
    assert "deterministic" in plan.describe()


def test_cuda_aware_mpi_on_cpu_is_refused():
    with pytest.raises(DeviceError, match="needs GPUs"):
        plan_devices({"NEURALOGCM_CUDA_AWARE_MPI": "1"}, gpu_count=0)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"NEURALOGCM_DEVICE": "tpu"}, "use auto, cpu or gpu"),
        ({"NEURALOGCM_DETERMINISTIC": "maybe"}, "use 1 or 0"),
        ({"SLURM_LOCALID": "x"}, "not a non-negative integer"),
    ],
)
def test_bad_switch_values(env, message):
    with pytest.raises(DeviceError, match=message):
        plan_devices(env, gpu_count=0)


def test_configure_exports_the_plan_into_the_given_env():
    env = {"SLURM_LOCALID": "1"}
    plan = configure_devices(env, gpu_count=2)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and plan.gpu == "1"


def test_configure_after_backend_start():
    # In a fresh interpreter: the backend reads CUDA_VISIBLE_DEVICES once, at start.
    # Changing nothing is fine (a CPU run, or run.main called twice); a change
    # (here a forced CPU) is refused.
    code = (
        "import os, jax; jax.devices()\n"
        "from neuralogcm_hpc.parallel.devices import configure_devices, DeviceError\n"
        "print(configure_devices().platform)\n"
        "os.environ['NEURALOGCM_DEVICE'] = 'cpu'\n"
        "try:\n    configure_devices()\nexcept DeviceError as e:\n    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEURALOGCM_")}
    env.pop("JAX_PLATFORMS", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**env, "CUDA_VISIBLE_DEVICES": ""},
    )
    first, second = out.stdout.splitlines()
    assert first == "cpu"
    assert "must set JAX_PLATFORMS but JAX has already initialised" in second

"""Bind each MPI rank to one GPU (or the CPU) before JAX starts its backend."""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
from collections.abc import Mapping, MutableMapping

# Environment switches read here (all optional; documented in docs/cluster.md).
DEVICE_VAR = "NEURALOGCM_DEVICE"  # auto | cpu | gpu
CUDA_MPI_VAR = "NEURALOGCM_CUDA_AWARE_MPI"  # 1 = GPU buffers go to MPI directly
DETERMINISTIC_VAR = "NEURALOGCM_DETERMINISTIC"  # 1 = deterministic XLA GPU kernels
DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"

# Node-local rank / size as exported by the launchers, most specific first:
# Open MPI (mpirun/prterun), MPICH/Hydra and Intel MPI, PMI-2 launchers, Slurm srun.
_LOCAL_RANK_VARS = (
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "PMI_LOCAL_RANK",
    "SLURM_LOCALID",
)
_LOCAL_SIZE_VARS = (
    "OMPI_COMM_WORLD_LOCAL_SIZE",
    "MPI_LOCALNRANKS",
    "PMI_LOCAL_SIZE",
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class DeviceError(RuntimeError):
    """Ranks and devices that cannot be matched one to one."""


@dataclasses.dataclass(frozen=True)
class DevicePlan:
    """Where this rank runs and which environment variables make it so.

    ``env`` holds the variables to export before JAX initialises its backend:
    ``CUDA_VISIBLE_DEVICES`` narrowed to this rank's GPU (so every rank sees its
    GPU as device 0), ``MPI4JAX_USE_CUDA_MPI`` and ``XLA_FLAGS``.
    """

    platform: str  # "cpu" or "gpu"
    local_rank: int
    local_size: int | None
    gpu: str | None  # the CUDA ordinal or UUID this rank uses
    cuda_aware_mpi: bool
    deterministic: bool
    env: dict[str, str]

    def describe(self) -> str:
        """One line for the run log."""
        if self.platform == "cpu":
            return f"local rank {self.local_rank}: CPU"
        mpi = "CUDA-aware MPI" if self.cuda_aware_mpi else "MPI via host copies"
        det = ", deterministic ops" if self.deterministic else ""
        return f"local rank {self.local_rank}: GPU {self.gpu} ({mpi}{det})"


def plan_devices(env: Mapping[str, str], gpu_count: int | None = None) -> DevicePlan:
    """Decide this rank's device from the launcher's environment (pure logic).

    ``gpu_count`` is the number of GPUs on the node when ``CUDA_VISIBLE_DEVICES``
    is unset; None probes ``/dev/nvidia<N>``. A scheduler that already narrowed
    ``CUDA_VISIBLE_DEVICES`` to one GPU per task (``srun --gpus-per-task=1``) is
    respected; a list of several GPUs is indexed by the node-local rank.
    """
    mode = env.get(DEVICE_VAR, "auto").strip().lower() or "auto"
    if mode not in ("auto", "cpu", "gpu"):
        raise DeviceError(f"{DEVICE_VAR}={mode!r}; use auto, cpu or gpu")
    local_rank = _first_int(env, _LOCAL_RANK_VARS, default=0)
    local_size = _first_int(env, _LOCAL_SIZE_VARS, default=None)
    cuda_mpi = _flag(env, CUDA_MPI_VAR)
    deterministic = _flag(env, DETERMINISTIC_VAR)
    gpus = _visible_gpus(env, gpu_count)

    if mode == "cpu" or (mode == "auto" and not gpus):
        if cuda_mpi:
            raise DeviceError(
                f"{CUDA_MPI_VAR}=1 needs GPUs, but this rank runs on the CPU; "
                f"unset it or run on a GPU node"
            )
        # CPU runs stay as they are, except that an explicit cpu request must
        # keep JAX from grabbing a GPU it happens to find.
        updates = {"JAX_PLATFORMS": "cpu"} if mode == "cpu" else {}
        return DevicePlan("cpu", local_rank, local_size, None, False, False, updates)
    if not gpus:
        raise DeviceError(
            f"{DEVICE_VAR}=gpu but no GPU is visible (CUDA_VISIBLE_DEVICES="
            f"{env.get('CUDA_VISIBLE_DEVICES', '<unset>')!r}, no /dev/nvidia*); "
            f"request GPUs from the scheduler (e.g. --gpus-per-task=1)"
        )
    # Under srun, a CUDA_VISIBLE_DEVICES with one entry was set per task by Slurm
    # (with cgroup confinement it reads "0" on every task), so it is trusted.
    bound = "SLURM_LOCALID" in env and "CUDA_VISIBLE_DEVICES" in env
    gpu = _pick(gpus, local_rank, local_size, bound)
    updates = {
        "CUDA_VISIBLE_DEVICES": gpu,
        "MPI4JAX_USE_CUDA_MPI": "1" if cuda_mpi else "0",
    }
    if deterministic:
        updates["XLA_FLAGS"] = _with_flag(env.get("XLA_FLAGS", ""), DETERMINISTIC_FLAG)
    return DevicePlan(
        "gpu", local_rank, local_size, gpu, cuda_mpi, deterministic, updates
    )


def configure_devices(
    env: MutableMapping[str, str] | None = None, gpu_count: int | None = None
) -> DevicePlan:
    """Plan this rank's device and export the plan; call before JAX starts.

    Importing jax is harmless, but once JAX has created a backend it has read
    CUDA_VISIBLE_DEVICES and XLA_FLAGS, and changing them no longer works: that is
    an error. A call that changes nothing (a CPU run, or a second call) is fine.
    """
    env = os.environ if env is None else env
    plan = plan_devices(env, gpu_count)
    changes = {k: v for k, v in plan.env.items() if env.get(k) != v}
    if changes and env is os.environ and _backend_started():
        raise DeviceError(
            f"configure_devices() must set {', '.join(sorted(changes))} but JAX "
            "has already initialised its backend; call it at the top of the entry "
            "point, before any JAX computation"
        )
    env.update(changes)
    return plan


def _pick(gpus: list[str], local_rank: int, local_size: int | None, bound: bool):
    if bound and len(gpus) == 1:
        return gpus[0]  # srun --gpus-per-task=1 gave this task its own GPU
    ranks = max(local_size or 0, local_rank + 1)
    if ranks > len(gpus):
        raise _mismatch(ranks, gpus)
    return gpus[local_rank]


def _mismatch(ranks: int, gpus: list[str]) -> DeviceError:
    return DeviceError(
        f"{ranks} ranks on this node but {len(gpus)} GPU(s) visible "
        f"({','.join(gpus)}); run one rank per GPU (mpirun -n {len(gpus)} per "
        f"node, or srun --ntasks-per-node={len(gpus)} --gpus-per-task=1), or set "
        f"{DEVICE_VAR}=cpu"
    )


def _visible_gpus(env: Mapping[str, str], gpu_count: int | None) -> list[str]:
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        # CUDA treats "", "-1" and Slurm's "NoDevFiles" as "no GPU".
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        if not ids or ids[0] in ("-1", "NoDevFiles"):
            return []
        return ids
    if gpu_count is None:
        gpu_count = len(glob.glob("/dev/nvidia[0-9]*"))
    return [str(i) for i in range(gpu_count)]


def _first_int(env: Mapping[str, str], names, default):
    for name in names:
        value = env.get(name, "").strip()
        if value:
            if not value.isdigit():
                raise DeviceError(f"{name}={value!r} is not a non-negative integer")
            return int(value)
    return default


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DeviceError(f"{name}={value!r}; use 1 or 0")


def _with_flag(flags: str, flag: str) -> str:
    name = flag.split("=")[0]
    kept = [f for f in flags.split() if f.split("=")[0] != name]
    return " ".join([*kept, flag])


def _backend_started() -> bool:
    bridge = sys.modules.get("jax._src.xla_bridge")
    # Private attribute: if a JAX release renames it we cannot tell, and say no.
    return bool(getattr(bridge, "_backends", None))

"""Which errors every rank raises alike (the job may end without an MPI abort)."""

from __future__ import annotations


def collective_errors() -> tuple[type[BaseException], ...]:
    """Errors that depend only on the config, the rank count, globally reduced
    health or a decision rank 0 took and broadcast: every rank raises the same one
    at the same point. Anything else may have hit one rank only, so that rank must
    abort the job rather than leave the others waiting in a collective forever."""
    from neuralogcm_hpc.config import ConfigError
    from neuralogcm_hpc.io.checkpoint import CheckpointError
    from neuralogcm_hpc.io.output_store import OutputError
    from neuralogcm_hpc.parallel.decomposition import DecompositionError
    from neuralogcm_hpc.physics.guard import StabilityError

    return (ConfigError, DecompositionError, StabilityError, CheckpointError,
            OutputError)

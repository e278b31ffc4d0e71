"""The only uses of private JAX / mpi4jax internals, each with its reason."""

from __future__ import annotations


def allow_mpi_in_remat() -> None:
    """Let ``jax.checkpoint`` recompute mpi4jax calls in the backward pass.

    Why private names: mpi4jax registers its ordered effect for control flow
    and custom_vjp, not for remat, and JAX 0.10 has no public API to add an
    effect to the remat registry; without it JAX refuses with "Effects not
    supported in partial-eval of checkpoint". Recomputing is safe here: the
    recomputed calls are halo sendrecvs, deterministic and paired, and every
    rank runs the same program, so each rank re-issues the same exchanges in
    the same order as its neighbours.

    ``tests/unit/test_jax_internals.py`` fails when a JAX or mpi4jax release
    renames these internals or makes the registration unnecessary.
    Idempotent; call it only in multi-rank jobs (it imports mpi4jax).
    """
    from jax._src import effects
    from mpi4jax._src.utils import OrderedMPIEffect

    effects.remat_allowed_effects.add_type(OrderedMPIEffect)


def mpi4jax_cpu_bridge():
    """mpi4jax's compiled CPU bridge module (its shared library is what MPI
    library the jitted calls use). Why private: mpi4jax 0.9 exposes neither the
    module nor the library it links; parallel/mpi_check.py reads both to refuse
    a bridge built against another MPI than mpi4py's. Imports mpi4jax."""
    from mpi4jax._src.xla_bridge import mpi_xla_bridge_cpu

    return mpi_xla_bridge_cpu

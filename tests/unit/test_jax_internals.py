"""The private-internals workaround in parallel/jax_internals.py still works and
is still needed (run in a fresh process: the registration is global and final)."""

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    import mpi4jax
    from mpi4py import MPI
    from neuralogcm_hpc.parallel.jax_internals import allow_mpi_in_remat

    def f(x):
        return jnp.sum(mpi4jax.allreduce(x * x, op=MPI.SUM, comm=MPI.COMM_SELF))

    grad = jax.grad(jax.checkpoint(f))
    try:
        grad(jnp.ones(3))
        print("NOT NEEDED")
    except NotImplementedError as e:
        assert "checkpoint" in str(e), e
        print("NEEDED")
    allow_mpi_in_remat()
    print("GRAD", grad(jnp.ones(3)).tolist())
    """
)


def test_remat_of_mpi_calls_needs_and_gets_the_registration():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # If this fails with NOT NEEDED, JAX/mpi4jax now allow MPI effects in remat:
    # delete parallel/jax_internals.py and its call in training/loss.py.
    assert "NEEDED" in out.stdout.splitlines()[0] and "NOT" not in out.stdout
    assert "GRAD [2.0, 2.0, 2.0]" in out.stdout


def test_mpi4jax_cpu_bridge_is_where_mpi_check_reads_it():
    from neuralogcm_hpc.parallel.jax_internals import mpi4jax_cpu_bridge

    bridge = mpi4jax_cpu_bridge()  # fails when an mpi4jax release moves it
    assert bridge.__file__.endswith(".so")

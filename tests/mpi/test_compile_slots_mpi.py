"""compile_concurrency: ranks of a node take turns to compile (no two of them
compile at once with one slot) and still compute the same thing."""

import itertools
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neuralogcm_hpc.parallel.compile_slots import limit_concurrent_compilation

pytestmark = pytest.mark.mpi


def test_one_slot_serialises_compilation_across_ranks(context):
    if context.size == 1:
        pytest.skip("turns need several ranks")
    intervals = []  # (start, end) of each of this rank's compilations

    def record(event, seconds, **_):
        if event.endswith("backend_compile_duration"):
            now = time.time()
            intervals.append((now - seconds, now))

    jax.monitoring.register_event_duration_secs_listener(record)
    lift = limit_concurrent_compilation(context, 1)
    try:
        context.barrier()
        # a program large enough to take a while to compile (~0.3-1 s): an
        # unrolled chain of distinct elementwise stages
        def chain(x):
            for k in range(60):
                x = jnp.sin(x * (1.0 + k / 100)) + jnp.cos(x[::-1] * k)
            return x

        got = jax.jit(chain)(jnp.arange(64.0))
    finally:
        lift()
    mine = [iv for iv in intervals if iv[1] - iv[0] > 0.01]
    assert mine, "the chain compiled on this rank"
    every = sorted(iv for part in context.allgather(mine) for iv in part)
    # one slot: each compilation starts after the previous one ended (all ranks
    # of this job share the machine's node); 5 ms of clock and event slack
    for (a0, a1), (b0, b1) in itertools.pairwise(every):
        assert b0 >= a1 - 0.005, f"compilations overlap: {a0, a1} and {b0, b1}"
    reference = np.asarray(jax.jit(chain)(jnp.arange(64.0)))
    np.testing.assert_array_equal(np.asarray(got), reference)

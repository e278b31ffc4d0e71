"""neuralogcm_hpc: distributed, differentiable, hybrid ocean GCM in JAX."""

import os

__version__ = "0.1.0"


def _forbid_fma_contraction() -> None:
    """Keep float64 results bit-identical across rank counts on x86-64 CPUs.

    XLA:CPU contracts a*b+c into fused multiply-adds inside a fusion, and which
    operations share a fusion depends on the tile shape and on where MPI calls cut
    the graph: measured here, 1 and 2 ranks then differ by ~1e-17 after one
    shallow-water step. Capping the instruction set at AVX (256-bit vectors, no
    FMA3) removes the contraction, and with it the difference. Must run before
    JAX creates its CPU backend; NEURALOGCM_ALLOW_FMA=1 opts out (faster on some
    CPUs, equal only to round-off across rank counts).
    """
    if os.environ.get("NEURALOGCM_ALLOW_FMA", "") in ("1", "true", "yes"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_max_isa" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_max_isa=AVX").strip()


_forbid_fma_contraction()

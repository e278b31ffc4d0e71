"""neuralogcm_hpc: distributed, differentiable, hybrid ocean GCM in JAX."""

import os
import platform

__version__ = "0.1.0"


def _forbid_fma_contraction() -> None:
    """Keep float64 results bit-identical across rank counts on x86-64 CPUs.

    XLA:CPU contracts a*b+c into fused multiply-adds inside a fusion, and which
    operations share a fusion depends on the tile shape and on where MPI calls cut
    the graph: measured here, 1 and 2 ranks then differ by ~1e-17 after one
    shallow-water step (with the cap lifted to AVX2, the 1/2/4-rank shallow-water
    tests fail). Capping the instruction set at AVX (256-bit vectors, no FMA3)
    removes the contraction, and with it the difference. Must run before JAX
    creates its CPU backend; NEURALOGCM_ALLOW_FMA=1 opts out (faster on some
    CPUs, equal only to round-off across rank counts); a cap already in
    XLA_FLAGS wins. Other CPUs keep XLA's defaults: the cap names x86 levels.
    """
    if os.environ.get("NEURALOGCM_ALLOW_FMA", "") in ("1", "true", "yes"):
        return
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_max_isa" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_max_isa=AVX").strip()


_forbid_fma_contraction()

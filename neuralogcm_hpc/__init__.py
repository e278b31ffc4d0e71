"""neuralogcm_hpc: distributed, differentiable, hybrid ocean GCM in JAX."""

import os
import platform

__version__ = "0.1.0"


def _configure_cpu_codegen() -> None:
    """XLA:CPU code generation on x86-64: no FMA contraction, 256-bit vectors.

    Bit-identity: XLA:CPU contracts a*b+c into fused multiply-adds inside a
    fusion, and which operations share a fusion depends on the tile shape and on
    where MPI calls cut the graph: measured here, 1 and 2 ranks then differ by
    ~1e-17 after one shallow-water step. Capping the instruction set at AVX
    (256-bit vectors, no FMA3) removes the contraction, and with it the
    difference (with the cap lifted to AVX2, the 1/2/4-rank shallow-water
    tests fail).

    Vector width: the cap makes LLVM tune for Sandy Bridge, whose cost model
    picks 4 float32 lanes instead of 8 when a loop's constant trip count leaves
    a longer scalar remainder with 8. The shallow-water tendency loops on
    180-wide tiles (2 ranks on the 360 x 180 beta plane: rows of 182) then ran
    2x slower per cell than on 176-wide tiles (float32, one core: 206 vs 103 us
    per step for the slow-u loop). Forcing 8 lanes removes the cliff (13.6 ->
    10.7 ns per cell update at 180 wide, 10.6 -> 10.1 at 360) and leaves float64
    unchanged (~21 ns). Vector width never changes an element's arithmetic
    (no FMA, no reassociation outside reductions). Not applied when a GPU
    plugin is installed: the option goes to every LLVM backend, NVPTX included.

    Must run before JAX creates its CPU backend. NEURALOGCM_ALLOW_FMA=1 opts out
    of both (full host ISA: faster on some CPUs, equal only to round-off across
    rank counts); flags already in XLA_FLAGS win.
    """
    if os.environ.get("NEURALOGCM_ALLOW_FMA", "") in ("1", "true", "yes"):
        return
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return  # the ISA cap names x86 levels; other CPUs keep XLA's defaults
    flags = os.environ.get("XLA_FLAGS", "").split()
    if not any(f.startswith("--xla_cpu_max_isa") for f in flags):
        flags.append("--xla_cpu_max_isa=AVX")
    if not _gpu_plugin_installed() and not any(
        f.startswith("--xla_backend_extra_options") for f in flags
    ):
        flags.append("--xla_backend_extra_options=-force-vector-width=8")
    os.environ["XLA_FLAGS"] = " ".join(flags)


def _gpu_plugin_installed() -> bool:
    """A CUDA or ROCm PJRT plugin is importable (jax_plugins.xla_cuda*/xla_rocm*)."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("jax_plugins")
    if spec is None or spec.submodule_search_locations is None:
        return False
    names = (m.name for m in pkgutil.iter_modules(spec.submodule_search_locations))
    return any(n.startswith(("xla_cuda", "xla_rocm")) for n in names)


_configure_cpu_codegen()

"""64-bit JAX is required: int64 step counters and guard keys, true float64."""

from __future__ import annotations

import jax


def enable_x64() -> None:
    """Turn on 64-bit JAX types for the whole process (the CLI does this first).

    Needed for every precision: the step counter (time = step x dt) and the
    guard's cell keys are int64 in float32 runs too; ``precision = float32``
    only sets the dtype of the fields and the grid.
    """
    jax.config.update("jax_enable_x64", True)


def require_x64(precision: str) -> None:
    """Refuse to build a model whose arithmetic JAX would silently downgrade.

    Without ``jax_enable_x64`` JAX stores float64 arrays as float32 and int64 as
    int32 (only a warning per array), so a ``precision = float64`` model would
    quietly run in float32 with a step counter that wraps after 2**31 steps.
    """
    from neuralogcm_hpc.config import ConfigError

    if not jax.config.jax_enable_x64:
        raise ConfigError(
            f"precision = {precision} needs 64-bit JAX (int64 step counter"
            + (", float64 fields" if precision == "float64" else "")
            + "): call jax.config.update('jax_enable_x64', True) (or "
            "neuralogcm_hpc.precision.enable_x64()) before building a model, or "
            "set JAX_ENABLE_X64=1"
        )

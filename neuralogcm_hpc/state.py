"""OceanState: the model state on one tile as an equinox Module (a PyTree)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp


class OceanState(eqx.Module):
    """Everything that affects the future of one tile's ocean.

    ``fields``: prognostic arrays by name ("u", "v", "ssh" [, "temp", "salt"]),
    tiles WITH halo, halos filled. ``memory``: integrator memory (e.g. the
    previous tendency of Adams-Bashforth 2; empty for Runge-Kutta), same layout.
    ``step``: int64 count of model steps taken (time = step * dt, never a summed
    float; needs ``jax_enable_x64``, else JAX stores it as int32).
    ``key``: PRNG key data (uint32[2], raw so it checkpoints as a plain array).
    """

    fields: dict[str, jax.Array]
    memory: dict
    step: jax.Array
    key: jax.Array

    @classmethod
    def create(
        cls, fields: dict[str, jax.Array], memory: dict | None = None, seed: int = 0
    ) -> OceanState:
        """A state at step 0 with a key from ``seed``."""
        return cls(
            fields=dict(fields),
            memory=dict(memory or {}),
            step=jnp.asarray(0, dtype=jnp.int64),
            key=jax.random.key_data(jax.random.key(seed)),
        )

    def time(self, dt: float) -> jax.Array:
        """Model time in seconds: step * dt."""
        return self.step * dt

    def replace(self, **changes) -> OceanState:
        """A copy with some of fields / memory / step / key replaced."""
        names = ("fields", "memory", "step", "key")
        unknown = set(changes) - set(names)
        if unknown:
            raise TypeError(f"OceanState has no {sorted(unknown)}; fields are {names}")
        return OceanState(**{n: changes.get(n, getattr(self, n)) for n in names})

"""Learnable, positive, bounded physical coefficients (viscosity, diffusivity)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class Positive(eqx.Module):
    """A coefficient kept in [lower, upper] (both > 0) by a bounded log map.

    value = exp(log lower + (log upper - log lower) * sigmoid(raw)).

    ``raw`` is the trainable leaf: a scalar (one global coefficient) or an array
    (a 2-D field of the tile interior, (ny_t, nx_t), or 3-D (nz, ny_t, nx_t)).
    Logarithmic because viscosities span decades (1 to 1e5 m2 s-1); the sigmoid
    bounds keep training inside physical limits without clipping (gradients stay
    smooth). Fields are stored WITHOUT halo so each cell has one owner and its
    gradient is not split between tiles; models fill halos when they use them.
    """

    raw: jax.Array
    lower: float = eqx.field(static=True)
    upper: float = eqx.field(static=True)

    @classmethod
    def from_value(
        cls,
        value,
        lower: float,
        upper: float,
        shape: tuple[int, ...] = (),
        dtype=jnp.float64,
    ) -> Positive:
        """The parameter whose value is ``value`` (scalar broadcast to ``shape``)."""
        if not 0 < lower < upper:
            raise ValueError(f"need 0 < lower < upper, got {lower}, {upper}")
        value = np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
        if np.any((value <= lower) | (value >= upper)):
            raise ValueError(
                f"coefficient {value.min()}..{value.max()} must lie strictly inside "
                f"({lower}, {upper}); change the config value or the bounds"
            )
        # On the host (numpy's float64 log): an eager jnp version compiled one
        # program per operation, 4 per coefficient, ~0.2 s of a PE start-up.
        s = (np.log(value) - math.log(lower)) / (math.log(upper) - math.log(lower))
        raw = np.log(s / (1 - s))
        return cls(raw=jnp.asarray(raw.astype(dtype)), lower=lower, upper=upper)

    def value(self) -> jax.Array:
        """The coefficient (same shape as ``raw``)."""
        lo, hi = math.log(self.lower), math.log(self.upper)
        return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(self.raw))

    @property
    def is_field(self) -> bool:
        return self.raw.ndim > 0


def coefficient(
    value: float,
    lower: float,
    upper: float,
    field_shape: tuple[int, ...] | None,
    dtype,
) -> Positive | None:
    """A learnable coefficient from a config value: None when ``value`` is 0
    (term switched off), a scalar when ``field_shape`` is None, else a field."""
    if value == 0:
        return None
    return Positive.from_value(value, lower, upper, field_shape or (), dtype)

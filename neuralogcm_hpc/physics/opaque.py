"""Hide a model's static arrays from XLA's simplifier, so every tile compiles alike."""

from __future__ import annotations

import copy
import dataclasses
import types

import equinox as eqx
import jax


def opaque_constants(model):
    """A shallow copy of ``model`` whose static arrays (its own, its Grids',
    level-grid namespaces' and eqx.Modules') pass through one
    ``optimization_barrier``; call it inside the traced step.

    A jitted step closes over the grid metrics, masks and forcing, and XLA
    embeds them as constants and simplifies with their VALUES: a constant that
    is the same everywhere (the masks of a tile away from the walls are all 1,
    the serial masks are not) becomes a scalar, and XLA then reassociates
    ``c1 * (x * c2)`` into ``x * (c1 c2)``, which rounds differently. Measured:
    beta_plane_small on 1 x 3 tiles of 8 rows, the middle tile's v differed
    from the serial run by ~1 ulp in 271 of its 1024 cells after one step, and
    the 20-step state_sha256 differed on 1 x 8, 4 x 4 and 8 x 8 ranks. Behind
    the barrier the values are unknown to the simplifier, so every tile's
    program does the arithmetic in the order the code writes it.
    """
    view = copy.copy(model)
    found: dict[int, jax.Array] = {}
    for value in vars(model).values():
        for leaf in _arrays(value):
            found.setdefault(id(leaf), leaf)
    keys = list(found)
    values = jax.lax.optimization_barrier([found[k] for k in keys])
    hidden = dict(zip(keys, values, strict=True))
    for name, value in vars(model).items():
        setattr(view, name, _rebuilt(value, hidden))
    return view


def _arrays(value) -> list:
    """The jax.Array leaves of a model attribute (eqx.Modules are dataclasses)."""
    if isinstance(value, jax.Array):
        return [value]
    if isinstance(value, eqx.Module):
        return [x for x in jax.tree.leaves(value) if isinstance(x, jax.Array)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return [x for f in fields for x in _arrays(getattr(value, f.name))]
    if isinstance(value, types.SimpleNamespace):
        return [x for item in vars(value).values() for x in _arrays(item)]
    return []


def _rebuilt(value, hidden: dict):
    """``value`` with its arrays replaced by their hidden twins (unchanged, not
    copied, if it holds none: the config, the decomposition, the halo)."""
    if not _arrays(value):
        return value
    if isinstance(value, jax.Array):
        return hidden[id(value)]
    if isinstance(value, eqx.Module):
        return jax.tree.map(lambda x: _rebuilt(x, hidden), value)
    if isinstance(value, types.SimpleNamespace):
        return types.SimpleNamespace(
            **{k: _rebuilt(v, hidden) for k, v in vars(value).items()}
        )
    fields = dataclasses.fields(value)
    return dataclasses.replace(
        value, **{f.name: _rebuilt(getattr(value, f.name), hidden) for f in fields}
    )

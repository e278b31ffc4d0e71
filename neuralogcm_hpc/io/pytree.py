"""PyTree (equinox modules, optax states, PRNG keys) <-> flat named numpy arrays."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np


def _is_array(leaf) -> bool:
    return isinstance(leaf, np.ndarray | np.generic | jax.Array)


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key
    )


def tree_to_arrays(prefix: str, tree) -> dict[str, np.ndarray]:
    """Array leaves of ``tree`` as ``{prefix.00000: array, ...}`` in leaf order.

    Non-array leaves (activation functions, Python scalars held as static config)
    are not stored: ``tree_from_arrays`` takes them from the template, so nothing
    loaded can carry code. Typed PRNG keys are stored as their raw key data.
    """
    leaves = [leaf for leaf in jax.tree_util.tree_leaves(tree) if _is_array(leaf)]
    return {
        f"{prefix}.{i:05d}": np.asarray(
            jax.random.key_data(leaf) if _is_key(leaf) else leaf
        )
        for i, leaf in enumerate(leaves)
    }


def tree_from_arrays(prefix: str, template, arrays: Mapping[str, np.ndarray]):
    """Rebuild ``template``'s structure with the arrays saved by ``tree_to_arrays``.

    Shapes and dtypes must match the template's leaves exactly (a checkpoint of a
    different network or optimiser is refused with the offending leaf named).
    """
    leaves, treedef = jax.tree_util.tree_flatten(template)
    stored = sorted(k for k in arrays if k.startswith(prefix + "."))
    count = sum(_is_array(leaf) for leaf in leaves)
    if len(stored) != count:
        raise ValueError(
            f"{prefix}: checkpoint holds {len(stored)} arrays, the model has {count}; "
            "was it written by a different network or optimiser configuration?"
        )
    out, index = [], 0
    for leaf in leaves:
        if not _is_array(leaf):
            out.append(leaf)
            continue
        name = f"{prefix}.{index:05d}"
        value = np.asarray(arrays[name])
        data = jax.random.key_data(leaf) if _is_key(leaf) else leaf
        if value.shape != data.shape or value.dtype != data.dtype:
            raise ValueError(
                f"{name}: checkpoint has {value.dtype}{list(value.shape)}, the model "
                f"expects {data.dtype}{list(data.shape)}"
            )
        if _is_key(leaf):
            value = jax.random.wrap_key_data(value, impl=jax.random.key_impl(leaf))
        elif isinstance(leaf, jax.Array):
            value = jnp.asarray(value)
        out.append(value)
        index += 1
    return jax.tree_util.tree_unflatten(treedef, out)

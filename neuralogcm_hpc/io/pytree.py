"""The one PyTree <-> named-array serialiser (states, parameters, optimisers, keys).

Simulation checkpoints, training checkpoints and shipped parameter sets all
store pytrees through ``tree_to_arrays`` and read them back with
``tree_from_arrays``; nothing else flattens a pytree into stored names.

Two naming schemes, fixed per use so stored files stay readable:
``"index"`` names leaves ``prefix.00000``, ``prefix.00001``, ... in leaf order
(parameters and optimiser states: the structure comes from the model's
template, names carry no meaning); ``"path"`` names them by their keys,
``prefix.slow.u`` (integrator memory, whose names a reader can check).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np


def _is_array(leaf) -> bool:
    return isinstance(leaf, np.ndarray | np.generic | jax.Array)


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(
        leaf.dtype, jax.dtypes.prng_key
    )


def named_leaves(prefix: str, tree, names: str = "index") -> list[tuple[str, object]]:
    """(stored name, leaf) of every array leaf of ``tree``, in leaf order."""
    if names not in ("index", "path"):
        raise ValueError(f"names must be 'index' or 'path', not {names!r}")
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    arrays = [(path, leaf) for path, leaf in flat if _is_array(leaf)]
    if names == "index":
        return [(f"{prefix}.{i:05d}", leaf) for i, (_, leaf) in enumerate(arrays)]
    return [(".".join([prefix, *map(_key_name, path)]), leaf) for path, leaf in arrays]


def _key_name(key) -> str:
    return str(getattr(key, "key", getattr(key, "idx", getattr(key, "name", key))))


def tree_to_arrays(prefix: str, tree, names: str = "index") -> dict[str, np.ndarray]:
    """Array leaves of ``tree`` as ``{stored name: numpy array}``.

    Non-array leaves (activation functions, Python scalars held as static config)
    are not stored: ``tree_from_arrays`` takes them from the template, so nothing
    loaded can carry code. Typed PRNG keys are stored as their raw key data.
    """
    return {
        name: np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
        for name, leaf in named_leaves(prefix, tree, names)
    }


def tree_from_arrays(
    prefix: str, template, arrays: Mapping[str, np.ndarray], names: str = "index"
):
    """Rebuild ``template``'s structure with the arrays saved by ``tree_to_arrays``.

    Every array leaf must be stored under its name with the template leaf's exact
    shape and dtype (a checkpoint of a different network or optimiser is refused
    with the offending leaf named); ``arrays`` may hold other prefixes too.
    """
    wanted = named_leaves(prefix, template, names)
    stored = {k for k in arrays if k.startswith(prefix + ".")}
    extra = stored - {name for name, _ in wanted}
    missing = [name for name, _ in wanted if name not in arrays]
    if missing or extra:
        raise ValueError(
            f"{prefix}: checkpoint holds {len(stored)} arrays, the model has "
            f"{len(wanted)} (missing {missing[:3]}, unexpected {sorted(extra)[:3]}); "
            "was it written by a different network or optimiser configuration?"
        )
    values = iter(wanted)
    leaves, treedef = jax.tree_util.tree_flatten(template)
    out = []
    for leaf in leaves:
        if not _is_array(leaf):
            out.append(leaf)
            continue
        name, _ = next(values)
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
    return jax.tree_util.tree_unflatten(treedef, out)


def split(
    arrays: Mapping[str, np.ndarray], tiled: Callable[[np.ndarray], bool]
) -> tuple[dict, dict]:
    """``arrays`` divided into (tiled, replicated): a checkpoint stores tiled
    arrays (fields on the grid) per tile and replicated ones once."""
    on_tiles, once = {}, {}
    for name, value in arrays.items():
        (on_tiles if tiled(value) else once)[name] = value
    return on_tiles, once

"""Training checkpoints (params, optimiser, data position); loading trained models."""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.config import from_dict
from neuralogcm_hpc.io.checkpoint import Checkpointer
from neuralogcm_hpc.model import HybridModel, HybridParams
from neuralogcm_hpc.neural.corrector import Normaliser

FORMAT = "neuralogcm_hpc-training-1"


def _split(prefix: str, tree, tiled_leaf) -> tuple[dict, dict]:
    """Array leaves as ``{prefix.00000: array}``: per-tile leaves (physics fields,
    interior tiles) and replicated leaves (everything else) separately."""
    tiled, replicated = {}, {}
    for i, leaf in enumerate(jax.tree.leaves(tree)):
        name = f"{prefix}.{i:05d}"
        (tiled if tiled_leaf(leaf) else replicated)[name] = np.asarray(leaf)
    return tiled, replicated


def _join(prefix: str, template, arrays: dict):
    leaves, treedef = jax.tree.flatten(template)
    out = []
    for i, leaf in enumerate(leaves):
        name = f"{prefix}.{i:05d}"
        if name not in arrays:
            raise ValueError(f"checkpoint lacks {name}: it was written by a different "
                             "model, network or optimiser configuration")
        value = np.asarray(arrays[name])
        if value.shape != leaf.shape or value.dtype != leaf.dtype:
            raise ValueError(f"{name}: checkpoint has {value.dtype}{list(value.shape)}"
                             f", the model expects {leaf.dtype}{list(leaf.shape)}")
        out.append(jnp.asarray(value))
    return jax.tree.unflatten(treedef, out)


def _field(leaf) -> bool:
    return np.ndim(leaf) >= 2


def _parts(params: HybridParams, opt_state) -> list[tuple[str, object, object]]:
    """(prefix, tree, is-tiled-leaf) for everything a training checkpoint holds."""
    never = lambda _: False  # noqa: E731
    return [
        ("physics", eqx.filter(params.physics, eqx.is_array), _field),
        ("network", eqx.filter(params.corrector, eqx.is_array), never),
        ("opt_network", opt_state[0], never),
        ("opt_physics", opt_state[1], _field),
    ]


def save(ckpt: Checkpointer, step: int, params: HybridParams, opt_state,
         config) -> Path:
    """Collective: every rank passes its tile fields; replicated leaves once."""
    tiled, replicated = {}, {}
    for prefix, tree, is_tiled in _parts(params, opt_state):
        t, r = _split(prefix, tree, is_tiled)
        tiled.update(t)
        replicated.update(r)
    meta = {"format": FORMAT, "data_position": int(step), "seed": config.seed,
            "config": json.loads(config.to_json())}
    return ckpt.save(step, tiled, replicated, meta)


def restore(restored, params: HybridParams, opt_state):
    """(params, opt_state, step) from a Restored checkpoint, shaped like the
    templates ``params`` / ``opt_state`` (this run's tiles)."""
    if restored.metadata.get("format") != FORMAT:
        raise ValueError(f"{restored.path} is not a training checkpoint")
    arrays = {**restored.tiled, **restored.replicated}
    trees = {p: _join(p, tree, arrays) for p, tree, _ in _parts(params, opt_state)}
    physics = eqx.combine(trees["physics"], params.physics)
    net = None
    if params.corrector is not None:
        net = eqx.combine(trees["network"], params.corrector)
    step = int(restored.metadata["data_position"])
    opt_state = (trees["opt_network"], trees["opt_physics"])
    return HybridParams(physics, net), opt_state, step


def load_trained(path: str | Path, model, context) -> tuple[HybridModel, HybridParams]:
    """The hybrid model and trained parameters from a training checkpoint directory
    (the newest checkpoint there that verifies), for ``model``'s grid and tiling.

    The network's shape, coupling and cadence come from the checkpoint's stored
    config, so ``simulate`` needs only the physics config and this path.
    """
    ckpt = Checkpointer(path, model.decomposition, context)
    restored = ckpt.load_latest(required=True)
    if restored.metadata.get("format") != FORMAT:
        raise ValueError(f"{restored.path} is not a training checkpoint (format "
                         f"{restored.metadata.get('format')!r})")
    t = from_dict(restored.metadata["config"]).train
    hybrid = HybridModel(model, t.cadence, t.coupling)
    state = model.initial_state()
    channels = sum(levels for _, levels in hybrid.levels(state))
    dtype = state.fields[hybrid.names[0]].dtype
    c_in = channels + len(hybrid.forcing)
    norm = Normaliser(jnp.zeros(c_in, dtype), jnp.ones(c_in, dtype),
                      jnp.ones(channels, dtype))  # shapes only; values restored
    template = hybrid.init_params(model.default_params(), jax.random.key(0),
                                  t.width, t.depth, norm, 0.0, t.use_corrector)
    arrays = {**restored.tiled, **restored.replicated}
    physics = eqx.combine(
        _join("physics", eqx.filter(template.physics, eqx.is_array), arrays),
        template.physics)
    net = None
    if template.corrector is not None:
        net = eqx.combine(
            _join("network", eqx.filter(template.corrector, eqx.is_array), arrays),
            template.corrector)
    return hybrid, HybridParams(physics, net)

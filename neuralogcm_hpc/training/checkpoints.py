"""Training checkpoints: parameters, optimiser state and data position."""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import numpy as np

from neuralogcm_hpc.io import pytree
from neuralogcm_hpc.io.checkpoint import Checkpointer
from neuralogcm_hpc.model import HybridParams
from neuralogcm_hpc.trained import FORMAT


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
        t, r = pytree.split(pytree.tree_to_arrays(prefix, tree), is_tiled)
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
    trees = {
        p: pytree.tree_from_arrays(p, tree, arrays)
        for p, tree, _ in _parts(params, opt_state)
    }
    physics = eqx.combine(trees["physics"], params.physics)
    net = None
    if params.corrector is not None:
        net = eqx.combine(trees["network"], params.corrector)
    step = int(restored.metadata["data_position"])
    opt_state = (trees["opt_network"], trees["opt_physics"])
    return HybridParams(physics, net), opt_state, step

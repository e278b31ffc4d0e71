"""A trained hybrid model opened from a training checkpoint, ready to simulate."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from neuralogcm_hpc import pretrained
from neuralogcm_hpc.config import ConfigError, from_dict, to_dict
from neuralogcm_hpc.io import pytree
from neuralogcm_hpc.io.checkpoint import COMMITTED, Checkpointer, CheckpointError
from neuralogcm_hpc.io.storage import sha256_file
from neuralogcm_hpc.model import HybridModel, HybridParams
from neuralogcm_hpc.neural.corrector import Normaliser

# the metadata "format" of a training checkpoint (training/checkpoints.py writes it)
FORMAT = "neuralogcm_hpc-training-1"


def load_trained(path: str | Path, model, context) -> tuple[HybridModel, HybridParams]:
    """``(hybrid, params)`` of ``open_trained``."""
    trained = open_trained(path, model, context)
    return trained.hybrid, trained.params


@dataclasses.dataclass(frozen=True)
class Trained:
    """A trained hybrid model ready to step, and where it came from.

    ``source``: path, checkpoint name, training case and the sha256 of the
    checkpoint's manifest (which holds the sha256 of every array), so a resumed
    simulation can tell whether it is given the same parameters again.
    """

    hybrid: HybridModel
    params: HybridParams
    source: dict


# What the trained physics parameters and corrector were fitted to: the grid, the
# discrete core (mode, time step, integrator, parameter layout) and the arithmetic.
# A simulation that differs in any of them would run a model never trained.
MUST_MATCH = ("precision", "physics.mode", "physics.learn_fields", "time.dt",
              "time.integrator")


def open_trained(path: str | Path, model, context) -> Trained:
    """The hybrid model and trained parameters of a training checkpoint, for
    ``model``'s grid and tiling (any rank count; collective).

    ``path``: the directory ``train`` wrote its checkpoints to (its newest
    checkpoint that verifies is used) or one ``ckpt-*`` directory inside it. The
    network's shape, coupling and cadence come from the checkpoint's stored
    config, so ``simulate`` needs only the physics config and this path. Errors
    (ConfigError / CheckpointError, raised on every rank) name the problem and
    the fix: a missing path, no verifying checkpoint, not a training checkpoint,
    or a grid / core that differs from ``model.config``. A bare name of a
    shipped set (neuralogcm_hpc/pretrained/) stands for its directory.
    """
    path = pretrained.resolve(path)
    if not context.bcast(path.is_dir()):
        raise ConfigError(f"--params {path}: no such directory; pass the directory "
                          "that `train --checkpoint-dir` wrote (or a ckpt-* in it)")
    # rank 0 looks, all ranks follow (file systems may differ between nodes)
    single = context.bcast(
        bool(COMMITTED.match(path.name)) and (path / "manifest.json").exists())
    ckpt = Checkpointer(path.parent if single else path, model.decomposition, context)
    names = [path.name] if single else [p.name for p in ckpt.committed()]
    names = context.bcast(names)
    if not names:
        raise ConfigError(f"--params {path} holds no checkpoint (ckpt-*): train with "
                          f"--checkpoint-dir {path} first")
    problems = []
    for name in names:  # newest first; corrupt ones are named and skipped
        found = ckpt.verify(ckpt.directory / name)
        if not found:
            break
        problems.append(f"{name}: {'; '.join(found)}")
    else:
        raise CheckpointError(f"--params {path}: no checkpoint verifies ("
                              f"{' | '.join(problems)}); retrain or use an intact copy")
    chosen = ckpt.directory / name
    meta = json.loads((chosen / "metadata.json").read_text())["metadata"]
    if meta.get("format") != FORMAT:
        raise ConfigError(f"--params {chosen} is not a training checkpoint (format "
                          f"{meta.get('format')!r}); pass the directory that "
                          "`train --checkpoint-dir` wrote")
    trained = meta["config"]
    diffs = mismatches(trained, model.config)
    if diffs:
        fixes = " ".join(f"--set {k}={want}" for k, want, _ in diffs)
        raise ConfigError(
            f"--params {chosen} was trained on case {trained.get('case')} with "
            + ", ".join(f"{k}={want} (this run: {have})" for k, want, have in diffs)
            + f"; simulate with the training settings ({fixes}) or train on this "
            "configuration")
    restored = ckpt.load(name)
    t = from_dict(trained).train
    hybrid = HybridModel.from_config(model, t)
    template = _template(hybrid, t)
    arrays = {**restored.tiled, **restored.replicated}
    try:
        physics = eqx.combine(
            pytree.tree_from_arrays(
                "physics", eqx.filter(template.physics, eqx.is_array), arrays),
            template.physics)
        net = None
        if template.corrector is not None:
            net = eqx.combine(
                pytree.tree_from_arrays(
                    "network", eqx.filter(template.corrector, eqx.is_array), arrays),
                template.corrector)
    except ValueError as error:
        raise ConfigError(f"--params {chosen}: {error}") from error
    source = {"path": str(path), "checkpoint": name, "case": trained.get("case"),
              "manifest_sha256": sha256_file(chosen / "manifest.json")}
    return Trained(hybrid, HybridParams(physics, net), source)


def mismatches(trained: dict, config) -> list[tuple[str, object, object]]:
    """(key, trained value, this config's value) of every MUST_MATCH / grid
    setting that differs between a stored training config and ``config``. A
    setting newer than the stored config counts with its default (what the
    training ran with, since the code had no other value then)."""
    want = dict(_flat(to_dict(from_dict(trained))))
    have = dict(_flat(to_dict(config)))
    keys = [k for k in have if k.startswith("grid.") or k in MUST_MATCH]
    return [(k, want.get(k), have[k]) for k in keys if want.get(k) != have[k]]


def _flat(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _template(hybrid: HybridModel, t) -> HybridParams:
    """Parameters shaped like the trained ones (values are restored over them)."""
    model = hybrid.model
    state = model.initial_state()
    levels = hybrid.levels(state)
    channels = sum(n for _, n in levels)
    c_out = sum(n for _, n in hybrid.adapter.outputs(levels))
    dtype = state.fields[hybrid.names[0]].dtype
    c_in = channels + len(hybrid.forcing)
    norm = Normaliser(jnp.zeros(c_in, dtype), jnp.ones(c_in, dtype),
                      jnp.ones(c_out, dtype))
    return hybrid.init_params(model.default_params(), jax.random.key(0), t.width,
                              t.depth, norm, 0.0, t.use_corrector)

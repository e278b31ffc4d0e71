"""A resumed run's config against its checkpoint's: what may change, what may not."""

from __future__ import annotations

import shlex
from typing import Any

from neuralogcm_hpc.config import ConfigError

# Settings a resumed `simulate` may change: they decide how the run is carried out
# (compilation cache, output and checkpoint cadence, segment length, steps per
# jitted call, tiling), never the solution - the same steps give the same state
# bit for bit whatever their values (tests/integration/test_restart.py,
# test_cli.py). train.* does not enter a simulation: a hybrid run's model comes
# from --params and is matched by the sha256 of the training checkpoint's
# manifest instead.
SIMULATE_FREE = (
    "compilation_cache",
    "compile_concurrency",
    "output.",
    "checkpoint.",
    "decomposition.",
    "time.steps",
    "time.steps_per_call",
    "train.",
    "prepare.",
)
# `train --resume`: the optimiser's schedule, data, network and loss must match;
# the length of the run and the cadence of logs, checks and checkpoints may not.
# prepare.* only says how train.data was made (its stores carry that provenance).
TRAIN_FREE = (
    "compilation_cache",
    "compile_concurrency",
    "output.",
    "checkpoint.",
    "decomposition.",
    "time.steps",
    "time.steps_per_call",
    "train.steps",
    "train.log_every",
    "train.validate_every",
    "train.checkpoint_every",
    "train.check_every",
    "train.eval_leads",
    "prepare.",
)

ALLOW_FLAG = "--allow-config-change"


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """``{"grid": {"nx": 1}}`` -> ``{"grid.nx": 1}``."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(
    saved: dict, current: dict, free: tuple[str, ...] = SIMULATE_FREE
) -> list[tuple[str, Any, Any]]:
    """(key, checkpoint's value, run's value) for each setting outside ``free``
    that differs; a key only one side has (another code version) differs too."""
    was, now = flatten(saved), flatten(current)
    out = []
    for key in sorted(set(was) | set(now)):
        if _is_free(key, free) or was.get(key, _ABSENT) == now.get(key, _ABSENT):
            continue
        out.append((key, was.get(key, _ABSENT), now.get(key, _ABSENT)))
    return out


def check_resume(
    saved: dict,
    current: dict,
    where: str,
    *,
    allow: bool = False,
    free: tuple[str, ...] = SIMULATE_FREE,
    log=print,
) -> list[tuple[str, Any, Any]]:
    """Refuse (ConfigError) a resume from ``where`` whose solution-changing
    settings differ from the checkpoint's, naming each and the ``--set`` that
    restores it; with ``allow`` log them and go on. Returns the differences."""
    diff = differences(saved, current, free)
    if not diff:
        return diff
    listed = "; ".join(
        f"{key}: checkpoint {_show(was)}, this run {_show(now)}"
        for key, was, now in diff
    )
    if allow:
        log(f"{ALLOW_FLAG}: resuming {where} with changed settings: {listed}")
        return diff
    restore = " ".join(
        "--set " + shlex.quote(f"{key}={_text(was)}")
        for key, was, _ in diff
        if was is not _ABSENT
    )
    raise ConfigError(
        f"{where} was written with other settings that change the solution: "
        f"{listed}. Pass {restore or 'the original settings'} to continue that run, "
        f"or {ALLOW_FLAG} to change them deliberately"
    )


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def _is_free(key: str, free: tuple[str, ...]) -> bool:
    return any(key == f or (f.endswith(".") and key.startswith(f)) for f in free)


def _show(value) -> str:
    return repr(value) if isinstance(value, str) else _text(value)


def _text(value) -> str:
    """The value as ``--set`` parses it back (bools as true/false)."""
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else repr(value)

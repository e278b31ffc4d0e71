"""Named cases: their default configs, and build_model dispatching on physics.mode."""

from __future__ import annotations

from collections.abc import Callable

from neuralogcm_hpc.cases import (
    beta_plane,
    double_gyre,
    eddying_gyre,
    global_ocean,
    williamson2,
)
from neuralogcm_hpc.config import Config, ConfigError
from neuralogcm_hpc.parallel.context import ParallelContext, get_context

# case name -> its default Config (grid, physics, time, ...)
CASES: dict[str, Callable[[], Config]] = {
    "beta_plane": beta_plane.config,
    "beta_plane_small": beta_plane.small_config,
    "williamson2": williamson2.config,
    "double_gyre": double_gyre.config,  # primitive-equation mode
    "global": global_ocean.config,  # primitive-equation mode
    "eddying_gyre": eddying_gyre.config,
}

# case name -> callable(config, explicitly set dotted keys) -> config with the
# settings that follow from others (e.g. grid spacing from grid.nx) filled in
DERIVED: dict[str, Callable[[Config, set[str]], Config]] = {
    "eddying_gyre": eddying_gyre.derived,
}

DEFAULT_CASE = "beta_plane_small"

# physics.initial -> callable(config) -> global initial fields (shallow water)
SHALLOW_WATER_INITIAL: dict[str, Callable | None] = {
    "rest": None,
    "jet": beta_plane.jet,
    "bump": beta_plane.bump,
    "williamson2": williamson2.exact,
    "noise": eddying_gyre.noise,
}


def case_config(name: str) -> Config:
    """The default Config of case ``name``."""
    if name not in CASES:
        raise ConfigError(f"unknown case {name!r}; known cases: {', '.join(CASES)}")
    return CASES[name]()


def with_derived(config: Config, explicit: set[str]) -> Config:
    """``config`` with its case's derived settings filled in (where not in
    ``explicit``, the dotted keys the user set); other cases pass unchanged."""
    derive = DERIVED.get(config.case)
    return derive(config, explicit) if derive else config


def build_model(config: Config, context: ParallelContext | None = None):
    """The physics model for ``config.physics.mode`` on this rank."""
    context = context or get_context()
    mode = config.physics.mode
    if mode == "shallow_water":
        from neuralogcm_hpc.physics.shallow_water import ShallowWaterModel

        initial = SHALLOW_WATER_INITIAL[config.physics.initial]
        return ShallowWaterModel(config, context, initial=initial)
    if mode == "primitive":
        return global_ocean.build_primitive(config, context)
    raise ConfigError(
        f"physics.mode {mode!r} has no model; choose shallow_water or primitive"
    )

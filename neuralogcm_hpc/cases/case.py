"""What a case file declares: its defaults and the global fields a run starts from."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from neuralogcm_hpc.config import Config

Fields = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Case:
    """A named set-up. Each module in ``neuralogcm_hpc/cases/`` declares its
    cases in a module-level ``CASES`` tuple (and any shallow-water initial
    conditions it offers in ``INITIAL_CONDITIONS``); the registry finds them,
    so adding a case is adding one file.

    ``config``: the default Config (grid, physics, time, ...).
    ``bathymetry(config)``: global resting depth (ny, nx) [m], 0 on land;
    None = a flat ``grid.depth`` closed only by the domain's walls.
    ``initial(config)``: global initial fields of a primitive-equation run
    (names of ``PrimitiveModel.prognostic_names``; missing ones take the core's
    default stratification at rest); shallow-water runs start from
    ``physics.initial``, one of the registry's named initial conditions.
    ``forcing``: the primitive core's analytic surface forcing, ``basin``
    (double-gyre wind, SST restored linearly south to north) or ``global``
    (zonal-mean wind, SST/SSS profiles in latitude).
    ``derived(config, explicit)``: settings that follow from others (e.g. grid
    spacing from grid.nx), filled in where the user did not set them.
    ``reads``: dotted settings only this case's functions read (e.g. the
    global case's ``grid.bathymetry``); any other case refuses a non-default
    value of them instead of ignoring it.
    """

    name: str
    config: Callable[[], Config]
    bathymetry: Callable[[Config], np.ndarray] | None = None
    initial: Callable[[Config], Fields] | None = None
    forcing: str = "basin"
    derived: Callable[[Config, set[str]], Config] | None = None
    reads: tuple[str, ...] = ()

"""The case registry: every module here declares its cases; build_model uses them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from neuralogcm_hpc.cases.case import Case
from neuralogcm_hpc.config import Config, ConfigError, changed_settings
from neuralogcm_hpc.parallel.context import ParallelContext, get_context

DEFAULT_CASE = "beta_plane_small"


def _discover() -> tuple[dict[str, Case], dict[str, Callable | None]]:
    """Every case and named shallow-water initial condition declared by a module
    of this package (``CASES``, ``INITIAL_CONDITIONS``); a name declared twice
    is an error, not a silent override."""
    cases: dict[str, Case] = {}
    initials: dict[str, Callable | None] = {"rest": None}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for case in getattr(module, "CASES", ()):
            if case.name in cases:
                raise RuntimeError(f"case {case.name!r} is declared twice")
            cases[case.name] = case
        for name, build in getattr(module, "INITIAL_CONDITIONS", {}).items():
            if name in initials:
                raise RuntimeError(f"initial condition {name!r} is declared twice")
            initials[name] = build
    return cases, initials


CASES, INITIAL_CONDITIONS = _discover()


def get_case(name: str) -> Case:
    if name not in CASES:
        raise ConfigError(f"unknown case {name!r}; known cases: {', '.join(CASES)}")
    return CASES[name]


def case_config(name: str) -> Config:
    """The default Config of case ``name``."""
    return get_case(name).config()


def with_derived(config: Config, explicit: set[str]) -> Config:
    """``config`` with its case's derived settings filled in (where not in
    ``explicit``, the dotted keys the user set); other cases pass unchanged."""
    derive = get_case(config.case).derived
    return derive(config, explicit) if derive else config


def check_case(config: Config) -> Config:
    """Refuse a config the registry cannot build: an unknown case or initial
    condition (ConfigError naming the known ones), or a setting that only
    another case reads, changed from its default."""
    case = get_case(config.case)
    for other in CASES.values():
        foreign = sorted(set(other.reads) - set(case.reads))
        for key, value, _ in changed_settings(config, foreign):
            raise ConfigError(
                f"{key} = {value!r} is read by case {other.name} only; case "
                f"{case.name} would ignore it: remove it or use --case {other.name}"
            )
    if config.physics.mode == "shallow_water":
        initial = config.physics.initial
        if initial not in INITIAL_CONDITIONS:
            raise ConfigError(
                f"physics.initial = {initial!r} is not one of "
                f"{', '.join(INITIAL_CONDITIONS)}"
            )
    return config


def build_model(config: Config, context: ParallelContext | None = None):
    """The physics core for ``config.physics.mode`` on this rank, with the
    bathymetry, initial state and forcing that ``config.case`` declares."""
    context = context or get_context()
    case = get_case(check_case(config).case)
    depth = case.bathymetry(config) if case.bathymetry else None
    mode = config.physics.mode
    if mode == "shallow_water":
        from neuralogcm_hpc.physics.shallow_water import ShallowWaterModel

        initial = INITIAL_CONDITIONS[config.physics.initial]
        return ShallowWaterModel(config, context, depth, initial)
    if mode == "primitive":
        from neuralogcm_hpc.physics.primitive import PrimitiveModel

        return PrimitiveModel(config, context, depth, case.initial, case.forcing)
    raise ConfigError(
        f"physics.mode {mode!r} has no model; choose shallow_water or primitive"
    )

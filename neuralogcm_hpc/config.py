"""Typed, frozen configuration tree with units, one-line docs and validation."""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration value that is missing, unknown or out of range."""


def setting(default, doc: str, units: str = "", choices: tuple = ()):
    """A config field with its one-line doc, units and (optional) allowed values."""
    return dataclasses.field(
        default=default, metadata={"doc": doc, "units": units, "choices": choices}
    )


@dataclasses.dataclass(frozen=True)
class GridConfig:
    kind: str = setting(
        "beta_plane", "horizontal grid geometry", choices=("beta_plane", "sphere")
    )
    nx: int = setting(360, "cells along x (longitude)")
    ny: int = setting(180, "cells along y (latitude)")
    nz: int = setting(1, "vertical levels (1 = shallow water)")
    dx: float = setting(5e3, "cell width on a beta plane", "m")
    dy: float = setting(5e3, "cell height on a beta plane", "m")
    lon_west: float = setting(0.0, "western edge on the sphere", "degree_east")
    lon_east: float = setting(360.0, "eastern edge on the sphere", "degree_east")
    lat_south: float = setting(-80.0, "southern edge on the sphere", "degree_north")
    lat_north: float = setting(80.0, "northern edge on the sphere", "degree_north")
    depth: float = setting(100.0, "resting depth of a flat-bottom ocean", "m")
    periodic_x: bool = setting(True, "periodic along x (zonally periodic ocean)")
    periodic_y: bool = setting(False, "periodic along y (else walls north/south)")
    halo: int = setting(2, "halo width in cells; must cover the widest stencil")
    dz_surface: float = setting(
        0.0,
        "top level thickness; levels grow geometrically below it to the deepest "
        "bathymetry (0 = nz equal levels)",
        "m",
    )
    coastlines: str = setting(
        "globe",
        "land of the `global` case: globe = real coastlines (global-land-mask, "
        "cells more than half land), or idealised continents",
        choices=("idealised", "globe"),
    )
    bathymetry: str = setting(
        "",
        "Zarr store with the resting depth `bathymetry` (y, x) on this grid, e.g. "
        "prepare's grid.zarr (empty = the case's own)",
    )


@dataclasses.dataclass(frozen=True)
class DecompositionConfig:
    px: int = setting(0, "tiles along x; 0 chooses px x py from the rank count")
    py: int = setting(0, "tiles along y; 0 chooses px x py from the rank count")


@dataclasses.dataclass(frozen=True)
class TimeConfig:
    dt: float = setting(60.0, "model time step", "s")
    steps: int = setting(100, "model steps to run (overridden by --steps/--days)")
    steps_per_call: int = setting(
        50, "model steps fused into one jitted call (fewer host round trips)"
    )
    integrator: str = setting(
        "rk3",
        "shallow-water time integrator (fb_ab3: forward-backward gravity waves + "
        "Adams-Bashforth 3, one tendency and one exchange per step); primitive mode "
        "has its own scheme and accepts only the default",
        choices=("euler", "heun", "ab2", "rk3", "rk4", "fb_ab3"),
    )


@dataclasses.dataclass(frozen=True)
class PhysicsConfig:
    mode: str = setting(
        "shallow_water",
        "equations solved",
        choices=("shallow_water", "primitive"),
    )
    gravity: float = setting(9.81, "gravitational acceleration", "m s-2")
    f0: float = setting(1e-4, "Coriolis parameter at the reference latitude", "s-1")
    beta: float = setting(2e-11, "meridional gradient of f on a beta plane", "m-1 s-1")
    viscosity: float = setting(
        100.0, "horizontal Laplacian viscosity (0 = off)", "m2 s-1"
    )
    diffusivity: float = setting(100.0, "horizontal tracer diffusivity", "m2 s-1")
    biharmonic: float = setting(
        0.0,
        "horizontal biharmonic viscosity (0 = off; needs grid.halo >= 2)",
        "m4 s-1",
    )
    learn_fields: bool = setting(
        False,
        "learnable viscosity as a 2-D field per cell (else one global scalar)",
    )
    drag: float = setting(0.0, "linear bottom drag rate (shallow water)", "s-1")
    wind_stress: float = setting(
        0.0,
        "peak zonal wind stress, tau_x = -tau0 cos(2 pi y / Ly) (shallow water)",
        "N m-2",
    )
    initial: str = setting(
        "jet",
        "shallow-water initial condition: rest, or one a case module declares "
        "(jet, bump: beta_plane; williamson2; noise: eddying_gyre)",
    )
    ic_amplitude: float = setting(
        1.0, "ssh drop across the jet / height of the bump (shallow water)", "m"
    )
    ic_width: float = setting(50e3, "jet half-width / bump radius (shallow water)", "m")
    substeps: int = setting(
        1, "physics sub-steps per model step (each of time.dt / substeps)"
    )
    cfl_limit: float = setting(
        1.0,
        "stability guard limit on (|u| + sqrt(g h)) dt_sub / dx; the run stops above",
    )
    # primitive-equation mode (physics-pe): also uses viscosity, diffusivity
    # (horizontal), wind_stress, substeps (baroclinic steps per model step), cfl_limit
    pe_eos: str = setting(
        "linear", "equation of state (primitive)", choices=("linear", "jmfwg06")
    )
    pe_alpha: float = setting(2e-4, "linear EOS thermal expansion", "K-1")
    pe_beta: float = setting(7.6e-4, "linear EOS haline contraction", "psu-1")
    pe_vertical_viscosity: float = setting(1e-4, "vertical viscosity", "m2 s-1")
    pe_vertical_diffusivity: float = setting(1e-5, "vertical diffusivity", "m2 s-1")
    pe_convective_diffusivity: float = setting(
        10.0, "vertical diffusivity where N^2 < 0 (convection; 0 = off)", "m2 s-1"
    )
    pe_shear_viscosity: float = setting(
        0.0,
        "Pacanowski-Philander shear mixing: vertical viscosity at Ri = 0, added "
        "to the background, nu0 / (1 + 5 Ri)^2 (tracers / (1 + 5 Ri)^3; 0 = off)",
        "m2 s-1",
    )
    pe_bottom_drag: float = setting(1e-3, "quadratic bottom drag coefficient Cd")
    pe_tidal_speed: float = setting(
        0.05, "background speed in the bottom drag Cd (|u| + u_tide)", "m s-1"
    )
    pe_barotropic_substeps: int = setting(
        20, "barotropic sub-steps per baroclinic step (split-explicit free surface)"
    )
    pe_restore_days: float = setting(
        30.0, "surface T/S restoring time scale of the top level (0 = off)", "day"
    )
    forcing: str = setting(
        "",
        "primitive mode: Zarr store of forcing records (taux, tauy, temp_star, "
        "salt_star on (time, y, x)), linear in time; empty = analytic forcing",
    )
    pe_sst_south: float = setting(25.0, "restoring SST at the southern wall", "degC")
    pe_sst_north: float = setting(5.0, "restoring SST at the northern wall", "degC")
    pe_salt0: float = setting(35.0, "initial and restoring salinity (basin)", "psu")
    pe_temp_surface: float = setting(20.0, "initial surface temperature", "degC")
    pe_temp_deep: float = setting(4.0, "initial abyssal temperature", "degC")
    pe_thermocline: float = setting(
        500.0, "e-folding depth of the initial temperature profile", "m"
    )
    pe_scale_viscosity: bool = setting(
        True,
        "on the sphere, scale horizontal viscosity/diffusivity by cos^2(lat) "
        "(equatorial value given; keeps the explicit limit at high latitude)",
    )


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    path: str = setting("", "output Zarr store; empty = no output")
    every: int = setting(0, "steps between snapshots; 0 = only the final state")
    average_every: int = setting(0, "steps per time-mean record; 0 = no means")
    codec: str = setting(
        "blosc-zstd",
        "compression of output chunks",
        choices=("blosc-zstd", "blosc-lz4", "zstd", "none"),
    )
    # 32 daily records: ~12 files per variable, rank and year instead of 365
    # (a 50-year, 5-variable, 64-rank run: 183 k files, not 5.8 M), for a
    # rewrite cost of ~16 records per record written (benchmarks/README.md).
    records_per_block: int = setting(
        32,
        "records of one tile stored together in one file (a Zarr shard); "
        "applies when a store is created",
    )


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    dir: str = setting("", "checkpoint directory; empty = no checkpoints")
    every: int = setting(0, "steps between checkpoints; 0 = only at the end")
    keep: int = setting(2, "newest checkpoints kept; older ones are deleted")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hybrid model, training data and optimiser (``python -m ... train``)."""

    data: str = setting(
        "", "training-data directory with train/val/test as .zarr stores or .nc files"
    )
    use_corrector: bool = setting(True, "add the neural corrector (else physics only)")
    train_physics: bool = setting(True, "train the physical parameters")
    train_corrector: bool = setting(True, "train the network weights")
    width: int = setting(32, "corrector hidden channels")
    depth: int = setting(
        4, "corrector 3x3 conv layers = receptive-field radius", "cells"
    )
    output_init_scale: float = setting(
        1e-3, "initial corrector head weights relative to the default init"
    )
    coupling: str = setting(
        "split",
        "split: x += K dt C(x) once per hybrid step; unified: C added at every stage",
        choices=("split", "unified"),
    )
    physics_core: bool = setting(
        True,
        "step the physics core (false: a pure-ML emulator baseline, the corrector "
        "alone predicts each hybrid step)",
    )
    corrector_inputs: str = setting(
        "state",
        "what the corrector sees: the state, or only geography (a learned, "
        "state-independent forcing: the bias-corrector baseline)",
        choices=("state", "geography"),
    )
    cadence: int = setting(
        1, "physics steps (time.dt each) per hybrid step = per corrector call (K)"
    )
    steps: int = setting(200, "optimisation steps")
    batch: int = setting(2, "rollout windows per optimisation step")
    rollout: int = setting(4, "hybrid steps per loss rollout (final length)")
    curriculum_start: int = setting(
        0, "initial rollout length, grown linearly to train.rollout (0 = no curriculum)"
    )
    curriculum_steps: int = setting(
        0, "optimisation steps over which the rollout grows to train.rollout"
    )
    remat_segment: int = setting(
        0, "steps per jax.checkpoint segment (0 = about sqrt(rollout); -1 = none)"
    )
    learning_rate: float = setting(1e-3, "peak AdamW learning rate of the network")
    physics_learning_rate: float = setting(
        2e-2, "peak Adam learning rate of the physics parameters' raw values"
    )
    warmup_steps: int = setting(10, "linear warm-up to the peak learning rate")
    final_lr_fraction: float = setting(
        0.1, "cosine decay ends at this fraction of the peak learning rate"
    )
    weight_decay: float = setting(1e-4, "AdamW weight decay (network weights only)")
    clip_norm: float = setting(1.0, "global gradient-norm clip (0 = off)")
    volume_penalty: float = setting(
        0.0, "weight of the (volume drift / (area std_ssh))^2 penalty (0 = off)"
    )
    log_every: int = setting(10, "optimisation steps between progress lines")
    validate_every: int = setting(50, "optimisation steps between validations")
    checkpoint_every: int = setting(
        50, "optimisation steps between training checkpoints"
    )
    check_every: int = setting(
        10, "optimisation steps between cross-rank parameter-hash checks"
    )
    refine: int = setting(4, "data generator: fine-grid cells per coarse cell per axis")
    fine_viscosity_factor: float = setting(
        0.25, "data generator: fine-grid viscosity / model viscosity"
    )
    spinup: int = setting(50, "data generator: discarded hybrid steps at the start")
    trajectory_length: int = setting(
        40, "data generator: snapshots per trajectory (one per hybrid step)"
    )
    trajectories: str = setting(
        "4,1,1", "data generator: train,validation,test trajectory counts"
    )
    eval_leads: str = setting(
        "1,10,30,60,120",
        "test-set lead times after training (clipped to the data; empty = none)",
        "day",
    )


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Reanalysis files -> training data in ``train.data``
    (``python -m neuralogcm_hpc.prepare``, docs/real_data.md)."""

    sources: str = setting(
        "", "reanalysis files (NetCDF or Zarr): comma-separated paths or globs"
    )
    preset: str = setting(
        "glorys",
        "variable and coordinate names of the product",
        choices=("glorys", "oras5"),
    )
    names: str = setting(
        "",
        "name overrides NAME=SOURCE_NAME,... (NAME: u v ssh temp salt lon lat "
        "depth time)",
    )
    split: str = setting(
        "0.7,0.15,0.15", "train,validation,test fractions of the time series"
    )
    min_wet_fraction: float = setting(
        0.5, "model cells with a smaller wet area fraction in the data are land"
    )
    forcing_sources: str = setting(
        "",
        "atmospheric files (e.g. ERA5 u10, v10 and surface flux rates): wind "
        "stress by bulk formula and net heat flux into forcing.zarr; empty = "
        "restoring targets only",
    )
    forcing_preset: str = setting(
        "era5", "variable names of the atmospheric product", choices=("era5",)
    )
    forcing_names: str = setting(
        "",
        "atmospheric name overrides NAME=SOURCE_NAME,... (NAME: u10 v10 sensible "
        "latent shortwave longwave lon lat time)",
    )


@dataclasses.dataclass(frozen=True)
class Config:
    case: str = setting("beta_plane_small", "named case the defaults came from")
    precision: str = setting(
        "float64", "floating-point precision", choices=("float64", "float32")
    )
    seed: int = setting(0, "seed of the run's PRNG key")
    compilation_cache: str = setting(
        "auto",
        "persistent XLA compilation cache directory shared by the ranks; auto = "
        "~/.cache/neuralogcm_hpc/jax, off = none; $NEURALOGCM_COMPILATION_CACHE "
        "overrides",
    )
    compile_concurrency: int = setting(
        0,
        "most ranks of one node compiling at once (0 = no limit): for CPU nodes "
        "with more ranks than cores whose memory cannot hold every rank's "
        "compiler at once (~270 MiB each for the primitive step); e.g. the core "
        "count",
    )
    grid: GridConfig = dataclasses.field(default_factory=GridConfig)
    decomposition: DecompositionConfig = dataclasses.field(
        default_factory=DecompositionConfig
    )
    time: TimeConfig = dataclasses.field(default_factory=TimeConfig)
    physics: PhysicsConfig = dataclasses.field(default_factory=PhysicsConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)
    checkpoint: CheckpointConfig = dataclasses.field(default_factory=CheckpointConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    prepare: PrepareConfig = dataclasses.field(default_factory=PrepareConfig)

    def replace(self, **changes) -> Config:
        """A copy with dotted keys changed, e.g. ``replace(**{"grid.nx": 64})``."""
        return from_dict(_merge(to_dict(self), _nest(changes)))

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)


# -- conversion and validation -----------------------------------------------
def to_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def from_dict(data: dict[str, Any], cls: type = Config, where: str = "") -> Any:
    """Build a config, rejecting unknown keys and values of the wrong type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(_dotted(where, k) for k in unknown)}; "
            f"known keys: {', '.join(_dotted(where, k) for k in fields)}"
        )
    values = {}
    for name, value in data.items():
        hint, key = hints[name], _dotted(where, name)
        if dataclasses.is_dataclass(hint):
            values[name] = from_dict(value, hint, key)
        else:
            values[name] = _coerce(value, hint, key, fields[name].metadata)
    return cls(**values)


def _coerce(value, hint: type, key: str, meta) -> Any:
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
    elif hint is int:
        if isinstance(value, str):
            value = _parse_number(value, int, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
    elif hint is float:
        if isinstance(value, str):
            value = _parse_number(value, float, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
    elif hint is str and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    choices = meta.get("choices", ())
    if choices and value not in choices:
        raise ConfigError(f"{key} = {value!r} is not one of {', '.join(choices)}")
    return value


def _parse_number(text: str, kind: type, key: str):
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{key} must be {what}, got {text!r}") from None


def _dotted(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        parts = dotted.split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _merge(base: dict, changes: dict) -> dict:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["grid.nx=64", ...]`` -> ``{"grid.nx": "64"}``; values stay text."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def load_file(path: str | Path) -> dict[str, Any]:
    """A TOML or YAML config file as a nested dict (YAML through the safe loader)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"config file {path} must end in .toml, .yaml or .yml")
    import yaml

    try:
        if path.suffix == ".toml":
            values = tomllib.loads(path.read_text())
        else:
            with path.open() as handle:  # YAML's error marks then name the file
                values = yaml.safe_load(handle)
    except (OSError, ValueError, yaml.YAMLError) as error:
        # one line: YAML errors span several (the mark and a caret under it)
        reason = " ".join(str(error).split())
        raise ConfigError(f"cannot parse {path}: {reason}") from None
    if values is None:  # an empty YAML file
        return {}
    if not isinstance(values, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of settings (key: value), "
            f"got a {type(values).__name__}"
        )
    return values


def _at_least(low):
    return (lambda v: v >= low), f">= {low}"


def _above(low):
    return (lambda v: v > low), f"> {low}"


# Single-field ranges beyond finiteness; the cross-field checks are in validate.
# Negative viscosity, diffusivity or drag would amplify the flow instead of damping
# it; a zero or negative CFL limit or average period makes no schedule or guard.
RANGES = {
    "physics.viscosity physics.diffusivity physics.biharmonic physics.drag "
    "physics.pe_vertical_viscosity physics.pe_vertical_diffusivity "
    "physics.pe_convective_diffusivity physics.pe_shear_viscosity "
    "physics.pe_bottom_drag physics.pe_tidal_speed physics.pe_restore_days "
    "physics.pe_alpha physics.pe_beta grid.dz_surface output.average_every "
    "train.steps train.curriculum_start train.curriculum_steps "
    "train.warmup_steps train.learning_rate train.physics_learning_rate "
    "train.weight_decay train.clip_norm train.volume_penalty "
    "train.output_init_scale train.spinup seed": _at_least(0),
    "physics.gravity physics.cfl_limit physics.ic_width physics.pe_thermocline "
    "train.fine_viscosity_factor": _above(0),
    "physics.pe_barotropic_substeps train.width train.depth train.cadence "
    "train.batch train.rollout train.log_every train.validate_every "
    "train.checkpoint_every train.check_every train.refine "
    "train.trajectory_length output.records_per_block": _at_least(1),
    "train.remat_segment": _at_least(-1),
    "train.final_lr_fraction prepare.min_wet_fraction": (
        (lambda v: 0 <= v <= 1),
        "in [0, 1]",
    ),
}


# Settings only one physics.mode reads. The other mode refuses a non-default
# value instead of silently ignoring it (e.g. time.integrator in primitive mode,
# which has its own split-explicit scheme).
MODE_ONLY = {
    "shallow_water": (
        "time.integrator physics.biharmonic physics.drag physics.initial "
        "physics.ic_amplitude physics.ic_width"
    ).split(),
    "primitive": ["physics.diffusivity", "physics.forcing"]
    + [f"physics.{f.name}" for f in dataclasses.fields(PhysicsConfig)
       if f.name.startswith("pe_")],
}


def changed_settings(config: Config, keys) -> list[tuple[str, Any, Any]]:
    """(key, value, default) of each dotted key in ``keys`` whose value in
    ``config`` differs from the default: settings a user (or case) set."""
    defaults = Config()
    out = []
    for key in keys:
        value, default = _lookup(config, key), _lookup(defaults, key)
        if value != default:
            out.append((key, value, default))
    return out


def _check_mode_settings(config: Config) -> None:
    mode = config.physics.mode
    for owner, keys in MODE_ONLY.items():
        if owner == mode:
            continue
        for key, value, default in changed_settings(config, keys):
            raise ConfigError(
                f"{key} = {value!r} is a {owner} setting that physics.mode = "
                f"{mode} ignores; remove it (default {default!r}) or set "
                f"physics.mode = {owner}"
            )


def _lookup(config, dotted: str):
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def _numbers(config, where: str = ""):
    """(dotted key, value) of every float setting, in declaration order."""
    for field in dataclasses.fields(config):
        value, key = getattr(config, field.name), _dotted(where, field.name)
        if dataclasses.is_dataclass(value):
            yield from _numbers(value, key)
        elif isinstance(value, float):
            yield key, value


def validate(config: Config) -> Config:
    """Cross-field checks that a single field's type cannot express."""
    g, t = config.grid, config.time
    checks = [
        (
            g.nx >= 1 and g.ny >= 1 and g.nz >= 1,
            "grid.nx, grid.ny, grid.nz must be >= 1",
        ),
        (g.halo >= 1, "grid.halo must be >= 1"),
        (g.dx > 0 and g.dy > 0, "grid.dx and grid.dy must be positive"),
        (g.depth > 0, "grid.depth must be positive"),
        (
            -90 <= g.lat_south < g.lat_north <= 90,
            "need -90 <= lat_south < lat_north <= 90",
        ),
        (g.lon_west < g.lon_east, "grid.lon_west must be below grid.lon_east"),
        (t.dt > 0, "time.dt must be positive"),
        (t.steps >= 0, "time.steps must be >= 0"),
        (t.steps_per_call >= 1, "time.steps_per_call must be >= 1"),
        (config.physics.substeps >= 1, "physics.substeps must be >= 1"),
        (config.checkpoint.keep >= 1, "checkpoint.keep must be >= 1"),
        (
            config.compile_concurrency >= 0,
            "compile_concurrency must be >= 0 (0 = no limit)",
        ),
        (
            config.output.every >= 0 and config.checkpoint.every >= 0,
            "output.every and checkpoint.every must be >= 0",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    for key, value in _numbers(config):
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
    for keys, (ok, bound) in RANGES.items():
        for key in keys.split():
            value = _lookup(config, key)
            if not ok(value):
                raise ConfigError(f"{key} must be {bound}, got {value!r}")
    _check_mode_settings(config)
    d = config.decomposition
    if (d.px == 0) != (d.py == 0) or d.px < 0 or d.py < 0:
        raise ConfigError("set both decomposition.px and .py, or neither (0 = auto)")
    return config

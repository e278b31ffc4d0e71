"""``python -m neuralogcm_hpc.run``: the command line for simulate and train."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback

DESCRIPTION = """\
Run the neuralogcm_hpc ocean model, serially or under mpirun (one rank per tile).

Configuration is layered: the case's defaults (--case), then a TOML/YAML file
(--config, whose `case` key picks the defaults), then each --set KEY=VALUE, then
the flags below. Rank 0 prints progress and, at the end, one line
`SUMMARY {json}` whose state_sha256 identifies the final global state bit for bit
on any rank count.
"""


def build_parser() -> argparse.ArgumentParser:
    from neuralogcm_hpc.cases import DEFAULT_CASE

    parser = argparse.ArgumentParser(
        prog="python -m neuralogcm_hpc.run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="simulate",
        choices=("simulate", "train"),
        help="simulate (default) or train",
    )
    add_config_options(
        parser, f"named case whose defaults to start from (default {DEFAULT_CASE})"
    )
    length = parser.add_mutually_exclusive_group()
    length.add_argument(
        "--steps",
        type=int,
        help="model steps to run in this segment (with --until-*: at most this "
        "many; train: optimisation steps)",
    )
    length.add_argument("--days", type=float, help="simulated days to run")
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--until-step",
        type=int,
        metavar="N",
        help="run until the model reaches absolute step N: resume from the newest "
        "valid checkpoint in --checkpoint-dir if there is one (else start fresh); "
        "with --steps, at most that many steps this segment; exit 0 with the "
        "SUMMARY of the state reached when already there (idempotent job scripts)",
    )
    target.add_argument(
        "--until-days",
        type=float,
        metavar="D",
        help="as --until-step, for the first step at or after D simulated days",
    )
    parser.add_argument("--output", metavar="PATH", help="output Zarr store")
    parser.add_argument("--checkpoint-dir", metavar="PATH", help="checkpoint directory")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest valid checkpoint (an error if there is none)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="let a fresh run replace an existing output store (without it the "
        "run is refused; --resume appends instead)",
    )
    parser.add_argument(
        "--allow-config-change",
        action="store_true",
        help="let a resumed run change settings that change the solution (grid, "
        "time step, integrator, physics, precision, seed, ...); without it such a "
        "resume is refused, naming each difference",
    )
    parser.add_argument(
        "--params",
        metavar="PATH",
        help="simulate with trained parameters: the directory `train "
        "--checkpoint-dir` wrote (newest valid checkpoint) or one ckpt-* in it; "
        "steps the hybrid model (learned physics parameters + corrector)",
    )
    return parser


def add_config_options(parser: argparse.ArgumentParser, case_help: str) -> None:
    """``--case NAME | --config FILE`` and repeatable ``--set KEY=VALUE``: the
    layers ``resolve_config`` reads (the run and prepare command lines)."""
    from neuralogcm_hpc.cases import CASES

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--case", choices=sorted(CASES), help=case_help)
    source.add_argument("--config", metavar="FILE", help="TOML or YAML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set grid.nx=128 (repeatable)",
    )


def resolve_config(args):
    """Case defaults <- config file <- --set overrides <- flags; validated."""
    from neuralogcm_hpc.cases import (
        DEFAULT_CASE,
        case_config,
        check_case,
        with_derived,
    )
    from neuralogcm_hpc.config import (
        ConfigError,
        _merge,
        _nest,
        from_dict,
        load_file,
        parse_overrides,
        to_dict,
        validate,
    )
    from neuralogcm_hpc.config_check import flatten

    explicit: set[str] = set()  # dotted keys the user set (file, --set, flags)
    if args.config:
        file_values = load_file(args.config)
        base = case_config(file_values.get("case", DEFAULT_CASE))
        config = from_dict(_merge(to_dict(base), file_values))
        explicit |= set(flatten(file_values))
    else:
        config = case_config(args.case or DEFAULT_CASE)
    overrides = parse_overrides(args.overrides)
    explicit |= set(overrides)
    config = from_dict(_merge(to_dict(config), _nest(overrides)))
    flags = {}
    if args.steps is not None:
        if args.steps < 0:
            raise ConfigError(f"--steps must be >= 0, got {args.steps}")
        flags["time.steps"] = args.steps
    if args.output is not None:
        flags["output.path"] = args.output
    if args.checkpoint_dir is not None:
        flags["checkpoint.dir"] = args.checkpoint_dir
    config = with_derived(config, explicit | set(flags))
    if args.days is not None:  # the case may have derived time.dt
        flags["time.steps"] = _days_to_steps(args.days, config.time.dt)
    return check_case(validate(config.replace(**flags)))


def _days_to_steps(days: float, dt: float) -> int:
    from neuralogcm_hpc.config import ConfigError

    if not (math.isfinite(days) and days > 0):
        raise ConfigError(f"--days must be a finite number > 0, got {days}")
    steps = days * 86400.0 / dt
    if abs(steps - round(steps)) > 1e-9 * max(steps, 1):
        raise ConfigError(
            f"--days {days} is not a whole number of time steps of {dt} s; use --steps"
        )
    return round(steps)


def target_step(args, config) -> int | None:
    """The absolute step of --until-step / --until-days (None without either)."""
    from neuralogcm_hpc.config import ConfigError

    if args.until_step is None and args.until_days is None:
        return None
    if args.command != "simulate":
        raise ConfigError("--until-step/--until-days are for simulate; train: --steps")
    if args.days is not None:
        raise ConfigError("--days runs a length, --until-* a target: pass one of them")
    if not config.checkpoint.dir:
        raise ConfigError(
            "--until-step/--until-days resume from the newest checkpoint: pass "
            "--checkpoint-dir (or set checkpoint.dir)"
        )
    if args.until_step is not None:
        if args.until_step < 0:
            raise ConfigError(f"--until-step must be >= 0, got {args.until_step}")
        return args.until_step
    days = args.until_days
    if not (math.isfinite(days) and days >= 0):
        raise ConfigError(f"--until-days must be a finite number >= 0, got {days}")
    steps = days * 86400.0 / config.time.dt
    # the first step at or after D days; the slack absorbs D x 86400 / dt rounding
    return math.ceil(steps - 1e-9 * max(steps, 1))


def simulate(
    config,
    context,
    resume: bool,
    params: str | None = None,
    *,
    until: int | None = None,
    steps: int | None = None,
    allow_config_change: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the simulation; ``until`` = absolute target step (resumes when the
    checkpoint directory holds a checkpoint), ``steps`` then caps the segment."""
    from neuralogcm_hpc.simulation import Simulation

    sim = Simulation(
        config,
        context,
        resume=resume or ("auto" if until is not None else False),
        log=_log(context),
        params_path=params,
        allow_config_change=allow_config_change,
        overwrite=overwrite,
    )
    d = sim.model.decomposition
    _log(context)(
        f"case {config.case}: {config.physics.mode} on a {config.grid.nx} x "
        f"{config.grid.ny} x {config.grid.nz} grid, {context.size} rank(s) as "
        f"{d.px} x {d.py} tiles, dt = {config.time.dt} s, {config.precision}"
    )
    if sim.trained is not None:
        _log(context)(
            f"hybrid model: trained parameters {sim.trained['checkpoint']} from "
            f"{sim.trained['path']} (case {sim.trained['case']}), corrector "
            f"{'on' if sim.params.corrector is not None else 'off'}, cadence "
            f"{sim.stepper.cadence}, {sim.stepper.coupling} coupling"
        )
    result = sim.run(config.time.steps if until is None else steps, until=until)
    return {
        "case": config.case,
        "mode": config.physics.mode,
        "steps": result.steps,
        "step": result.step,
        "simulated_days": result.step * sim.model.dt / 86400.0,
        "wall_seconds": round(result.wall_seconds, 3),
        "ranks": context.size,
        "decomposition": [d.px, d.py],
        "precision": config.precision,
        "state_sha256": result.state_sha256,
        "stopped_early": result.stopped_early,
        "output": config.output.path or None,
        "diagnostics": result.diagnostics,
        "trained_params": sim.trained,
        "target_step": until,
        "target_reached": None if until is None else result.step >= until,
    }


def _log(context):
    def log(message: str) -> None:
        if context.is_root:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    return log


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from neuralogcm_hpc.parallel.devices import configure_devices

    configure_devices()  # before JAX starts its backend: one GPU per rank
    from neuralogcm_hpc.parallel.context import get_context
    from neuralogcm_hpc.parallel.mpi_check import MpiMismatchError

    try:
        context = get_context()
    except MpiMismatchError as error:  # every rank finds the same libraries
        print(f"neuralogcm_hpc: error: {error}", file=sys.stderr, flush=True)
        return 2
    if context.mpi_libraries is not None:
        _log(context)(f"MPI {context.mpi_libraries}")
    try:
        from neuralogcm_hpc import preflight
        from neuralogcm_hpc.config import ConfigError
        from neuralogcm_hpc.precision import enable_x64

        enable_x64()  # every precision: int64 step counter and guard keys
        config = resolve_config(args)
        from neuralogcm_hpc.compile_cache import enable_compilation_cache

        # before the first compilation: a restarted segment loads its programs
        enable_compilation_cache(config.compilation_cache)
        from neuralogcm_hpc.parallel.compile_slots import limit_concurrent_compilation

        limit_concurrent_compilation(context, config.compile_concurrency)
        until = target_step(args, config)
        preflight.check(config, context)
        if args.command == "simulate":
            summary = simulate(
                config,
                context,
                args.resume,
                args.params,
                until=until,
                steps=args.steps,
                allow_config_change=args.allow_config_change,
                overwrite=args.overwrite,
            )
        else:
            from neuralogcm_hpc.training.trainer import train_main

            if args.days is not None:
                raise ConfigError("train counts optimisation steps: use --steps")
            if args.params is not None:
                raise ConfigError(
                    "--params is for simulate; train continues its own run with "
                    "--resume --checkpoint-dir"
                )
            summary = train_main(
                config,
                context,
                resume=args.resume,
                steps=args.steps,
                log=_log(context),
                allow_config_change=args.allow_config_change,
            )
    except Exception as error:  # every rank reports, then the job ends non-zero
        return _fail(error, context)
    peaks = context.gather(_peak_rss_mib())
    if context.is_root:
        summary["peak_rss_mib"] = {
            "rank0": peaks[0],
            "others_max": max(peaks[1:], default=None),
            "per_rank": peaks,
        }
        print("SUMMARY " + json.dumps(summary, sort_keys=True), flush=True)
    return 0


def _peak_rss_mib() -> float:
    """This process's peak resident memory so far [MiB] (Linux reports KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _fail(error: BaseException, context) -> int:
    where = f"rank {context.rank}/{context.size}: " if context.size > 1 else ""
    reason = f"{type(error).__name__}: {error}".replace("\n", " ")
    from neuralogcm_hpc.errors import collective_errors

    collective = isinstance(error, collective_errors())
    if not collective:
        traceback.print_exc(file=sys.stderr)
    print(f"neuralogcm_hpc: error: {where}{reason}", file=sys.stderr, flush=True)
    if not collective:
        context.abort(1)
    return 2 if collective else 1


if __name__ == "__main__":
    # Unbuffered-enough output for batch logs; exit status carries the outcome.
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

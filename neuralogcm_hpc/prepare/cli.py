"""Command line of ``python -m neuralogcm_hpc.prepare`` (one process)."""

from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
Map reanalysis files (CF NetCDF or Zarr, e.g. GLORYS: uo, vo, zos, thetao, so on
time x depth x latitude x longitude, NaN over land) onto the model grid of a
config: conservative regridding of tracers and ssh, velocities onto the C-grid
faces, thickness-weighted levels, land and bathymetry from the data's NaNs.
Writes grid.zarr (set grid.bathymetry to it) and train/val/test.zarr into
train.data (or --out). Configuration as for `python -m neuralogcm_hpc.run`.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m neuralogcm_hpc.prepare", description=DESCRIPTION
    )
    from neuralogcm_hpc.run import add_config_options

    add_config_options(parser, "named case whose grid to map onto")
    parser.add_argument("--sources", help="files or globs (sets prepare.sources)")
    parser.add_argument("--out", help="output directory (default train.data)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from neuralogcm_hpc.config import ConfigError
    from neuralogcm_hpc.precision import enable_x64
    from neuralogcm_hpc.prepare.names import PrepareError
    from neuralogcm_hpc.prepare.pipeline import prepare
    from neuralogcm_hpc.run import resolve_config

    enable_x64()  # the model's masks are built in the config's precision
    if args.sources:
        args.overrides.append(f"prepare.sources={args.sources}")
    args.steps = args.output = args.checkpoint_dir = args.days = None
    try:
        config = resolve_config(args)
        out = args.out or config.train.data
        if not out:
            raise ConfigError("set train.data (or --out): where the stores go")
        summary = prepare(config, out)
    except (ConfigError, PrepareError, FileNotFoundError) as error:
        print(f"neuralogcm_hpc.prepare: error: {error}", file=sys.stderr)
        return 2
    print("SUMMARY " + json.dumps(summary, sort_keys=True), flush=True)
    return 0


def data_dir(argv: list[str]) -> str:
    """The output directory ``main(argv)`` writes to (for scripts/real_data.sh)."""
    from neuralogcm_hpc.run import resolve_config

    args = build_parser().parse_args(argv)
    args.steps = args.output = args.checkpoint_dir = args.days = None
    return args.out or resolve_config(args).train.data

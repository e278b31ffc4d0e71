"""Stability of case `global` over one simulated year, through the CLI, resumable.

    python benchmarks/global_year.py --workdir DIR [--nx 240 --ny 106]
        [--days 365] [--every 5] [--coastlines globe|idealised] [--ranks 2]
        [--out benchmarks/results/global_year.json]

Runs ``python -m neuralogcm_hpc.run --case global --until-days DAYS`` as an
mpirun job of --ranks ranks (``benchmarks.common.mpirun``) from rest under
the analytic forcing, writing a snapshot and a checkpoint every --every days
into --workdir. A year at 1.5
degrees takes hours on a small machine: stop it whenever, and the same
command continues from the newest checkpoint (bit for bit, as any resumed
run), then (re)writes the record from all snapshots so far:
max |u|, |v| [m s-1] and where (level, lat, lon), the ssh range [m] (and
where the lowest is), the
total energy [J], and the drift of volume, heat and salt content since day 0
(relative; from the stored fields, `neuralogcm_hpc.plot.diagnostics`).
``--analyse-only`` skips the run (e.g. to look at a run still going).

A coarser grid scales the time step and viscosity: dt x 240 / nx, viscosity
x (240 / nx)^2 (same grid-scale damping nu / dx^2); the 24 barotropic
sub-steps stay (at 3 degrees sqrt(g H) dts / dx = 0.45 at the narrowest row).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def settings(args) -> list[str]:
    from neuralogcm_hpc.cases import case_config

    base = case_config("global")
    scale = 240 / args.nx
    every = round(args.every * 86400 / (base.time.dt * scale))
    values = {
        "grid.nx": args.nx,
        "grid.ny": args.ny,
        "time.dt": base.time.dt * scale,
        "physics.viscosity": base.physics.viscosity * scale**2,
        "grid.coastlines": args.coastlines or base.grid.coastlines,
        "output.every": every,
        "checkpoint.every": every,
        "decomposition.px": args.ranks,
        "decomposition.py": 1,
    }
    return [f"{k}={v}" for k, v in values.items()]


def run(args, workdir: Path) -> None:
    from benchmarks.common import mpirun

    cli = ["--case", "global", "--until-days", str(args.days)]
    cli += [x for s in settings(args) for x in ("--set", s)]
    cli += ["--output", str(workdir / "out.zarr")]
    cli += ["--checkpoint-dir", str(workdir / "checkpoints")]
    mpirun(ROOT / "neuralogcm_hpc" / "run.py", args.ranks, cli, timeout=None,
           capture=False)


def analyse(args, workdir: Path) -> dict:
    from neuralogcm_hpc.plot import diagnostics, open_output

    ds = open_output(workdir / "out.zarr")
    config = json.loads(ds.attrs["config"])
    energy = diagnostics(ds)["energy (J)"]
    content = _contents(ds)
    dt = config["time"]["dt"]
    record = {
        "case": "global",
        "coastlines": config["grid"]["coastlines"],
        "grid": f"{args.nx}x{args.ny}x{config['grid']['nz']}",
        "dt_s": dt,
        "viscosity": config["physics"]["viscosity"],
        "ranks": args.ranks,
        "command": "python benchmarks/global_year.py " + " ".join(sys.argv[1:]),
        "days": [float(s) * dt / 86400 for s in ds["step"].values],
        "max_speed": [],
        "max_speed_at": [],
        "ssh_min_at": [],
        "ssh_min": [float(x) for x in ds["ssh"].min(ds["ssh"].dims[1:]).values],
        "ssh_max": [float(x) for x in ds["ssh"].max(ds["ssh"].dims[1:]).values],
        "energy": [float(x) for x in energy.values],
        "drake_passage_sv": [float(x) for x in _drake_transport(ds)],
    }
    for name, values in content.items():
        record[f"{name}_drift"] = [float(x / values[0] - 1) for x in values]
    for t in range(ds.sizes["time"]):
        speed, where = max(_fastest(ds[name].isel(time=t)) for name in ("u", "v"))
        record["max_speed"].append(speed)
        record["max_speed_at"].append(where)
        ssh = ds["ssh"].isel(time=t)
        j, i = np.unravel_index(int(np.nanargmin(np.asarray(ssh))), ssh.shape)
        lat, lon = (ssh[d].values for d in ssh.dims)
        record["ssh_min_at"].append([float(lat[j]), float(lon[i])])
    return record


def _contents(ds) -> dict[str, np.ndarray]:
    """Volume, heat and salt content per snapshot on the model's z* levels:
    level k is dz_k (1 + ssh / H) thick, H the column's resting depth (the
    fixed levels of ``plot.diagnostics`` miss the ssh part, ~1e-4 of the heat
    content here)."""
    from neuralogcm_hpc.plot import cell_area, layer_thickness

    wet = ds["salt"].isel(time=0) > 0  # the store holds 0 (not NaN) on land
    dz = layer_thickness(ds, "temp") * wet
    depth = dz.sum("depth")
    thickness = dz * (1 + ds["ssh"] / depth.where(depth > 0, 1.0))
    weight = thickness * cell_area(ds, "ssh")
    totals = {
        "volume": weight,
        "heat": weight * ds["temp"],
        "salt": weight * ds["salt"],
    }
    dims = ("depth", *ds["ssh"].dims[1:])
    return {k: np.asarray(v.sum(dims)) for k, v in totals.items()}


def _drake_transport(ds) -> np.ndarray:
    """Eastward volume transport [Sv] per snapshot through 66W from 50S to the
    southern wall: Drake Passage, where the observed Antarctic Circumpolar
    Current carries 137-173 Sv (Cunningham et al. 2003; Donohue et al. 2016).
    Resting level thicknesses: the ssh part is < 0.1 % of the 4000 m column."""
    from neuralogcm_hpc.physics.constants import EARTH_RADIUS
    from neuralogcm_hpc.plot import layer_thickness

    u = ds["u"].sel({ds["u"].dims[3]: 294.0}, method="nearest")
    lat = u[u.dims[2]]
    u = u.where(lat < -50.0, 0.0)
    dy = EARTH_RADIUS * np.deg2rad(float(lat[1] - lat[0]))
    dz = layer_thickness(ds, "temp").values[:, None]
    return np.asarray((u * dz).sum(u.dims[1:]) * dy / 1e6)


def _fastest(field) -> tuple[float, list]:
    """max |field| of one (depth, lat, lon) snapshot and where: [level, lat, lon]."""
    values = np.nan_to_num(np.abs(np.asarray(field)), nan=-1.0)
    k, j, i = np.unravel_index(np.argmax(values), values.shape)
    lat, lon = (field[d].values for d in field.dims[1:])
    return float(values[k, j, i]), [int(k), float(lat[j]), float(lon[i])]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="snapshots and checkpoints")
    parser.add_argument("--nx", type=int, default=240)
    parser.add_argument("--ny", type=int, default=106)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--coastlines", default=None, choices=("globe", "idealised"))
    parser.add_argument("--ranks", type=int, default=1, help="tiles along x")
    parser.add_argument("--analyse-only", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/global_year.json")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    if not args.analyse_only:
        run(args, workdir)
    record = analyse(args, workdir)
    Path(args.out).write_text(json.dumps(record, indent=1))
    last = record["days"][-1] if record["days"] else 0
    print(f"{len(record['days'])} snapshots to day {last:g}: max speed "
          f"{max(record['max_speed'], default=0):.2f} m/s -> {args.out}")


if __name__ == "__main__":
    main()

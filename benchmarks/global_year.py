"""Stability of case `global` with real coastlines over one simulated year.

Usage: python benchmarks/global_year.py [--nx 240 --ny 106] [--days 365]
           [--every 10] [--coastlines globe|idealised]
           [--out benchmarks/results/global_year.json]
Serial run from rest under the analytic forcing; every --every days it records
max |u|, |v| [m s-1], the ssh range [m] and the relative drift of volume, heat
and salt content (PrimitiveModel.diagnostics) since day 0, rewriting the JSON
each time so an interrupted run leaves its record. A coarser grid scales the
time step and viscosity: dt x 240 / nx, viscosity x (240 / nx)^2 (same
grid-scale damping nu / dx^2); the 24 barotropic sub-steps stay (at 3 degrees
sqrt(g H) dts / dx = 0.45 at the narrowest row). ``--coastlines``: the case's
default unless given. The record also keeps where the fastest current is at
each sample (level, lat, lon) and the total energy.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=240)
    parser.add_argument("--ny", type=int, default=106)
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--coastlines", default=None, choices=("globe", "idealised"))
    parser.add_argument("--out", default="benchmarks/results/global_year.json")
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from neuralogcm_hpc.cases import build_model, case_config
    from neuralogcm_hpc.parallel.context import get_context

    base = case_config("global")
    scale = 240 / args.nx
    cfg = base.replace(
        **{
            "grid.nx": args.nx,
            "grid.ny": args.ny,
            "time.dt": base.time.dt * scale,
            "physics.viscosity": base.physics.viscosity * scale**2,
            "grid.coastlines": args.coastlines or base.grid.coastlines,
        }
    )
    model = build_model(cfg, get_context())
    per_chunk = round(args.every * 86400 / cfg.time.dt)
    advance = jax.jit(lambda s, p: model.advance(s, p, per_chunk), donate_argnums=0)
    state, params = model.initial_state(), model.default_params()
    start = {k: float(v) for k, v in model.diagnostics(state).items()}
    record = {
        "case": "global",
        "coastlines": cfg.grid.coastlines,
        "grid": f"{args.nx}x{args.ny}x{cfg.grid.nz}",
        "dt_s": cfg.time.dt,
        "viscosity": cfg.physics.viscosity,
        "days": [],
        "max_speed": [],
        "ssh_min": [],
        "ssh_max": [],
        "volume_drift": [],
        "heat_drift": [],
        "salt_drift": [],
        "energy": [],
        "max_speed_at": [],
        "healthy": True,
    }
    clock = time.perf_counter()
    for chunk in range(round(args.days / args.every)):
        state = advance(state, params)
        f, diag = model.fields(state), model.diagnostics(state)
        record["days"].append((chunk + 1) * args.every)
        record["where"] = where(model, f)
        record["max_speed_at"].append(record["where"]["max_speed"])
        record["energy"].append(float(diag["energy"]))
        record["max_speed"].append(
            float(jnp.maximum(jnp.abs(f["u"]).max(), jnp.abs(f["v"]).max()))
        )
        wet = model.grid.interior(model.grid.mask_c) > 0
        record["ssh_min"].append(float(jnp.where(wet, f["ssh"], jnp.inf).min()))
        record["ssh_max"].append(float(jnp.where(wet, f["ssh"], -jnp.inf).max()))
        for k in ("volume", "heat", "salt"):
            record[f"{k}_drift"].append(float(diag[k]) / start[k] - 1.0)
        record["healthy"] = bool(model.health(state).ok)
        record["wall_s"] = time.perf_counter() - clock
        Path(args.out).write_text(json.dumps(record, indent=1))
        print(
            f"day {record['days'][-1]:g}: max speed {record['max_speed'][-1]:.3f} "
            f"m/s, ssh {record['ssh_min'][-1]:.2f}..{record['ssh_max'][-1]:.2f} m, "
            f"volume drift {record['volume_drift'][-1]:.2e}, heat "
            f"{record['heat_drift'][-1]:.2e}, salt {record['salt_drift'][-1]:.2e}",
            flush=True,
        )
        if not record["healthy"]:
            break


def where(model, f) -> dict:
    """(level, lat, lon) of the fastest velocity and of the lowest ssh, to find
    where a run goes wrong."""
    import numpy as np

    lat, lon = np.asarray(model.grid.y_c), np.asarray(model.grid.x_c)
    speed = np.maximum(np.abs(np.asarray(f["u"])), np.abs(np.asarray(f["v"])))
    k, j, i = np.unravel_index(np.nanargmax(speed), speed.shape)
    wet = np.asarray(model.grid.interior(model.grid.mask_c)) > 0
    jj, ii = np.unravel_index(
        np.nanargmin(np.where(wet, np.asarray(f["ssh"]), np.inf)), wet.shape
    )
    return {
        "max_speed": [int(k), float(lat[j]), float(lon[i])],
        "ssh_min": [float(lat[jj]), float(lon[ii])],
    }


if __name__ == "__main__":
    main()

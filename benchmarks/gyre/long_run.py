"""Stability of a trained gyre model over a century: finite, volume and energy drift.

    python benchmarks/gyre/long_run.py --params runs/gyre_train/hybrid/selected \
        --years 100 --out benchmarks/results/gyre_100y

Free run from the first day of the independent truth trajectory; once per
simulated year: global volume, total energy (diagnostics of the core), max |u|,
ssh range, and the basin-mean EKE of that year's daily states. Writes JSON + PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neuralogcm_hpc.analysis import metrics, online  # noqa: E402
from neuralogcm_hpc.cases import build_model, case_config, with_derived  # noqa: E402
from neuralogcm_hpc.parallel.context import get_context  # noqa: E402
from neuralogcm_hpc.trained import open_trained  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", required=True, help="training checkpoint directory "
                    "or a shipped set's name")
    ap.add_argument("--data", default="data/eddying_gyre")
    ap.add_argument("--nx", type=int, default=50)
    ap.add_argument("--years", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/results/gyre_100y")
    a = ap.parse_args(argv)
    import xarray as xr

    config = with_derived(case_config("eddying_gyre").replace(
        **{"grid.nx": a.nx, "grid.ny": a.nx}), set())
    model = build_model(config)
    trained = open_trained(a.params, model, get_context())
    hybrid, params = trained.hybrid, trained.params
    ds = xr.open_zarr(Path(a.data) / "independent.zarr", consolidated=False)
    first = {n: np.asarray(ds[n].values[0, 0]) for n in online.FIELDS}
    runner = online.make_runner("hybrid", hybrid, params, online.DAY, a.nx)
    state = runner.start(first)
    diag = jax.jit(model.diagnostics)
    rows, clock = [], time.perf_counter()
    d0 = {k: float(v) for k, v in diag(state).items()}
    for year in range(1, a.years + 1):
        days = {n: [] for n in online.FIELDS}
        for _ in range(365):
            state = runner.step(state, 1)
            for n, x in runner.fields(state).items():
                days[n].append(x)
        d = {k: float(v) for k, v in diag(state).items()}
        u = np.stack(days["u"])
        finite = bool(np.isfinite(u).all() and np.isfinite(d["energy"]))
        e = metrics.energy_split(u, np.stack(days["v"])) if finite else {}
        rows.append({"year": year, "finite": finite,
                     "volume_rel_drift": (d["volume"] - d0["volume"]) / d0["volume"],
                     "energy": d["energy"], "eke": e.get("eke"), "mke": e.get("mke"),
                     "max_abs_u": float(np.abs(u).max()),
                     "ssh_min": float(np.min(days["ssh"])),
                     "ssh_max": float(np.max(days["ssh"]))})
        print(f"year {year}: {rows[-1]} ({time.perf_counter() - clock:.0f} s)",
              flush=True)
        if not finite:
            break
    energy = np.array([r["energy"] for r in rows])
    half = len(energy) // 2
    report = {
        "command": "python benchmarks/gyre/long_run.py " + " ".join(
            sys.argv[1:] if argv is None else argv),
        "params": trained.source, "years_run": len(rows),
        "finite": all(r["finite"] for r in rows),
        "max_abs_volume_rel_drift": max(abs(r["volume_rel_drift"]) for r in rows),
        "energy_first_half_mean": float(energy[:half].mean()) if half else None,
        "energy_second_half_mean": float(energy[half:].mean()),
        "wall_s": time.perf_counter() - clock, "years": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
    years = [r["year"] for r in rows]
    ax[0].plot(years, energy)
    ax[0].set_title("total energy (J / rho0)")
    ax[1].plot(years, [r["eke"] for r in rows], label="EKE")
    ax[1].plot(years, [r["mke"] for r in rows], label="MKE")
    ax[1].legend()
    ax[1].set_title("basin-mean KE per unit mass (m2 s-2)")
    ax[2].plot(years, [r["volume_rel_drift"] for r in rows])
    ax[2].set_title("relative volume drift")
    for x in ax:
        x.set_xlabel("simulated year")
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=80)
    print(f"wrote {out.with_suffix('.json')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

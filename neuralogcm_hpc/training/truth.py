"""Truth data of the eddying gyre: fine runs, spun up, coarse-grained every day.

    python -m neuralogcm_hpc.training.truth --out data/eddying_gyre

Two fine-grid (10 km) runs from rest plus different white-noise seeds:
``main`` gives the train / validation / test splits (disjoint years with gaps
between them, so no window straddles two splits and their eddies decorrelate),
``independent`` a second trajectory that only the final evaluation sees. Every
store holds (trajectory=1, time, y, x) coarse fields on the model grid
(conservative regridding, analysis/regrid.py), one snapshot per
``--every-days``. A store whose recorded settings match is reused; the two runs
go in two processes (one core each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DAY, YEAR = 86400.0, 365.0  # s; days
# split -> (start, length) in years after the spin-up of the main run
MAIN_SPLITS = {"train": (0.0, 6.0), "val": (6.5, 1.0), "test": (8.0, 2.0)}
SEEDS = {"main": 1, "independent": 2}


def fine_run(nx_fine: int, nx: int, seed: int, spinup_days: float,
             record_days: float, every_days: float, log=print) -> dict:
    """Coarse snapshots (time, nx, nx) of one eddying_gyre run at ``nx_fine``
    cells, recorded after ``spinup_days``, plus the run's cost."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from neuralogcm_hpc.analysis.regrid import regrid
    from neuralogcm_hpc.cases import build_model, case_config, with_derived

    config = case_config("eddying_gyre").replace(
        **{"grid.nx": nx_fine, "grid.ny": nx_fine, "seed": seed})
    config = with_derived(config, set())
    model = build_model(config)
    params = model.default_params()
    per = round(every_days * DAY / config.time.dt)
    advance = jax.jit(model.advance, static_argnums=2)
    state, clock = model.initial_state(), time.perf_counter()
    n_spin, n_rec = round(spinup_days / every_days), round(record_days / every_days)
    snaps = {n: [] for n in model.prognostic_names}
    for i in range(n_spin + n_rec):
        state = advance(state, params, per)
        if i >= n_spin:
            fields = jax.device_get(model.fields(state))
            if not np.isfinite(fields["ssh"]).all():
                raise FloatingPointError(f"truth run (seed {seed}) blew up at day "
                                         f"{(i + 1) * every_days}")
            for n, x in regrid(fields, nx).items():
                snaps[n].append(x)
        if (i + 1) % round(100 / every_days) == 0:
            done = (i + 1) / (n_spin + n_rec)
            spent = time.perf_counter() - clock
            log(f"seed {seed}: day {(i + 1) * every_days:.0f} of "
                f"{(n_spin + n_rec) * every_days:.0f}, {spent:.0f} s, eta "
                f"{spent / done * (1 - done):.0f} s")
    wall = time.perf_counter() - clock
    years = (n_spin + n_rec) * every_days / YEAR
    return {"fields": {n: np.stack(x) for n, x in snaps.items()},
            "wall_s_per_year": wall / years, "dt": config.time.dt,
            "config": json.loads(config.to_json())}


def write_store(path: Path, fields: dict, every_days: float, attrs: dict) -> None:
    """One trajectory as a Zarr store in the training-data layout."""
    import xarray as xr

    n_time = next(iter(fields.values())).shape[0]
    ds = xr.Dataset(
        {n: (("trajectory", "time", "y", "x"), x[None]) for n, x in fields.items()},
        coords={"time": ("time", np.arange(n_time) * every_days * DAY,
                         {"units": "s"})},
        attrs={"dt": every_days * DAY, "generator": json.dumps(attrs)})
    tmp = path.with_name(path.name + ".tmp")
    ds.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False)
    tmp.rename(path)  # a store exists only once it is complete


def _settings(a, which: str) -> dict:
    return {"trajectory": which, "seed": SEEDS[which], "nx_fine": a.nx_fine,
            "nx": a.nx, "spinup_years": a.spinup_years, "years": a.years,
            "every_days": a.every_days}


def _stores(out: Path, which: str) -> list[Path]:
    names = list(MAIN_SPLITS) if which == "main" else ["independent"]
    return [out / f"{n}.zarr" for n in names]


def _present(out: Path, which: str, settings: dict) -> bool:
    import zarr

    for path in _stores(out, which):
        if not path.exists():
            return False
        stored = json.loads(zarr.open_group(path, mode="r").attrs["generator"])
        if {k: stored.get(k) for k in settings} != settings:
            raise SystemExit(f"{path} was made with other settings ({stored}); "
                             "move it away or pass another --out")
    return True


def generate(a, which: str) -> None:
    out, settings = Path(a.out), _settings(a, which)
    if _present(out, which, settings):
        print(f"{which}: reusing the stores in {out}", flush=True)
        return
    out.mkdir(parents=True, exist_ok=True)
    years = a.years
    run = fine_run(a.nx_fine, a.nx, SEEDS[which], a.spinup_years * YEAR,
                   years * YEAR, a.every_days,
                   log=lambda m: print(m, flush=True))
    attrs = {**settings, "wall_s_per_year_fine": run["wall_s_per_year"],
             "fine_config": run["config"]}
    per_year = YEAR / a.every_days
    if which == "independent":
        write_store(out / "independent.zarr", run["fields"], a.every_days, attrs)
    else:
        scale = years / 10.0  # the split table is for 10 recorded years
        for split, (start, length) in MAIN_SPLITS.items():
            lo = round(start * scale * per_year)
            hi = lo + round(length * scale * per_year)
            part = {n: x[lo:hi] for n, x in run["fields"].items()}
            write_store(out / f"{split}.zarr", part, a.every_days,
                        {**attrs, "split": split, "start_years": start * scale})
    (out / f"truth_cost_{which}.json").write_text(json.dumps(
        {"nx_fine": a.nx_fine, "wall_s_per_simulated_year": run["wall_s_per_year"]},
        indent=1))
    print(f"{which}: wrote {[str(p) for p in _stores(out, which)]}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/eddying_gyre", help="output directory")
    ap.add_argument("--nx-fine", type=int, default=200, help="fine cells per side "
                    "(200 = 10 km)")
    ap.add_argument("--nx", type=int, default=50, help="model cells per side "
                    "(50 = 40 km)")
    ap.add_argument("--spinup-years", type=float, default=4.0)
    ap.add_argument("--years", type=float, default=10.0,
                    help="recorded years per run (main: 6 train, 0.5 gap, 1 val, "
                    "0.5 gap, 2 test, scaled with this)")
    ap.add_argument("--every-days", type=float, default=1.0)
    ap.add_argument("--trajectory", choices=("main", "independent", "both"),
                    default="both", help="both: the two runs in two processes")
    a = ap.parse_args(argv)
    if a.trajectory != "both":
        generate(a, a.trajectory)
        return 0
    args = [a2 for a2 in (argv if argv is not None else sys.argv[1:])
            if not a2.startswith("--trajectory")]
    module = "neuralogcm_hpc.training.truth"
    children = [subprocess.Popen([sys.executable, "-m", module, *args,
                                  f"--trajectory={w}"]) for w in SEEDS]
    codes = [c.wait() for c in children]
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())

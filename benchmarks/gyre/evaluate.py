"""Online evaluation of the eddying gyre: every model, one table, one figure.

    python benchmarks/gyre/evaluate.py --data data/eddying_gyre \
        --trained runs/gyre_train --out benchmarks/results/gyre

Each model runs freely for the independent truth trajectory's length (10
years) from its first day; statistics are taken on the 40 km grid against the
coarse-grained 10 km truth. Baselines: 40 km physics with the case's default
viscosity and with the best of a biharmonic-viscosity scan (chosen on the
validation year, never the test data), physics at 26.7, 20 and 13.3 km, and
every trained variant found under --trained (hybrid, physics_only, bias,
emulator). Writes <out>.json and <out>.png (maps, spectra, error vs cost).
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

from neuralogcm_hpc.analysis import online  # noqa: E402
from neuralogcm_hpc.cases import build_model, case_config, with_derived  # noqa: E402
from neuralogcm_hpc.model import HybridModel, HybridParams  # noqa: E402
from neuralogcm_hpc.parallel.context import get_context  # noqa: E402

SCAN = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # x the default biharmonic viscosity
RESOLUTIONS = {"physics_26.7km": 75, "physics_20km": 100, "physics_13.3km": 150}
VARIANTS = ("hybrid", "physics_only", "bias", "emulator")


def read(path: Path) -> dict:
    import xarray as xr

    ds = xr.open_zarr(path, consolidated=False)
    return {n: np.asarray(ds[n].values[0], np.float64) for n in online.FIELDS}


def physics(nx: int, sets: dict | None = None) -> HybridModel:
    config = case_config("eddying_gyre").replace(
        **{"grid.nx": nx, "grid.ny": nx, **(sets or {})})
    return HybridModel(build_model(with_derived(config, set(sets or {}))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/eddying_gyre")
    ap.add_argument("--trained", default="runs/gyre_train",
                    help="directory with one training directory per variant")
    ap.add_argument("--out", default="benchmarks/results/gyre")
    ap.add_argument("--nx", type=int, default=50)
    ap.add_argument("--years", type=float, default=0.0,
                    help="free-run length (0 = the independent trajectory's)")
    ap.add_argument("--skip", default="", help="comma-separated models to skip")
    a = ap.parse_args(argv)
    data, log = Path(a.data), (lambda m: print(m, flush=True))
    skip = set(filter(None, a.skip.split(",")))
    truth_run = read(data / "independent.zarr")
    val_run = read(data / "val.zarr")
    n = len(truth_run["ssh"]) if not a.years else round(a.years * 365)
    truth_run = {k: x[:n] for k, x in truth_run.items()}
    dx = 2000e3 / a.nx
    val = {k: x[1:] for k, x in val_run.items()}  # the days a free run predicts
    val_stats = online.statistics(val, dx)
    first = {k: x[0] for k, x in truth_run.items()}
    runners, notes = {}, {}

    # 40 km physics: default, then the scan's best on the validation year
    base = physics(a.nx)
    default_nu4 = base.model.config.physics.biharmonic
    runners["physics_default"] = online.make_runner(
        "physics_default", base, HybridParams(base.model.default_params(), None),
        online.DAY, a.nx)
    scores = {}
    for factor in SCAN:
        h = physics(a.nx, {"physics.biharmonic": default_nu4 * factor})
        r = online.make_runner(f"scan_{factor}", h,
                               HybridParams(h.model.default_params(), None),
                               online.DAY, a.nx)
        run, _ = online.free_run(r, {k: x[0] for k, x in val_run.items()},
                                 len(val_run["ssh"]) - 1)
        stats = online.statistics(run, dx) if np.isfinite(run["ssh"]).all() else {}
        scores[factor] = online.selection_score(
            online.compare(stats, val_stats, run, val))
        log(f"scan nu4 x {factor}: validation score {scores[factor]:.3f}")
        if factor == min(scores, key=scores.get):
            runners["physics_best_scan"] = r
    best = min(scores, key=scores.get)
    notes["scan"] = {"biharmonic_default": default_nu4, "factors": list(SCAN),
                     "validation_scores": [scores[f] for f in SCAN],
                     "best_factor": best}
    for name, nx in RESOLUTIONS.items():
        h = physics(nx)
        runners[name] = online.make_runner(
            name, h, HybridParams(h.model.default_params(), None), online.DAY, a.nx)
    from neuralogcm_hpc.trained import open_trained

    for variant in VARIANTS:
        path = Path(a.trained) / variant / "selected"  # chosen by train.py
        if not path.exists():
            continue
        trained = open_trained(path, physics(a.nx).model, get_context())
        runners[variant] = online.make_runner(variant, trained.hybrid,
                                              trained.params, online.DAY, a.nx)
        notes[variant] = trained.source

    runs, costs, results = {}, {}, {}
    for name, runner in runners.items():
        if name in skip:
            continue
        clock = time.perf_counter()
        runs[name], per_day = online.free_run(runner, first, n - 1, log=log)
        costs[name] = per_day * 365.0
        log(f"{name}: {costs[name]:.1f} wall-s per simulated year "
            f"({time.perf_counter() - clock:.0f} s)")
    aligned = {k: x[1:] for k, x in truth_run.items()}
    truth = online.statistics(aligned, dx)
    stats = {name: online.statistics(run, dx) for name, run in runs.items()
             if np.isfinite(run["ssh"]).all()}
    reference_w1 = None
    if "physics_default" in stats:
        reference_w1 = online.compare(stats["physics_default"], truth,
                                      runs["physics_default"], aligned)["w1"]
    for name, run in runs.items():
        results[name] = online.compare(stats.get(name, {}), truth, run, aligned,
                                       reference_w1) if name in stats else {
                                           "finite": False}
        results[name]["wall_s_per_year"] = costs[name]
    starts = list(range(0, n - 31, max(1, (n - 31) // 10)))[:10]
    for name, runner in runners.items():
        if name in runs and results[name].get("finite"):
            results[name]["short_range_rmse"] = online.short_range(
                runner, truth_run, starts, [1, 5, 10, 30])
    # the 10 km truth's cost, timed in this job like every other model (60 days)
    fine = physics(4 * a.nx)
    _, per_day = online.free_run(online.make_runner(
        "truth_10km", fine, HybridParams(fine.model.default_params(), None),
        online.DAY, a.nx), first, min(60, n - 1))
    truth_cost = per_day * 365.0
    results["truth_10km"] = {"eke_over_mke_band": truth["eke_band"] / truth["mke_band"],
                             "jet_km": truth["jet_km"], "eke": truth["eke"],
                             "mke": truth["mke"], "wall_s_per_year": truth_cost}
    report = {"command": "python benchmarks/gyre/evaluate.py " + " ".join(
        sys.argv[1:] if argv is None else argv), "years": n / 365.0,
        "start_dates": starts, "results": results, "notes": notes}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float))
    figure(out.with_suffix(".png"), truth, stats, results)
    out.with_suffix(".md").write_text(table(report))
    log(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')}; "
        f"error-vs-cost plot: python benchmarks/gyre/pareto.py "
        f"{out.with_suffix('.json')}")
    return 0


def table(report: dict) -> str:
    """The evaluation as a markdown table (README copies it, never retypes)."""
    head = ("| model | mean ssh err / std | ssh var err | EKE ratio | MKE ratio | "
            "spectrum ratio (k <= 2/3 Nyquist) | W1 ssh (m) | similarity "
            "(mean of u, v, zeta, ssh) | jet (km) | ssh RMSE 1/5/10/30 d (m) | "
            "wall-s per year |")
    lines = [head, "|" + " --- |" * 11]
    for name, r in report["results"].items():
        cost = r.get("wall_s_per_year")
        cost = f"{cost:.3g}" if cost else "-"
        if name == "truth_10km":
            lines.append(f"| {name} | 0 | 0 | 1 | 1 | 1 | 0 | 1 | {r['jet_km']:.0f} "
                         f"| - | {cost} |")
            continue
        if not r.get("finite"):
            lines.append(f"| {name} | not finite | | | | | | | | | {cost} |")
            continue
        sim = r.get("similarity")
        sim = f"{np.mean(list(sim.values())):.2f}" if sim else "-"
        short = r.get("short_range_rmse", {})
        ssh = "/".join(f"{short[d]['ssh']:.3g}" for d in ("1", "5", "10", "30")
                       if d in short)
        lines.append(
            f"| {name} | {r['mean_ssh_rmse_rel']:.3f} | {r['ssh_var_error_rel']:.3f}"
            f" | {r['eke_ratio']:.2f} | {r['mke_ratio']:.2f} | "
            f"{r['spectrum_ratio_min']:.2f}-{r['spectrum_ratio_max']:.2f} | "
            f"{r['w1']['ssh']:.3g} | {sim} | {r['jet_km']:.0f} | {ssh or '-'} | "
            f"{cost} |")
    return "\n".join(lines) + "\n"


def figure(path: Path, truth: dict, stats: dict, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [n for n in ("physics_default", "physics_best_scan", "hybrid",
                         "physics_20km") if n in stats]
    fig, ax = plt.subplots(3, len(shown) + 1, figsize=(3.2 * (len(shown) + 1), 9.5))
    lim = np.abs(truth["ssh_mean"]).max()
    emax = truth["eke_map"].max()
    for col, (name, s) in enumerate([("truth 10 km", truth)]
                                    + [(n, stats[n]) for n in shown]):
        ax[0, col].imshow(s["ssh_mean"], origin="lower", cmap="RdBu_r", vmin=-lim,
                          vmax=lim)
        ax[0, col].set_title(f"{name}\nmean ssh")
        ax[1, col].imshow(s["eke_map"], origin="lower", vmin=0, vmax=emax)
        ax[1, col].set_title("EKE")
    for a in ax[:2].ravel():
        a.set_xticks([])
        a.set_yticks([])
    spec = ax[2, 0]
    spec.loglog(truth["k"], truth["spectrum"], "k", lw=2, label="truth")
    for name in shown:
        spec.loglog(stats[name]["k"], stats[name]["spectrum"], label=name)
    spec.set_xlabel("k (rad/m)")
    spec.set_title("KE spectrum")
    spec.legend(fontsize=6)
    pareto = ax[2, 1]
    for name, r in results.items():
        if r.get("finite") and r.get("wall_s_per_year"):
            pareto.scatter(r["wall_s_per_year"], r["mean_ssh_rmse_rel"])
            pareto.annotate(name, (r["wall_s_per_year"], r["mean_ssh_rmse_rel"]),
                            fontsize=6)
    pareto.set_xscale("log")
    pareto.set_yscale("log")
    pareto.set_xlabel("wall-s per simulated year")
    pareto.set_ylabel("time-mean ssh RMSE / std")
    pareto.set_title("error vs cost")
    for a in ax[2, 2:]:
        a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    sys.exit(main())

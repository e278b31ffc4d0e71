"""Free runs of gyre models from a truth state, and their statistics vs the truth."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.analysis import metrics
from neuralogcm_hpc.analysis.regrid import regrid

DAY = 86400.0
FIELDS = ("u", "v", "ssh")


@dataclasses.dataclass
class Runner:
    """One model that can be started from global fields and stepped by whole
    snapshots (``snapshot_s`` seconds): the 40 km hybrid or physics, or physics
    at another resolution (its state regridded from / to the evaluation grid).

    ``step(state, n)`` advances n snapshots; ``start(fields)`` builds a state
    from evaluation-grid fields; ``fields(state)`` returns evaluation-grid fields.
    """

    name: str
    start: Callable
    step: Callable
    fields: Callable
    nx: int


def make_runner(name: str, hybrid, params, snapshot_s: float, nx_eval: int
                ) -> Runner:
    """A Runner for a HybridModel (a physics-only one has ``params.corrector
    None``) on one process; its grid may differ from the evaluation grid."""
    model = hybrid.model
    nx = model.config.grid.nx
    per = round(snapshot_s / hybrid.dt)
    if abs(per * hybrid.dt - snapshot_s) > 1e-6:
        raise ValueError(f"{name}: snapshots every {snapshot_s} s are not a whole "
                         f"number of its {hybrid.dt} s steps")
    template = model.initial_state()

    @jax.jit
    def advance(state, n):
        return jax.lax.fori_loop(0, n, lambda _, s: hybrid.step(s, params), state)

    def start(fields):
        fields = regrid(fields, nx) if nx != nx_eval else fields
        dtype = template.fields["ssh"].dtype
        return model.with_fields(template, {n: jnp.asarray(fields[n], dtype)
                                            for n in FIELDS})

    def out(state):
        f = {n: np.asarray(x, np.float64) for n, x in
             jax.device_get(model.fields(state)).items()}
        return regrid(f, nx_eval) if nx != nx_eval else f

    return Runner(name, start, lambda s, n: advance(s, n * per), out, nx)


def free_run(runner: Runner, first: dict, snapshots: int, every: int = 1,
             log=None) -> tuple[dict, float]:
    """(fields (time, y, x) every ``every`` snapshots, wall seconds per snapshot
    of stepping, compile excluded). A run that turns non-finite keeps NaNs from
    then on (the statistics then say so)."""
    state = runner.start(first)
    state = runner.step(state, 0)  # compile outside the clock
    jax.block_until_ready(state)
    out = {n: [] for n in FIELDS}
    clock, finite = time.perf_counter(), True
    for i in range(snapshots // every):
        state = runner.step(state, every)
        f = runner.fields(state)
        finite = finite and all(np.isfinite(x).all() for x in f.values())
        for n in FIELDS:
            out[n].append(f[n] if finite else np.full_like(f[n], np.nan))
        if log and (i + 1) % max(1, (snapshots // every) // 10) == 0:
            log(f"{runner.name}: {(i + 1) * every}/{snapshots} snapshots, "
                f"{time.perf_counter() - clock:.0f} s")
    wall = time.perf_counter() - clock
    return {n: np.stack(x) for n, x in out.items()}, wall / snapshots


def statistics(run: dict, dx: float) -> dict:
    """Long-run statistics of one (time, y, x) series on the evaluation grid."""
    band = metrics.jet_band(run["ssh"].shape[-2])
    e = metrics.energy_split(run["u"], run["v"])
    e_band = metrics.energy_split(run["u"], run["v"], band)
    u_mean, _ = metrics.to_centres(run["u"].mean(0), run["v"].mean(0))
    k, spectrum = metrics.ke_spectrum(run["u"], run["v"], dx)
    return {
        "ssh_mean": run["ssh"].mean(0), "ssh_var": run["ssh"].var(0),
        "eke": e["eke"], "mke": e["mke"], "eke_map": e["eke_map"],
        "eke_band": e_band["eke"], "mke_band": e_band["mke"],
        "jet_km": metrics.jet_penetration(u_mean, dx) / 1e3,
        "k": k, "spectrum": spectrum,
        "zeta": metrics.relative_vorticity(run["u"], run["v"], dx),
    }


def compare(model: dict, truth: dict, run: dict, truth_run: dict,
            reference_w1: dict | None = None) -> dict:
    """Scores of a model's statistics against the truth's (plain floats)."""
    if not np.isfinite(run["ssh"]).all():
        return {"finite": False}
    ssh_std = float(truth["ssh_mean"].std())
    k_max = 2.0 / 3.0 * truth["k"].max()  # 2/3 of the Nyquist wavenumber
    keep = truth["k"] <= k_max
    ratio = model["spectrum"][keep] / truth["spectrum"][keep]
    w1 = {n: metrics.wasserstein1(run[n], truth_run[n]) for n in FIELDS}
    w1["zeta"] = metrics.wasserstein1(model["zeta"], truth["zeta"])
    out = {
        "finite": True,
        "mean_ssh_rmse_rel": float(metrics.rmse(model["ssh_mean"], truth["ssh_mean"])
                                   / ssh_std),
        "ssh_var_error_rel": float(metrics.rmse(model["ssh_var"], truth["ssh_var"])
                                   / truth["ssh_var"].mean()),
        "eke_ratio": model["eke"] / truth["eke"],
        "mke_ratio": model["mke"] / truth["mke"],
        "eke_over_mke_band": model["eke_band"] / model["mke_band"],
        "jet_km": model["jet_km"],
        "spectrum_ratio_min": float(ratio.min()),
        "spectrum_ratio_max": float(ratio.max()),
        "w1": w1,
    }
    if reference_w1:
        out["similarity"] = {n: 1.0 - w1[n] / reference_w1[n] for n in w1}
    return out


def selection_score(scores: dict) -> float:
    """Model-selection score of ``compare``'s result (validation data only):
    time-mean ssh error relative to its std plus the relative EKE error."""
    if not scores["finite"]:
        return float("inf")
    return scores["mean_ssh_rmse_rel"] + abs(scores["eke_ratio"] - 1.0)


def short_range(runner: Runner, truth_run: dict, starts: list[int],
                leads: list[int]) -> dict:
    """RMSE (per field, averaged over start dates) at each lead (snapshots)."""
    errors = {lead: {n: [] for n in FIELDS} for lead in leads}
    for s in starts:
        state = runner.start({n: truth_run[n][s] for n in FIELDS})
        done = 0
        for lead in sorted(leads):
            state = runner.step(state, lead - done)
            done = lead
            f = runner.fields(state)
            for n in FIELDS:
                error = metrics.rmse(f[n], truth_run[n][s + lead])
                errors[lead][n].append(float(error))
    return {str(lead): {n: float(np.mean(v)) for n, v in e.items()}
            for lead, e in errors.items()}

"""Forecast skill on held-out trajectories: RMSE and anomaly correlation vs lead."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from neuralogcm_hpc.parallel.reductions import global_sum
from neuralogcm_hpc.training.data import TileDataset
from neuralogcm_hpc.training.loss import cell_weights


def lead_steps(days: list[float], hybrid_dt: float, available: int) -> list[int]:
    """Lead times in days -> hybrid steps (>= 1), those the data can verify."""
    steps = sorted({max(1, round(d * 86400.0 / hybrid_dt)) for d in days})
    kept = [s for s in steps if s < available]
    return kept or [available - 1]


def forecast(hybrid, params, test: TileDataset, leads: list[int]):
    """Fields at each lead from the start of every test trajectory:
    name -> (trajectories, leads, ...) interior tiles."""
    model, n_max = hybrid.model, max(leads)
    template = model.initial_state()

    @jax.jit
    def run(first, step):
        state = model.with_fields(template, first).replace(step=step)

        def body(s, _):
            s = hybrid.step(s, params)
            return s, model.fields(s)

        return jax.lax.scan(body, state, None, length=n_max)[1]

    index = np.asarray(leads) - 1
    out = {n: [] for n in test.fields}
    for trajectory in range(test.shape[0]):
        first = {n: jnp.asarray(x[trajectory, 0]) for n, x in test.fields.items()}
        step = jnp.asarray(round(test.time_of(trajectory, 0) / model.dt), jnp.int64)
        path = run(first, step)
        for n in out:
            out[n].append(np.asarray(path[n])[index])
    return {n: np.stack(x) for n, x in out.items()}


def reference_forecasts(test: TileDataset, leads: list[int],
                        climatology: dict[str, np.ndarray]) -> dict[str, dict]:
    """Forecasts that need no model, in ``forecast``'s layout: ``persistence``
    (the initial snapshot at every lead) and ``climatology`` (``climatology[name]``,
    e.g. the training period's time mean per cell, at every lead)."""
    n_traj = test.shape[0]
    persistence = {n: np.repeat(x[:, :1], len(leads), axis=1)
                   for n, x in test.fields.items()}
    clim = {n: np.broadcast_to(climatology[n], (n_traj, len(leads))
                               + climatology[n].shape)
            for n in test.fields}
    return {"persistence": persistence, "climatology": clim}


def _scores(w, p, t, mean, context) -> tuple[float, float]:
    """(RMSE, anomaly correlation) of ``p`` against ``t``, cells weighted by ``w``
    (broadcast over leading axes), anomalies from ``mean``; global over ranks."""
    total = float(global_sum(jnp.asarray(w), context)) * p.shape[0]
    mse = float(global_sum(jnp.asarray(w * (p - t) ** 2), context)) / total
    pa, ta = p - mean, t - mean
    cov = float(global_sum(jnp.asarray(w * pa * ta), context))
    var_p = float(global_sum(jnp.asarray(w * pa**2), context))
    var_t = float(global_sum(jnp.asarray(w * ta**2), context))
    return mse**0.5, cov / max((var_p * var_t) ** 0.5, 1e-300)


def skill(hybrid, predicted: dict, test: TileDataset, leads: list[int], stats,
          context) -> dict:
    """Per field and lead: RMSE (field units and / std) and anomaly correlation
    (anomalies from the training mean per level), area-weighted over wet cells
    and averaged over trajectories; for fields with levels also per level
    (``rmse_levels``/``acc_levels``: [lead][level]); global over ranks
    (reproducible sums)."""
    weights = cell_weights(hybrid)
    result = {}
    for name, pred in predicted.items():
        w = np.asarray(weights[name])
        truth = test.fields[name][:, np.asarray(leads)]
        mean = np.asarray(stats.mean[name]).reshape(-1, 1, 1)
        rows = {"rmse": [], "rmse_normalised": [], "acc": []}
        levels = pred.ndim == 5
        if levels:
            rows |= {"rmse_levels": [], "acc_levels": []}
        for k in range(len(leads)):
            p = pred[:, k].reshape((pred.shape[0],) + w.shape)
            t = truth[:, k].reshape(p.shape)
            # a diverged forecast scores NaN (the exact global sum cannot carry
            # NaN/inf: it would come back as a finite number)
            if context.any_rank(not np.all(np.isfinite(p[..., w > 0]))):
                for key in rows:
                    rows[key].append(float("nan") if "levels" not in key
                                     else [float("nan")] * w.shape[0])
                continue
            rmse, acc = _scores(w, p, t, mean, context)
            rows["rmse"].append(rmse)
            rows["rmse_normalised"].append(rmse / float(np.mean(stats.std[name])))
            rows["acc"].append(acc)
            if levels:
                per = [_scores(w[z], p[:, z], t[:, z], mean[z], context)
                       for z in range(w.shape[0])]
                rows["rmse_levels"].append([r for r, _ in per])
                rows["acc_levels"].append([a for _, a in per])
        result[name] = rows
    return result


def _percent(better: list[float], base: list[float]) -> list[float]:
    """RMSE reduction of ``better`` relative to ``base`` in % (NaN stays NaN)."""
    return [100.0 * (1 - b / a) if a else 0.0 for b, a in zip(better, base,
                                                               strict=True)]


def compare(hybrid, trained, physics_only, test: TileDataset, leads_days, stats,
            context, baselines: dict | None = None,
            climatology: dict | None = None) -> dict:
    """Physics-only vs hybrid skill at the lead times (days) the data allow.

    ``baselines``: further labelled parameter sets (e.g. ``"physics_tuned"``:
    the core with trained physical parameters and no corrector), each scored
    too, with ``improvement_percent_<label>`` (its RMSE change vs physics-only)
    and ``hybrid_vs_<label>_percent`` (the hybrid's RMSE change vs it: the
    corrector's added value). ``climatology`` (name -> this tile's field, e.g.
    the training mean per cell): persistence and climatology forecasts are
    scored as further baselines. ``stable[label]``: its forecast stayed finite
    to the last lead (a NaN, once there, persists).
    """
    leads = lead_steps(list(leads_days), hybrid.dt, test.shape[1])
    out = {"lead_steps": leads,
           "lead_days": [s * hybrid.dt / 86400.0 for s in leads]}
    runs = {"physics": physics_only, **(baselines or {}), "hybrid": trained}
    predictions = {label: forecast(hybrid, params, test, leads)
                   for label, params in runs.items()}
    if climatology is not None:
        predictions |= reference_forecasts(test, leads, climatology)
        baselines = {**(baselines or {}), "persistence": None, "climatology": None}
    for label, predicted in predictions.items():
        out[label] = skill(hybrid, predicted, test, leads, stats, context)
    rmse = lambda label, name: out[label][name]["rmse"]  # noqa: E731
    names = list(out["hybrid"])
    out["improvement_percent"] = {
        n: _percent(rmse("hybrid", n), rmse("physics", n)) for n in names}
    for label in baselines or {}:
        out[f"improvement_percent_{label}"] = {
            n: _percent(rmse(label, n), rmse("physics", n)) for n in names}
        out[f"hybrid_vs_{label}_percent"] = {
            n: _percent(rmse("hybrid", n), rmse(label, n)) for n in names}
    out["stable"] = {label: bool(all(np.isfinite(rmse(label, n)[-1]) for n in names))
                     for label in predictions}
    return out


def write_report(result: dict, path: str | Path) -> tuple[Path, Path]:
    """``path``.json and a ``path``.png plot of RMSE / ACC vs lead, and for fields
    with levels ``path``_levels.png of RMSE per level at each lead (rank 0 only)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on compute nodes
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    json_path, png_path = path.with_suffix(".json"), path.with_suffix(".png")
    json_path.write_text(json.dumps(result, indent=2))
    names = list(result["hybrid"])
    # log scale: the models' RMSEs differ by decades at long leads
    fig, axes = plt.subplots(2, len(names), figsize=(4 * len(names), 6),
                             squeeze=False)
    days = result["lead_days"]
    labels = list(result.get("stable", ("physics", "hybrid")))
    styles = {"physics": "o--", "hybrid": "s-", "persistence": "x:",
              "climatology": "k-."}
    for col, name in enumerate(names):
        for label in labels:
            style = styles.get(label, "^:")
            axes[0, col].plot(days, result[label][name]["rmse_normalised"], style,
                              label=label)
            axes[1, col].plot(days, result[label][name]["acc"], style, label=label)
        axes[0, col].set_yscale("log")
        axes[0, col].set_title(name)
        axes[0, col].set_ylabel("RMSE / std")
        axes[1, col].set_ylabel("anomaly correlation")
        axes[1, col].set_xlabel("lead (days)")
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    layered = [n for n in names if "rmse_levels" in result["hybrid"][n]]
    if layered:  # RMSE per level at each lead: where in the column errors grow
        _plot_levels(result, layered, labels, styles,
                     path.with_name(path.name + "_levels.png"))
    return json_path, png_path


def _plot_levels(result, names, labels, styles, png_path: Path) -> None:
    import matplotlib.pyplot as plt

    leads = result["lead_days"]
    fig, axes = plt.subplots(len(names), len(leads), squeeze=False,
                             figsize=(3 * len(leads), 3 * len(names)))
    for row, name in enumerate(names):
        for col, day in enumerate(leads):
            ax = axes[row, col]
            for label in labels:
                rmse = result[label][name]["rmse_levels"][col]
                ax.plot(rmse, np.arange(len(rmse)), styles.get(label, "^:"),
                        label=label)
            ax.invert_yaxis()
            ax.set_title(f"{name}, {day:g} d")
            ax.set_xlabel("RMSE")
            ax.set_ylabel("level")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)

"""Pilot of the eddying_gyre case at one resolution: EKE/MKE, jet, a picture.

    python benchmarks/gyre/pilot.py --nx 200 --years 6 --spinup 3 --out pilot10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from neuralogcm_hpc.analysis import metrics  # noqa: E402
from neuralogcm_hpc.cases import build_model, case_config, with_derived  # noqa: E402
from neuralogcm_hpc.config import parse_overrides  # noqa: E402

DAY = 86400.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nx", type=int, default=200)
    ap.add_argument("--years", type=float, default=6.0)
    ap.add_argument("--spinup", type=float, default=3.0)
    ap.add_argument("--every-days", type=float, default=5.0)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sets = parse_overrides(a.set)
    cfg = case_config("eddying_gyre").replace(
        **{"grid.nx": a.nx, "grid.ny": a.nx, **sets})
    cfg = with_derived(cfg, set(sets))
    model = build_model(cfg)
    params = model.default_params()
    per = round(a.every_days * DAY / cfg.time.dt)
    adv = jax.jit(model.advance, static_argnums=2)
    state = model.initial_state()
    n_total = round(a.years * 365 / a.every_days)
    n_spin = round(a.spinup * 365 / a.every_days)
    snaps, t0 = {"u": [], "v": [], "ssh": []}, time.time()
    log = []
    for i in range(n_total):
        state = adv(state, params, per)
        f = jax.device_get(model.fields(state))
        if not np.isfinite(f["ssh"]).all():
            print(f"NaN at snapshot {i}", flush=True)
            break
        if i >= n_spin:
            for n in snaps:
                snaps[n].append(f[n])
        if i % 36 == 0:
            ke = 0.5 * float(np.mean(f["u"] ** 2 + f["v"] ** 2))
            print(f"day {(i + 1) * a.every_days:.0f} KE {ke:.4f} "
                  f"ssh [{f['ssh'].min():.1f}, {f['ssh'].max():.1f}] "
                  f"{time.time() - t0:.0f}s", flush=True)
            log.append(ke)
    s = {n: np.stack(x) for n, x in snaps.items()}
    band = metrics.jet_band(cfg.grid.ny)
    e = metrics.energy_split(s["u"], s["v"], band)
    um, _ = metrics.to_centres(s["u"].mean(0), s["v"].mean(0))
    out = {"nx": a.nx, "sets": sets, "years_used": len(s["u"]) * a.every_days / 365,
           "eke": e["eke"], "mke": e["mke"], "eke_over_mke": e["eke"] / e["mke"],
           "jet_penetration_km": metrics.jet_penetration(um, cfg.grid.dx) / 1e3,
           "ssh_range": [float(s["ssh"].min()), float(s["ssh"].max())],
           "wall_s": time.time() - t0}
    print(json.dumps(out), flush=True)
    Path(a.out + ".json").write_text(json.dumps(out, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 4))
    for axis, field, title in ((ax[0], s["ssh"][-1], "ssh (m), last"),
                               (ax[1], s["ssh"].mean(0), "ssh time mean (m)"),
                               (ax[2], np.sqrt(2 * e["eke_map"]), "eddy speed (m/s)")):
        im = axis.imshow(field, origin="lower", cmap="RdBu_r" if "ssh" in title
                         else "viridis")
        axis.set_title(title)
        fig.colorbar(im, ax=axis)
    fig.suptitle(f"eddying_gyre nx={a.nx} {sets}: EKE/MKE {out['eke_over_mke']:.2f}")
    fig.savefig(a.out + ".png", dpi=80)


if __name__ == "__main__":
    main()

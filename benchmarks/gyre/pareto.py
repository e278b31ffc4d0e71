"""Error vs cost of every gyre model from the evaluation record (log axes).

    python benchmarks/gyre/pareto.py benchmarks/results/gyre.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path((argv or sys.argv[1:] or ["benchmarks/results/gyre.json"])[0])
    results = json.loads(path.read_text())["results"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("mean_ssh_rmse_rel", "time-mean ssh RMSE / std"),
              ("eke_error", "|EKE / EKE_truth - 1|"))
    for ax, (key, label) in zip(axes, panels, strict=True):
        for name, r in results.items():
            if not r.get("finite") or not r.get("wall_s_per_year"):
                continue
            err = abs(r["eke_ratio"] - 1) if key == "eke_error" else r[key]
            style = "r*" if name == "hybrid" else "ko"
            ax.plot(r["wall_s_per_year"], err, style, ms=12 if name == "hybrid" else 6)
            ax.annotate(name, (r["wall_s_per_year"], err), fontsize=7,
                        xytext=(4, 2), textcoords="offset points")
        truth = results.get("truth_10km", {}).get("wall_s_per_year")
        if truth:
            ax.axvline(truth, color="grey", ls="--")
            ax.annotate("10 km truth cost", (truth, ax.get_ylim()[1]), fontsize=7,
                        rotation=90, va="top", ha="right")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("wall-seconds per simulated year (2-core machine)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle("eddying gyre at 40 km: error vs cost (10-year free runs, "
                 "independent truth)")
    fig.tight_layout()
    out = path.with_name(path.stem + "_pareto.png")
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

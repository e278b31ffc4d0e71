"""PNG figures of the benchmark JSON results (scaling efficiency, halo cost).

Usage: python benchmarks/plot.py [--results benchmarks/results] [--out same]
Draws whichever results exist: scaling.png from scaling.json, halo.png from
halo.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _subtitle(record: dict) -> str:
    m = record["machine"]
    return f"{m['cpu']}, {m['cores']} cores, {record['date'][:10]}, git {record['git']}"


def plot_scaling(record: dict, out: Path) -> None:
    fig, (eff, thr) = plt.subplots(1, 2, figsize=(11, 4))
    for kind, marker in (("strong", "o"), ("weak", "s")):
        rows = record["results"][kind]
        if not rows:
            continue
        ranks = [r["ranks"] for r in rows]
        grid = "x".join(map(str, rows[0]["grid"]))
        per = "total" if kind == "strong" else "per rank"
        label = f"{kind} ({grid} {per})"
        if "efficiency" in rows[0]:
            eff.plot(ranks, [r["efficiency"] for r in rows], marker=marker, label=label)
        if "efficiency_cpu" in rows[0]:
            eff.plot(
                ranks, [r["efficiency_cpu"] for r in rows], marker=marker, ls="--",
                label=f"{kind}, from CPU time",
            )
        thr.plot(
            ranks, [r["cell_updates_per_s"] / 1e6 for r in rows], marker=marker,
            label=label,
        )
    eff.axhline(1.0, color="grey", lw=0.8, ls="--")
    eff.set(xlabel="MPI ranks", ylabel="parallel efficiency", ylim=(0, 1.1))
    thr.set(xlabel="MPI ranks", ylabel="cell updates per second (millions)")
    for ax in (eff, thr):
        ax.set_xscale("log", base=2)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"{record.get('case', '')} scaling — {_subtitle(record)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_halo(record: dict, out: Path) -> None:
    rows = record["results"]
    ranks = [str(r["ranks"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.25
    for i, (key, label) in enumerate(
        (("exchange_s", "halo exchange"), ("stencil_s", "5-point stencil"),
         ("step_s", "exchange + stencil"))
    ):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        ax.bar(xs, [r[key] * 1e3 for r in rows], width, label=label)
    ax.set_xticks(range(len(rows)), ranks)
    ax.set(xlabel="MPI ranks", ylabel="ms per step (slowest rank)")
    grid = "x".join(map(str, record.get("grid", [])))
    ax.set_title(f"halo vs stencil, {grid} grid — {_subtitle(record)}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or args.results
    out.mkdir(parents=True, exist_ok=True)
    drawn = 0
    for name, draw in (("scaling", plot_scaling), ("halo", plot_halo)):
        path = args.results / f"{name}.json"
        if path.exists():
            draw(json.loads(path.read_text()), out / f"{name}.png")
            print(f"wrote {out / name}.png")
            drawn += 1
    if not drawn:
        print(f"no scaling.json or halo.json in {args.results}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

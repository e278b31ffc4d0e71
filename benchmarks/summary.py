"""Markdown tables of the benchmark results, written into benchmarks/README.md.

Usage: python benchmarks/summary.py [--write]
Prints the tables; --write replaces the text between the results markers of
benchmarks/README.md, so the numbers there are always copied, never retyped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _load(name: str) -> dict | None:
    path = HERE / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _machine(record: dict) -> str:
    m = record["machine"]
    mpi = m.get("mpi", "?").split(",")[0]
    date = record["date"].replace("+00:00", "")
    return (
        f"{date} UTC, git `{record['git']}`: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['backend']} backend, jax {m['jax']}, "
        f"{mpi}; load average {m.get('load_average_1min', '?')} "
        "when the record was written"
    )


def halo_table(record: dict) -> str:
    grid = "x".join(map(str, record["grid"]))
    lines = [
        f"### Halo exchange vs stencil ({grid} grid, float64, width-1 halo)",
        "",
        _machine(record),
        "",
        "Wall ms per step (best of N, slowest rank); in brackets the CPU-time "
        "figure, which machine load does not inflate.",
        "",
        "| ranks | layout | exchange (ms) | 5-point stencil (ms) | exchange + stencil "
        "(ms) | exchange share | gradient / forward |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    nan = float("nan")
    for r in record["results"]:
        lines.append(
            f"| {r['ranks']} | {r['layout'][0]} x {r['layout'][1]} | "
            f"{r['exchange_s'] * 1e3:.2f} ({r.get('exchange_cpu_s', nan) * 1e3:.2f}) | "
            f"{r['stencil_s'] * 1e3:.2f} ({r.get('stencil_cpu_s', nan) * 1e3:.2f}) | "
            f"{r['step_s'] * 1e3:.2f} ({r.get('step_cpu_s', nan) * 1e3:.2f}) | "
            f"{100 * r['exchange_share_of_step']:.0f} % "
            f"({100 * r.get('exchange_share_cpu', nan):.0f} %) | "
            f"{r['gradient_over_forward']:.2f} "
            f"({r.get('gradient_over_forward_cpu', nan):.2f}) |"
        )
    return "\n".join(lines)


def scaling_table(record: dict) -> str:
    triad = record.get("triad", {})
    lines = [
        f"### Scaling of the `{record['case']}` model step "
        f"({record['steps_per_call']} steps per jitted call)",
        "",
        _machine(record),
        "",
        f"STREAM triad, one core: {triad.get('best_gb_per_s', float('nan')):.2f} GB/s.",
        "",
        "| kind | grid | ranks | ms / step (CPU ms) | Mcell updates / s | efficiency "
        "(CPU-time efficiency) | SYPD | roofline fraction / rank |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    nan = float("nan")
    for kind in ("strong", "weak"):
        for r in record["results"][kind]:
            lines.append(
                f"| {kind} | {r['grid'][0]} x {r['grid'][1]} | {r['ranks']} | "
                f"{r['step_s'] * 1e3:.1f} ({r.get('step_cpu_s', nan) * 1e3:.1f}) | "
                f"{r['cell_updates_per_s'] / 1e6:.2f} | "
                f"{r.get('efficiency', nan):.2f} "
                f"({r.get('efficiency_cpu', nan):.2f}) | "
                f"{r['sypd']:.2f} | {r.get('roofline_fraction_per_rank', nan):.2f} |"
            )
    return "\n".join(lines)


def io_table(record: dict) -> str:
    lines = [
        "### Output and checkpoint I/O (benchmarks/io.py)",
        "",
        _machine(record),
        "",
        "| ranks | MB / record | I/O share, sync | I/O share, async "
        "| write MB/s (sync) | checkpoint save (s) | checkpoint load (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in record["results"]:
        lines.append(
            f"| {r['ranks']} | {r['record_mb']:.1f} | "
            f"{100 * r['sync']['io_share']:.0f} % | "
            f"{100 * r['async']['io_share']:.0f} % | {r['sync']['mb_per_s']:.0f} | "
            f"{r['checkpoint']['save_s']:.2f} | "
            f"{r['checkpoint']['load_s']:.2f} |"
        )
    return "\n".join(lines)


def training_table(record: dict) -> str:
    """Test-set RMSE per variable and lead: physics-only, physics with the trained
    viscosity, hybrid; training memory / throughput vs rollout length."""
    lines = [
        f"### Training-loop smoke test (benchmarks/training.py, {record['grid'][0]}"
        f" x {record['grid'][1]} steady channel; retired as a skill benchmark: see "
        "the eddying gyre, benchmarks/gyre/)",
        "",
    ]
    if (sk := record.get("skill")) is not None:
        labels = [k for k in ("physics", "physics_tuned", "physics_scan", "hybrid")
                  if k in sk]
        # the corrector's own added value: vs the best physics-only baseline
        ref = next((k for k in ("physics_scan", "physics_tuned") if k in sk), None)
        lines += [
            "Test-set RMSE (field units; in brackets the change vs physics-only) "
            f"at each lead; stable over the test horizon: {sk.get('stable', '?')}.",
            "",
            "| field | lead (days) | " + " | ".join(labels) + " |"
            + (f" hybrid vs {ref} |" if ref else ""),
            "| --- | --- |" + " --- |" * (len(labels) + bool(ref)),
        ]
        for name in sk["hybrid"]:
            for k, day in enumerate(sk["lead_days"]):
                cells = []
                for label in labels:
                    r, p = sk[label][name]["rmse"][k], sk["physics"][name]["rmse"][k]
                    change = f" ({100 * (r / p - 1):+.0f} %)"
                    cells.append(f"{r:.3g}" + ("" if label == "physics" else change))
                if ref:
                    r, p = (sk[x][name]["rmse"][k] for x in ("hybrid", ref))
                    cells.append(f"{100 * (r / p - 1):+.0f} %")
                lines.append(f"| {name} | {day:g} | " + " | ".join(cells) + " |")
        lines += ["", sk.get("note", ""), ""]
    rows = record.get("memory_throughput", [])
    if rows:
        lines += [
            "| rollout | checkpointing | XLA temp memory (MB) | samples / s |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['rollout']} | {'yes' if r['checkpointing'] else 'no'} | "
            f"{r['temp_bytes'] / 1e6:.1f} | {r['samples_per_s']:.2f} |"
            for r in rows
        ]
    return "\n".join(lines)


def throughput_sw_table(record: dict) -> str:
    """beta_plane throughput: model (default integrator) vs RK3 vs the baseline."""
    triad = record.get("triad", {}).get("best_gb_per_s")
    lines = [
        "### Shallow-water throughput (beta_plane, benchmarks/throughput_sw.py)",
        "",
        _machine(record)
        + (f"; STREAM triad {triad:.2f} GB/s per core" if triad else ""),
        "",
        "Wall ms per step (best of N, slowest rank; CPU ms in brackets). "
        "Speedup = baseline step / model step at the same grid, precision and "
        "ranks; exchange ratio = model / the same step with a local copy in "
        "place of the exchange; both are medians of ratios over interleaved "
        "rounds (records before 2026-11-24T10:00 divided best times); load = "
        "1-min load average when the job started.",
        "",
        "| grid | precision | ranks | integrator | exchanges / step | model (ms) | "
        "cell updates / s | RK3 (ms) | baseline (ms, 13 exch.) | speedup | "
        "exchange ratio | roofline | load |",
        "|" + " --- |" * 13,
    ]
    for r in record["results"]:
        ratio = r.get("exchange_ratio")
        roof = r.get("roofline_fraction")
        rk3 = r.get("model_rk3", {})
        lines.append(
            f"| {r['grid']} | {r['precision']} | {r['ranks']} | "
            f"{r.get('integrator', 'rk3')} | {r['exchanges_traced_per_step']} | "
            f"{r['model']['step_s'] * 1e3:.2f} "
            f"({r['model']['cpu_step_s'] * 1e3:.2f}) | "
            f"{r['model']['cell_updates_per_s'] / 1e6:.1f} M | "
            + (f"{rk3['step_s'] * 1e3:.2f} | " if rk3 else "- | ")
            + f"{r['baseline']['step_s'] * 1e3:.2f} "
            f"({r['baseline']['cpu_step_s'] * 1e3:.2f}) | "
            f"{r['speedup_vs_baseline']:.2f} | "
            + (f"{ratio:.2f} | " if ratio else "- | ")
            + (f"{100 * roof:.0f} % | " if roof else "- | ")
            + f"{r.get('load_average_1min_at_start', '?')} |"
        )
    return "\n".join(lines)


def throughput_pe_table(record: dict) -> str:
    """global (primitive equations) throughput per rank count and precision."""
    lines = [
        "### Primitive-equation throughput (global, benchmarks/throughput_pe.py)",
        "",
        _machine(record),
        "",
        "Wall ms per step (best of N, slowest rank; CPU ms in brackets); cell "
        "updates count all 240 x 106 x 23 cells, land included.",
        "",
        "| precision | ranks | exchanges / step | ms / step | cell updates / s | "
        "sim. days / wall s |",
        "|" + " --- |" * 6,
    ]
    for r in record["results"]:
        lines.append(
            f"| {r['precision']} | {r['ranks']} | "
            f"{r.get('exchanges_traced_per_step', r['exchanges_per_step'])} | "
            f"{r['step_s'] * 1e3:.0f} ({r['cpu_step_s'] * 1e3:.0f}) | "
            f"{r['cell_updates_per_s'] / 1e6:.2f} M | "
            f"{r['sim_days_per_wall_s']:.3f} |"
        )
    return "\n".join(lines)


def tables() -> str:
    parts = []
    if (sw := _load("throughput_sw")) is not None:
        parts.append(throughput_sw_table(sw))
    if (pe := _load("throughput_pe")) is not None:
        parts.append(throughput_pe_table(pe))
    if (halo := _load("halo")) is not None:
        parts.append(halo_table(halo))
    if (scaling := _load("scaling")) is not None:
        parts.append(scaling_table(scaling))
    if (io := _load("io")) is not None:
        parts.append(io_table(io))
    if (training := _load("training")) is not None:
        parts.append(training_table(training))
    return "\n\n".join(parts) if parts else "(no results yet)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    text = tables()
    if not args.write:
        print(text)
        return 0
    readme = HERE / "README.md"
    current = readme.read_text()
    if BEGIN not in current or END not in current:
        print(f"{readme} lacks the {BEGIN} / {END} markers", file=sys.stderr)
        return 1
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

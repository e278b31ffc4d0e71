"""Benchmark infrastructure: result records, timing, triad, weak grids, plots."""

import json
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import plot  # noqa: E402
import scaling  # noqa: E402


def test_write_result_records_machine_date_and_git(tmp_path):
    path = common.write_result("demo", [{"x": 1}], out_dir=tmp_path, grid=[8, 8])
    record = json.loads(path.read_text())
    assert record["results"] == [{"x": 1}] and record["grid"] == [8, 8]
    assert record["machine"]["cores"] >= 1 and record["machine"]["jax"]
    assert record["date"].endswith("+00:00") and record["git"]


def test_time_call_and_triad():
    timing = common.time_call(lambda x: x * 2, jnp.ones(1000), warmup=1, repeat=3)
    assert 0 < timing["min_s"] <= timing["median_s"] <= timing["max_s"]
    triad = common.triad_bandwidth(n=2**16, repeat=3)
    assert triad["bytes_per_call"] == 3 * 8 * 2**16 and triad["gb_per_s"] > 0


def test_last_json_line_takes_the_last_tagged_line():
    out = 'noise\nRESULT {"a": 1}\nRESULT {"a": 2}\n'
    assert common.last_json_line(out) == {"a": 2}
    with pytest.raises(RuntimeError, match="no RESULT line"):
        common.last_json_line("nothing")


def test_weak_grid_doubles_alternately():
    assert [scaling.weak_grid((256, 128), r) for r in (1, 2, 4, 8)] == [
        (256, 128),
        (512, 128),
        (512, 256),
        (1024, 256),
    ]
    with pytest.raises(ValueError, match="powers of two"):
        scaling.weak_grid((8, 8), 3)


def test_plots_from_result_files(tmp_path):
    row = {"grid": [64, 32], "cell_updates_per_s": 1e6, "efficiency": 1.0}
    common.write_result(
        "scaling",
        {
            "strong": [{**row, "ranks": 1}, {**row, "ranks": 2, "efficiency": 0.8}],
            "weak": [{**row, "ranks": 1}],
        },
        out_dir=tmp_path,
        case="beta_plane",
    )
    halo_row = {"exchange_s": 1e-3, "stencil_s": 2e-3, "step_s": 3e-3}
    common.write_result(
        "halo",
        [{**halo_row, "ranks": r} for r in (1, 2)],
        out_dir=tmp_path,
        grid=[64, 64],
    )
    assert plot.main(["--results", str(tmp_path)]) == 0
    for name in ("scaling.png", "halo.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_performance_model_splits_work_and_messages():
    from benchmarks import perf_model

    m = {
        "grid": [1024, 1024, 1],
        "levels": 1,
        "bytes_per_cell": 800.0,
        "kernels": 25,
        "exchanges_per_step": 1,
        "halo": 2,
        "mode": "shallow_water",
    }
    one, four = (perf_model.step_time(m, n, 3350.0) for n in (1, 4))
    assert one["comm_ms"] == 0 and four["layout"] == [2, 2]
    assert four["compute_ms"] == pytest.approx(one["compute_ms"] / 4)
    # 2 tiled axes x 2 directions, each message latency + bytes / bandwidth
    message = 2 * (512 + 4) * 3 * 8.0
    link = perf_model.LINKS["NVLink 4 (in a node of 8)"]
    expected = 4 * (link["latency_us"] * 1e-3 + 1e3 * message / (link["GBps"] * 1e9))
    assert four["comm_ms"] == pytest.approx(expected)
    # tiles below the crossover are latency/launch bound, above it compute bound
    cross = perf_model.crossover_columns(m, 3350.0, 64)
    assert perf_model.step_time(m, 64, 3350.0, cross // 4)["bound"] != "compute"
    assert perf_model.step_time(m, 64, 3350.0, cross * 4)["bound"] == "compute"


def test_public_demo_comparison_is_of_the_same_flow(tmp_path):
    """benchmarks/vs_public_demo.py compares per simulated day with mpi4jax's
    demo: the beta_plane case must keep the demo's grid and physics constants,
    and the four programs are the demo at both precisions and ours at both
    precisions with a fresh and a filled compilation cache."""
    import vs_public_demo

    vs_public_demo.check_same_flow()
    table = vs_public_demo.variants(tmp_path / "shallow_water.py", tmp_path)
    assert table["demo_float64"][1] == {"JAX_ENABLE_X64": "1"}
    assert table["demo_float32"][0][-1] == "--benchmark"
    cold, warm = table["ours_float32_cold"], table["ours_float32_warm"]
    assert "precision=float32" in cold[0] and cold[2] and not warm[2]
    assert cold[1] == warm[1]  # the warm run reuses the cold run's cache

"""Reanalysis-layout files made by the project's own model at a finer grid ->
prepare -> train on 2 ranks -> evaluate (the documented command of
docs/real_data.md, scripts/real_data.sh), without downloads."""

import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr

from neuralogcm_hpc.grid import EARTH_RADIUS
from neuralogcm_hpc.prepare import model_data
from tests.integration.cli import ROOT, run_cli

EXAMPLE = ROOT / "docs" / "examples" / "glorys_small.toml"
NAMES = ("uo", "vo", "zos", "thetao", "so")
# one round-off per overlap product and per sum term (~1e-16 each, growing like
# sqrt(n) over ~2000 source cells); 1e-13 leaves a margin of ~10
ROUND_OFF = 1e-13


@pytest.fixture(scope="module")
def nature(tmp_path_factory):
    """16 daily snapshots of the primitive-equation `global` case at 60 x 32 x 8
    (6 x 5 degrees; the example trains at 24 x 12 x 4) in GLORYS layout, made
    once per module (measured 40-60 s on a shared core, the compile dominating).
    16 days: the example's split 0.5/0.25/0.25 of 4-snapshot trajectories
    leaves 2 for training, 1 for validation and 1 for testing."""
    out = tmp_path_factory.mktemp("nature")
    model_data.write(out, days=16, spinup_days=1)
    return out


def prepare(nature, data, *sets: str) -> dict:
    """`python -m neuralogcm_hpc.prepare` on the example config, paths moved."""
    proc = subprocess.run(
        [sys.executable, "-m", "neuralogcm_hpc.prepare", "--config", str(EXAMPLE),
         *overrides(nature, data), *sets],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("SUMMARY ")][-1]
    return json.loads(line[len("SUMMARY "):])


def overrides(nature, data) -> list[str]:
    return ["--set", f"prepare.sources={nature}/*.nc", "--set", f"train.data={data}",
            "--set", f"grid.bathymetry={data / 'grid.zarr'}"]


def areas(lon_edges, lat_edges) -> np.ndarray:
    """Exact lon-lat cell areas R^2 dlambda (sin phi_n - sin phi_s) [m2]."""
    band = np.diff(np.sin(np.radians(lat_edges)))
    return EARTH_RADIUS**2 * band[:, None] * np.radians(np.diff(lon_edges))[None]


def test_model_made_files_have_the_reanalysis_layout_and_move(nature):
    ds = xr.open_mfdataset(sorted(nature.glob("*.nc")))
    assert set(NAMES) <= set(ds.data_vars)
    assert all(ds[n].dtype == np.float32 for n in NAMES)
    assert ds.thetao.dims == ("time", "depth", "latitude", "longitude")
    assert np.issubdtype(ds.time.dtype, np.datetime64)
    assert np.all(np.diff(ds.time.values) == np.timedelta64(1, "D"))
    assert ds.depth.attrs["positive"] == "down" and ds.depth.attrs["units"] == "m"
    assert np.all(np.diff(ds.depth.values) > 0) and ds.depth.values[0] > 0
    assert ds.thetao.attrs["units"] == "degC" and "standard_name" in ds.uo.attrs
    temp = ds.thetao.values
    land = np.isnan(ds.zos.values[0])
    assert 0.1 < land.mean() < 0.5  # continents and polar caps
    assert np.isnan(temp[:, :, land]).all()
    # the ridge: the deepest level is dry below the sea floor where ssh is wet
    assert (np.isnan(temp[0, -1]) & ~land).any()
    wet = np.isfinite(temp)
    assert np.isfinite(ds.uo.values[wet]).all() and np.abs(ds.uo.values[wet]).max() < 3
    # the run evolves: a day's change is a sizeable part of the 15-day change
    day = np.nanstd(temp[1] - temp[0])
    assert 0 < day < np.nanstd(temp[-1] - temp[0])


def test_prepare_conserves_ssh_integrals_of_model_made_files(nature, tmp_path):
    """Every snapshot's area integral of ssh over the source's wet cells equals
    the model's (area x wet fraction x ssh) to round-off. A tiny
    min_wet_fraction makes every cell with a wet overlap an ocean cell, so no
    source water falls on model land."""
    data = tmp_path / "data"
    summary = prepare(nature, data, "--set", "prepare.min_wet_fraction=1e-9")
    src = xr.open_mfdataset(sorted(nature.glob("*.nc")))
    lon, lat = src.longitude.values.astype(float), src.latitude.values.astype(float)
    src_area = areas(np.r_[lon - 3.0, lon[-1] + 3.0], np.r_[lat - 2.5, lat[-1] + 2.5])
    grid = xr.open_zarr(data / "grid.zarr", consolidated=False)
    ny, nx = grid.bathymetry.shape
    model_area = areas(np.linspace(0, 360, nx + 1), np.linspace(-80, 80, ny + 1))
    weight = model_area * grid.wet_fraction.values
    checked = 0
    for split in ("train", "val", "test"):
        store = xr.open_zarr(data / f"{split}.zarr", consolidated=False)
        days = np.rint(store.start_time.values / 86400.0).astype(int)
        for k, first in enumerate(days):
            for t in range(store.sizes["time"]):
                zos = src.zos.values[first + t].astype(np.float64)
                whole = np.nansum(src_area * zos)
                mapped = np.sum(weight * store.ssh.values[k, t])
                assert abs(mapped - whole) <= ROUND_OFF * np.nansum(
                    src_area * np.abs(zos)
                )
                checked += 1
    assert checked == 16
    # restoring targets at every prepared snapshot, in model seconds
    forcing = xr.open_zarr(summary["forcing"], consolidated=False)
    assert forcing.sizes["time"] == 16 and forcing.temp_star.shape[1:] == (ny, nx)


@pytest.mark.slow  # 10-16 min on one shared core (the PE gradient compile dominates)
def test_model_made_files_to_trained_evaluated_hybrid_on_2_ranks(nature, tmp_path):
    data = tmp_path / "data"
    prepare(nature, data)
    run = tmp_path / "run"
    proc, summary = run_cli(
        2, "train", "--config", str(EXAMPLE), *overrides(nature, data),
        "--set", "train.checkpoint_every=1", "--set", "checkpoint.keep=3",
        # the prepared restoring targets, read per step through the host callback
        "--set", f"physics.forcing={data / 'forcing.zarr'}",
        "--checkpoint-dir", str(run), timeout=2400,
    )
    assert summary["steps"] == 2 and math.isfinite(summary["loss"])
    losses = [float(x) for x in re.findall(r"step \d+/2 loss (\S+)", proc.stdout)]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    # the optimiser moved the parameters: checkpoints 1 and 2 differ
    stores = [zarr.open_group(str(run / f"ckpt-{s:012d}"), mode="r") for s in (1, 2)]
    moved = [
        not np.array_equal(stores[0]["replicated"][k][...],
                           stores[1]["replicated"][k][...])
        for k in stores[0]["replicated"].array_keys()
        if k.startswith(("physics", "network"))
    ]
    assert any(moved)
    skill = json.loads((run / "skill.json").read_text())
    assert skill["lead_days"] == [1.0, 2.0, 3.0]
    for label in ("physics", "hybrid", "persistence", "climatology"):
        for name in ("u", "v", "temp", "salt", "ssh"):
            for metric in ("rmse", "acc"):
                assert len(skill[label][name][metric]) == 3
                assert all(math.isfinite(r) for r in skill[label][name][metric])
        for name in ("u", "v", "temp", "salt"):  # one value per level and lead
            for metric in ("rmse_levels", "acc_levels"):
                assert [len(r) for r in skill[label][name][metric]] == [4, 4, 4]
    # reported, not asserted: two optimisation steps need not beat persistence
    for name in ("u", "temp", "ssh"):
        print(name, {k: [round(r, 5) for r in skill[k][name]["rmse"]]
                     for k in ("hybrid", "physics", "persistence", "climatology")})
    for png in ("skill.png", "skill_levels.png"):
        assert (run / png).stat().st_size > 0

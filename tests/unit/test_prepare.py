"""prepare: conservative regridding, land/bathymetry from NaNs, stores, errors."""

import json

import numpy as np
import pytest
import xarray as xr

from neuralogcm_hpc.cases import case_config
from neuralogcm_hpc.prepare import synthetic
from neuralogcm_hpc.prepare.conservative import (
    cell_areas,
    edges_from_centres,
)
from neuralogcm_hpc.prepare.names import PrepareError, mapping
from neuralogcm_hpc.prepare.pipeline import prepare, split_starts
from neuralogcm_hpc.prepare.provenance import sha256
from neuralogcm_hpc.prepare.target import Target, regridders
from neuralogcm_hpc.prepare.vertical import level_overlaps, source_level_edges

# Round-off of sums over ~1e4 products of magnitude ~1e10 m2: ~1e-15 relative
# per operation, growing like sqrt(n); 1e-13 leaves a margin of ~10.
ROUND_OFF = 1e-13


def tiny(**changes):
    """`global` at 15 x 13.3 degrees, 4 levels; daily hybrid steps."""
    base = {
        "grid.nx": 24,
        "grid.ny": 12,
        "grid.nz": 4,
        "grid.dz_surface": 50.0,
        "time.dt": 3600.0,
        "train.cadence": 24,
        "train.trajectory_length": 3,
        "prepare.split": "0.5,0.25,0.25",
    }
    return case_config("global").replace(**{**base, **changes})


def source_grid(rng):
    """A 1.125 x 0.8-degree grid whose cells straddle the model's edges, the
    model's latitude range exactly (edges at +-80), longitudes from -179.7."""
    lon = -179.7 + 1.125 * np.arange(320)  # 320 x 1.125 = 360: periodic
    lat = -79.6 + 0.8 * np.arange(200)  # edges -80 .. 80
    field = rng.normal(size=(lat.size, lon.size)) * 10 + 5
    field[rng.random(field.shape) < 0.3] = np.nan  # scattered land
    field[40:80, 100:160] = np.nan  # and a continent
    return lon, lat, field


def test_regridding_conserves_the_area_integral_of_a_field_with_land():
    rng = np.random.default_rng(0)
    lon, lat, field = source_grid(rng)
    target = Target.from_config(tiny())
    maps = regridders(target, lon, lat)
    lon_e, lat_e = edges_from_centres(lon), edges_from_centres(lat)
    area = cell_areas(lat_e, lon_e)
    wet = np.isfinite(field)
    source_integral = np.sum(np.where(wet, field, 0) * area)
    integral, wet_area = maps["c"].sums(field)
    mean = integral / np.where(wet_area > 0, wet_area, 1)
    # the conservative mean, weighted by the wet area it stands for
    assert np.sum(mean * wet_area) == pytest.approx(source_integral, rel=ROUND_OFF)
    assert wet_area.sum() == pytest.approx(area[wet].sum(), rel=ROUND_OFF)
    # all-wet cells of the model: their areas are the model's exact areas
    model_area = cell_areas(target.lat, target.lon)
    assert maps["c"].sums(np.ones_like(field))[1] == pytest.approx(
        model_area, rel=ROUND_OFF
    )


def test_constant_stays_constant_on_centres_and_faces():
    lon, lat, field = source_grid(np.random.default_rng(1))
    field = np.where(np.isfinite(field), 7.25, np.nan)
    for position, regrid in regridders(Target.from_config(tiny()), lon, lat).items():
        integral, area = regrid.sums(field)
        has = area > 0
        np.testing.assert_allclose(
            integral[has] / area[has], 7.25, rtol=1e-14, err_msg=position
        )


def test_vertical_mapping_conserves_the_thickness_integral():
    depth = np.array([0.5, 3.0, 10.0, 40.0, 120.0, 400.0, 900.0])
    src = source_level_edges(depth)
    model = np.concatenate([[0.0], np.cumsum([37.0, 150.0, 400.0])])
    model = model * src[-1] / model[-1]  # the same total depth
    oz = level_overlaps(model, src)
    values = np.random.default_rng(2).normal(size=depth.size)
    mapped = oz @ values / oz.sum(axis=1)
    assert np.sum(mapped * np.diff(model)) == pytest.approx(
        np.sum(values * np.diff(src)), rel=ROUND_OFF
    )


def test_splits_are_contiguous_and_test_comes_last():
    starts = split_starts(20, "0.5,0.25,0.25", 3)
    assert starts == {"train": [0, 3, 6], "val": [10], "test": [15]}
    with pytest.raises(PrepareError, match="trajectory_length"):
        split_starts(8, "0.8,0.1,0.1", 3)


@pytest.fixture(scope="module")
def glorys(tmp_path_factory):
    """12 daily snapshots of synthetic GLORYS-layout NetCDF (2.5 deg, 12 levels)."""
    out = tmp_path_factory.mktemp("glorys")
    return synthetic.write(out, days=12, resolution=2.5, levels=12, files=3)


@pytest.fixture(scope="module")
def prepared(glorys, tmp_path_factory):
    """The synthetic files prepared, with ERA5-like winds and fluxes."""
    out = tmp_path_factory.mktemp("prepared")
    config = tiny(**{"prepare.sources": str(glorys[0].parent / "*.nc"),
                     "prepare.forcing_sources": str(era5(out / "era5.nc"))})
    return config, prepare(config, out, log=lambda *_: None), out


def test_prepare_writes_the_readers_layout_with_model_masks(prepared, glorys):
    from neuralogcm_hpc.cases import build_model
    from neuralogcm_hpc.parallel.context import ParallelContext
    from neuralogcm_hpc.parallel.decomposition import Decomposition
    from neuralogcm_hpc.training.data import read_tiles

    config, summary, out = prepared
    model = build_model(
        config.replace(**{"grid.bathymetry": str(out / "grid.zarr")}),
        ParallelContext(0, 1, None, None),
    )
    two = Decomposition(24, 12, 2, 1, True, False)
    tile = read_tiles(out / "train.zarr", model.prognostic_names, two, 1)
    assert tile.shape == (2, 3) and tile.dt == 86400.0
    # model time of each trajectory's start: days since the first snapshot
    np.testing.assert_array_equal(tile.start_time, [0.0, 3 * 86400.0])
    full = read_tiles(out / "test.zarr", model.prognostic_names, model.decomposition, 0)
    masks = {n: np.asarray(m) for n, m in model.masks().items()}
    g = model.grid
    for name, x in full.fields.items():
        mask = np.asarray(g.interior(masks[name]))
        assert np.all(np.isfinite(x))
        assert np.all(x[..., mask == 0] == 0), name  # land is 0
    temp = full.fields["temp"][..., np.asarray(g.interior(g.mask3_c)) > 0]
    assert 0 < temp.min() and temp.max() < 30  # plausible ocean temperatures
    ds = xr.open_zarr(out / "train.zarr", consolidated=False)
    assert ds.temp.attrs["standard_name"] == "sea_water_potential_temperature"
    assert ds.u.attrs["position"] == "west_face"
    sources = json.loads(ds.attrs["sources"])
    assert [s["sha256"] for s in sources] == [sha256(p) for p in glorys]
    assert json.loads(ds.attrs["mapping"])["temp"] == "thetao"
    assert summary["wet_cells"] == int((g.interior(g.depth) > 0).sum())
    # the restoring-target store: the data's surface T and S at model time
    forcing = xr.open_zarr(out / "forcing.zarr", consolidated=False)
    np.testing.assert_array_equal(forcing.time.values[:3], [0.0, 86400.0, 172800.0])
    test = xr.open_zarr(out / "test.zarr", consolidated=False)
    test_start = float(test.start_time.values[0])
    at = forcing.temp_star.sel(time=test_start).values
    np.testing.assert_allclose(at, full.fields["temp"][0, 0, 0], rtol=1e-12)


def test_bathymetry_comes_from_the_datas_nans(prepared):
    _, _, out = prepared
    grid = xr.open_zarr(out / "grid.zarr", consolidated=False)
    depth, frac = grid.bathymetry.values, grid.wet_fraction.values
    assert np.all((depth > 0) == (frac >= 0.5))
    # the box continent 20E-60E, 30S-60N is land in the model (15-degree cells
    # at 30E and 45E lie inside it), the Pacific at 180E deep
    lon, lat = grid.lon.values, grid.lat.values
    assert depth[np.abs(lat - 20) < 7][:, (lon > 20) & (lon < 60)].max() == 0
    assert depth[np.abs(lat) < 7][:, np.abs(lon - 187.5) < 1].min() > 2000


def test_clear_errors(glorys, tmp_path):
    config = tiny(**{"prepare.sources": str(glorys[0])})
    with pytest.raises(PrepareError, match="thetao_x"):
        prepare(config.replace(**{"prepare.names": "temp=thetao_x"}), tmp_path)
    kelvin = tmp_path / "kelvin.nc"
    ds = xr.open_dataset(glorys[0])
    ds.thetao.attrs["units"] = "K"
    ds.to_netcdf(kelvin, engine="h5netcdf")
    with pytest.raises(PrepareError, match="units 'K'"):
        prepare(tiny(**{"prepare.sources": str(kelvin)}), tmp_path)
    with pytest.raises(PrepareError, match="cannot map the source grid"):
        prepare(config.replace(**{"grid.lat_south": -85.0}), tmp_path)
    with pytest.raises(PrepareError, match="train.cadence"):
        prepare(config.replace(**{"train.cadence": 12}), tmp_path)
    with pytest.raises(PrepareError, match="unknown"):
        mapping("hycom")


def test_curvilinear_grids_are_refused(glorys, tmp_path):
    ds = xr.open_dataset(glorys[0])
    lat2, lon2 = xr.broadcast(ds.latitude, ds.longitude)
    curvi = ds.drop_vars(["latitude", "longitude"]).assign_coords(
        nav_lat=lat2.variable, nav_lon=lon2.variable
    )
    path = tmp_path / "orca.nc"
    curvi.to_netcdf(path, engine="h5netcdf")
    config = tiny(
        **{"prepare.sources": str(path), "prepare.names": "lat=nav_lat,lon=nav_lon"}
    )
    with pytest.raises(PrepareError, match="curvilinear"):
        prepare(config, tmp_path)


def test_sources_are_read_one_level_of_one_snapshot_at_a_time(glorys):
    from neuralogcm_hpc.prepare.source import open_source

    ds = open_source(glorys, mapping("glorys"))
    for name in ("u", "v", "temp", "salt"):
        # the dask chunk bounds memory: (time, depth) = (1, 1), full horizontal
        assert ds[name].data.chunksize == (1, 1, ds.sizes["lat"], ds.sizes["lon"])
    assert ds.ssh.data.chunksize == (1, ds.sizes["lat"], ds.sizes["lon"])
    assert ds.lat.values[0] < ds.lat.values[-1]


def era5(path, days: int = 12, hours: int = 6, **changes):
    """ERA5-like single-level file: 6-hourly 10 m wind and flux rates on a
    1-degree grid, latitude north to south as ERA5's; the wind blows
    (u, v) = (6, 8) m/s everywhere, the fluxes are uniform."""
    lon = np.arange(0.0, 360.0, 1.0)
    lat = np.arange(90.0, -90.5, -1.0)
    time = np.datetime64("2020-01-01", "ns") + np.arange(
        0, 24 * days, hours) * np.timedelta64(1, "h")
    shape = (time.size, lat.size, lon.size)
    values = {"u10": 6.0, "v10": 8.0, "msshf": -20.0, "mslhf": -100.0,
              "msnswrf": 200.0, "msnlwrf": -50.0}
    units = {n: "m s**-1" if n in ("u10", "v10") else "W m**-2" for n in values}
    units.update(changes.pop("units", {}))
    ds = xr.Dataset(
        {n: (("time", "latitude", "longitude"), np.full(shape, v, np.float32),
             {"units": units[n]}) for n, v in values.items() if n not in changes},
        coords={"time": time, "latitude": lat, "longitude": lon},
    )
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def test_era5_winds_and_fluxes_become_bulk_stress_and_net_heat(prepared):
    from neuralogcm_hpc.physics.bulk import wind_stress

    _, summary, _ = prepared
    forcing = xr.open_zarr(summary["forcing"], consolidated=False)
    tx, ty = wind_stress(6.0, 8.0)  # uniform: every face's conservative mean
    np.testing.assert_allclose(forcing.taux.values, tx, rtol=1e-13)
    # v faces: the southernmost row's cell reaches below 80S, still inside ERA5
    np.testing.assert_allclose(forcing.tauy.values, ty, rtol=1e-13)
    np.testing.assert_allclose(forcing.heat_flux.values, 30.0, rtol=1e-13)
    assert forcing.taux.attrs["units"] == "N m-2"
    assert forcing.sizes["time"] == 12  # one record per prepared snapshot


def test_era5_errors_name_the_variable_and_the_fix(glorys, tmp_path):
    base = {"prepare.sources": str(glorys[0].parent / "*.nc")}
    bad = {
        "no_v.nc": ({"v10": None}, "v10 .'v10'. is not in the files"),
        "part.nc": ({"mslhf": None}, "missing latent .'mslhf'."),
        "accum.nc": ({"units": {"msnswrf": "J m**-2"}}, "divide by its period"),
    }
    for name, (changes, message) in bad.items():
        path = era5(tmp_path / name, days=3, **changes)
        config = tiny(**{**base, "prepare.forcing_sources": str(path)})
        with pytest.raises(PrepareError, match=message):
            prepare(config, tmp_path / "out", log=lambda *_: None)
    short = era5(tmp_path / "short.nc", days=3)
    with pytest.raises(PrepareError, match="ocean data need"):
        prepare(tiny(**{**base, "prepare.forcing_sources": str(short)}),
                tmp_path / "out", log=lambda *_: None)

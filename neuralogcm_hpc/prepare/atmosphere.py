"""Atmospheric reanalysis (ERA5) -> model surface forcing: bulk stress, heat flux."""

from __future__ import annotations

import numpy as np
import xarray as xr

from neuralogcm_hpc.physics.bulk import wind_stress
from neuralogcm_hpc.prepare.names import PrepareError, preset_mapping
from neuralogcm_hpc.prepare.source import expand
from neuralogcm_hpc.prepare.target import Target, regridders

# canonical -> product names. ERA5 single levels (CDS netCDF): 10 m wind and
# the mean surface flux RATES [W m-2, positive downward]: sensible, latent, net
# short-wave, net long-wave. Newer CDS files call the time axis valid_time
# (prepare.forcing_names time=valid_time).
ATMOSPHERE_PRESETS = {
    "era5": {
        "u10": "u10",
        "v10": "v10",
        "sensible": "msshf",
        "latent": "mslhf",
        "shortwave": "msnswrf",
        "longwave": "msnlwrf",
        "lon": "longitude",
        "lat": "latitude",
        "time": "time",
    },
}
WIND = ("u10", "v10")
HEAT = ("sensible", "latent", "shortwave", "longwave")
WIND_UNITS = {"ms-1", "ms**-1", "m/s", "m.s-1"}
FLUX_UNITS = {"wm-2", "wm**-2", "w/m2", "w/m^2", "w.m-2"}


def atmosphere_mapping(preset: str, overrides: str = "") -> dict[str, str]:
    """Canonical -> source names of the forcing files: the preset with
    ``overrides`` applied."""
    return preset_mapping(ATMOSPHERE_PRESETS, preset, overrides,
                          "prepare.forcing_preset", "prepare.forcing_names")


def _check(ds: xr.Dataset, table: dict) -> tuple[str, ...]:
    """The heat-flux components present (all four or none); raises on missing
    winds or coordinates and on wrong units, naming what the files have."""
    have = sorted(map(str, ds.variables))
    for key in ("lon", "lat", "time", *WIND):
        if table[key] not in ds.variables:
            raise PrepareError(
                f"prepare.forcing_sources: {key} ({table[key]!r}) is not in the "
                f"files; they have {have} (rename with prepare.forcing_names)"
            )
    heat = [k for k in HEAT if table[k] in ds]
    if heat and len(heat) != len(HEAT):
        missing = [f"{k} ({table[k]!r})" for k in HEAT if k not in heat]
        raise PrepareError(
            f"prepare.forcing_sources: a net heat flux needs all of {', '.join(HEAT)}"
            f"; missing {', '.join(missing)} (the files have {have})"
        )
    for key, accepted, canonical in [(k, WIND_UNITS, "m s-1") for k in WIND] + [
        (k, FLUX_UNITS, "W m-2") for k in heat
    ]:
        units = ds[table[key]].attrs.get("units")
        if units is not None and "".join(units.split()).lower() not in accepted:
            hint = ""
            if "j" in units.lower():
                hint = (" (an accumulation such as ERA5's ssr/str: divide by its "
                        "period in s, e.g. 3600 for hourly data, or use the mean "
                        "rates msnswrf/msnlwrf)")
            raise PrepareError(
                f"{table[key]} ({key}) has units {units!r}; expected "
                f"{canonical!r}{hint}"
            )
    return tuple(heat)


def _window_means(times: np.ndarray, at: np.ndarray, interval: float) -> list:
    """For every target time: (indices, weights) of source records - the mean of
    those within half an interval when there are >= 2 (hourly winds -> a daily
    mean), else linear interpolation between the two around it."""
    out = []
    for t in at:
        inside = np.nonzero(np.abs(times - t) < 0.5 * interval)[0]
        if inside.size >= 2:
            out.append((inside, np.full(inside.size, 1.0 / inside.size)))
            continue
        k = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0,
                        times.size - 2))
        w = (t - times[k]) / (times[k + 1] - times[k])
        out.append((np.array([k, k + 1]), np.array([1 - w, w])))
    return out


def open_atmosphere(config, epoch, span: tuple[float, float]):
    """(lazy dataset, name table, heat-flux components, record times [s since
    ``epoch``]) of ``prepare.forcing_sources``, checked: names, units, and that
    the records cover ``span`` [s since epoch] (prepare calls it first, so
    bad files stop it before any ocean data are mapped)."""
    p = config.prepare
    table = atmosphere_mapping(p.forcing_preset, p.forcing_names)
    files = expand(p.forcing_sources)
    try:
        ds = xr.open_mfdataset([str(f) for f in files], combine="by_coords")
    except (OSError, ValueError) as error:
        raise PrepareError(f"cannot open {files[0]} ...: {error}") from None
    heat = _check(ds, table)
    times = (ds[table["time"]].values - epoch) / np.timedelta64(1, "s")
    if times[0] > span[0] + 1e-6 or times[-1] < span[1] - 1e-6:
        raise PrepareError(
            f"prepare.forcing_sources cover {times[0]:g} .. {times[-1]:g} s after "
            f"the first ocean snapshot; the ocean data need {span[0]:g} .. "
            f"{span[1]:g} s"
        )
    return ds, table, heat, times


def atmosphere_forcing(config, at: np.ndarray, epoch: np.datetime64,
                       interval: float) -> dict[str, np.ndarray]:
    """``taux``, ``tauy`` [N m-2, on the model's u / v faces] and, when the files
    carry the four flux components, ``heat_flux`` [W m-2, centres] at the model
    times ``at`` [s since ``epoch``]: the bulk formula (physics/bulk.py) turns
    each 10 m wind record into stress ON THE SOURCE GRID (the formula is
    nonlinear: stress from a coarse mean wind would be too weak), then the
    stress and the net flux are remapped conservatively like the ocean fields;
    records are averaged over each snapshot interval (or interpolated)."""
    ds, table, heat, times = open_atmosphere(config, epoch, (at[0], at[-1]))
    lat = ds[table["lat"]].values
    flip = lat.size > 1 and lat[1] < lat[0]  # ERA5 runs north to south
    lat = lat[::-1] if flip else lat
    maps = regridders(Target.from_config(config), ds[table["lon"]].values, lat)

    def record(k: int) -> dict[str, np.ndarray]:
        def read(key):
            x = np.asarray(ds[table[key]].isel({table["time"]: k}).values,
                           np.float64)
            return x[::-1] if flip else x

        tx, ty = wind_stress(read("u10"), read("v10"))
        out = {"taux": tx, "tauy": ty}
        if heat:
            out["heat_flux"] = sum(read(key) for key in heat)
        return out

    def remap(fields):
        mean = {}
        for name, pos in (("taux", "u"), ("tauy", "v"), ("heat_flux", "c")):
            if name in fields:
                total, area = maps[pos].sums(fields[name])
                mean[name] = np.where(area > 0, total / np.where(area > 0, area, 1),
                                      0.0)
        return mean

    cache: dict[int, dict] = {}
    result: dict[str, list] = {}
    for indices, weights in _window_means(times, at, interval):
        acc: dict[str, np.ndarray] = {}
        for k, w in zip(indices, weights, strict=True):
            if k not in cache:
                if len(cache) > 64:  # bounded: a window's records at most
                    cache.clear()
                cache[k] = remap(record(int(k)))
            for name, x in cache[k].items():
                acc[name] = acc.get(name, 0.0) + w * x
        for name, x in acc.items():
            result.setdefault(name, []).append(x)
    return {n: np.stack(x) for n, x in result.items()}

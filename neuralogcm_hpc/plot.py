"""Quick-look PNGs of an output store: surface maps and conserved-quantity series."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from neuralogcm_hpc.physics.constants import CP0, EARTH_RADIUS, RHO0

DAY = 86400.0


def open_output(path: str | Path) -> xr.Dataset:
    """The output store as a lazy dataset; times stay in seconds (= step * dt)."""
    path = Path(path)
    if not (path / "zarr.json").exists():
        raise FileNotFoundError(f"{path} is not a Zarr store (no zarr.json)")
    return xr.open_zarr(path, decode_times=False)


def stored_config(ds: xr.Dataset) -> dict:
    """The run's config as saved in the store's attributes ({} if absent)."""
    raw = ds.attrs.get("config", "{}")
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def cell_area(ds: xr.Dataset, var: str) -> xr.DataArray:
    """Horizontal cell areas (m2) on the variable's (y, x) dims.

    Degrees (lon/lat) -> R^2 cos(lat) dlon dlat; metres -> dx dy; spacings from
    the coordinates, which are uniform on this model's grids.
    """
    ydim, xdim = ds[var].dims[-2:]
    y, x = ds[ydim], ds[xdim]
    dy, dx = _spacing(y), _spacing(x)
    if "degree" in y.attrs.get("units", ""):
        lat = np.deg2rad(y)
        area = EARTH_RADIUS**2 * np.cos(lat) * np.deg2rad(dy) * np.deg2rad(dx)
        return area * xr.ones_like(x)
    return xr.ones_like(y) * xr.ones_like(x) * (dx * dy)


def layer_thickness(ds: xr.Dataset, var: str) -> xr.DataArray | None:
    """Layer thicknesses (m) from level-centre depths, or None for a 2-D field.

    Levels start at the surface and a centre lies midway between its interfaces,
    so interfaces follow from e[0] = 0, e[k+1] = 2 c[k] - e[k] exactly.
    """
    dims = ds[var].dims
    if len(dims) < 4:  # (time, y, x)
        return None
    zdim = dims[1]
    centres = np.abs(np.asarray(ds[zdim].values, dtype=float))
    edges = [0.0]
    for c in centres:
        edges.append(2 * c - edges[-1])
    return xr.DataArray(np.diff(edges), dims=(zdim,), coords={zdim: ds[zdim]})


def to_centres(ds: xr.Dataset, name: str, periodic: bool) -> xr.DataArray:
    """C-grid face velocity ``u`` or ``v`` averaged to cell centres.

    u[j, i] sits on the west face of cell (j, i), v[j, i] on its south face: the
    centre value averages the face with the next one east (north). Beyond the last
    face the neighbour wraps on a periodic axis and is 0 at a wall (no normal flow).
    The result is labelled with the centre dims of ``ssh`` (faces may have their
    own coordinate, e.g. x_u / y_v).
    """
    field = ds[name].fillna(0.0)
    axis = -1 if name == "u" else -2
    dim, target = field.dims[axis], ds["ssh"].dims[axis]
    nxt = field.roll({dim: -1}, roll_coords=False)
    if not periodic:
        n = field.sizes[dim]
        nxt = nxt.where(xr.DataArray(np.arange(n) < n - 1, dims=(dim,)), 0.0)
    centre = 0.5 * (field + nxt)
    if dim != target:
        centre = centre.drop_vars(dim, errors="ignore").rename({dim: target})
        centre = centre.assign_coords({target: ds[target]})
    return centre


def surface(field: xr.DataArray) -> xr.DataArray:
    """The level nearest the surface of a (time, depth, y, x) field."""
    if field.ndim < 4:
        return field
    zdim = field.dims[1]
    return field.isel({zdim: int(np.argmin(np.abs(field[zdim].values)))})


def diagnostics(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Time series of global integrals computed from the stored fields.

    volume anomaly = sum(ssh A) (m3; the part of the volume that can change);
    energy = kinetic 1/2 rho0 sum(h |u|^2 A) + available potential 1/2 rho0 g
    sum(ssh^2 A) (J), with h the layer thickness (H + ssh for one layer);
    heat content = rho0 cp sum(temp dz A) (J) and salt = rho0 sum(salt dz A) / 1000
    (kg) when the output has tracers. Land cells hold 0 in the output store
    and so add nothing.
    """
    config = stored_config(ds)
    grid, physics = config.get("grid", {}), config.get("physics", {})
    gravity = float(physics.get("gravity", 9.81))
    area = cell_area(ds, "ssh")
    ssh = ds["ssh"]
    tdim = ssh.dims[0]

    def total(field: xr.DataArray) -> xr.DataArray:  # over everything but time
        return field.sum([d for d in field.dims if d != tdim])

    out = {"volume anomaly (m3)": total(ssh * area)}
    dz = layer_thickness(ds, "u")
    u = to_centres(ds, "u", bool(grid.get("periodic_x", True)))
    v = to_centres(ds, "v", bool(grid.get("periodic_y", False)))
    if dz is None:
        thickness = float(grid.get("depth", 100.0)) + ssh.fillna(0.0)
    else:
        thickness = dz
    kinetic = 0.5 * RHO0 * (thickness * (u**2 + v**2) * area)
    potential = 0.5 * RHO0 * gravity * (ssh**2 * area)
    out["energy (J)"] = total(kinetic) + total(potential)
    if "temp" in ds and dz is not None:
        out["heat content (J)"] = total(RHO0 * CP0 * ds["temp"] * dz * area)
    if "salt" in ds and dz is not None:
        out["salt content (kg)"] = total(RHO0 * ds["salt"] * dz * area / 1000.0)
    return {name: series.compute() for name, series in out.items()}


def plot_maps(ds: xr.Dataset, out: Path, index: int = -1) -> list[str]:
    """SSH, SST (when temp exists) and surface speed at record ``index``."""
    import matplotlib.pyplot as plt

    grid = stored_config(ds).get("grid", {})
    tdim = ds["ssh"].dims[0]
    panels = [("SSH (m)", ds["ssh"], "RdBu_r")]
    if "temp" in ds:
        panels.append(("SST (degC)", surface(ds["temp"]), "inferno"))
    u = surface(to_centres(ds, "u", bool(grid.get("periodic_x", True))))
    v = surface(to_centres(ds, "v", bool(grid.get("periodic_y", False))))
    panels.append(("surface speed (m s-1)", np.hypot(u, v), "viridis"))
    seconds = float(ds[tdim].values[index])
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    titles = []
    for ax, (title, field, cmap) in zip(np.atleast_1d(axes), panels, strict=True):
        data = field.isel({tdim: index}).compute()
        ydim, xdim = data.dims
        vmax = float(np.nanmax(np.abs(data))) if cmap == "RdBu_r" else None
        mesh = ax.pcolormesh(
            data[xdim], data[ydim], data, cmap=cmap, shading="auto",
            vmin=-vmax if vmax else None, vmax=vmax,
        )
        fig.colorbar(mesh, ax=ax, shrink=0.8)
        ax.set_title(f"{title}, day {seconds / DAY:.2f}")
        ax.set_xlabel(f"{xdim} ({ds[xdim].attrs.get('units', '')})")
        ax.set_ylabel(f"{ydim} ({ds[ydim].attrs.get('units', '')})")
        titles.append(title)
    _save(fig, out, titles)
    return titles


def plot_series(ds: xr.Dataset, out: Path) -> list[str]:
    """Volume anomaly, energy and tracer content against model time (days)."""
    import matplotlib.pyplot as plt

    series = diagnostics(ds)
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 2.4 * len(series)))
    for ax, (title, values) in zip(np.atleast_1d(axes), series.items(), strict=True):
        days = values[values.dims[0]].values / DAY
        ax.plot(days, values.values, marker="." if len(days) < 50 else None)
        ax.set_title(title)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3), useOffset=False)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[-1].set_xlabel("model time (days)")
    _save(fig, out, list(series))
    return list(series)


def plot_eke(ds: xr.Dataset, out: Path) -> list[str]:
    """Eddy kinetic energy map, 1/2 <|u - <u>|^2> over the records at the top
    level (m2 s-2), and the time-mean ssh it varies around."""
    import matplotlib.pyplot as plt

    config = stored_config(ds)
    grid = config.get("grid", {})
    u = to_centres(ds, "u", bool(grid.get("periodic_x", True)))
    v = to_centres(ds, "v", bool(grid.get("periodic_y", False)))
    tdim = ds["ssh"].dims[0]
    levels = {d: 0 for d in u.dims if d not in ds["ssh"].dims}  # the top level
    u, v = u.isel(levels), v.isel(levels)
    eke = 0.5 * (u.var(tdim) + v.var(tdim))
    days = ds[tdim].values / DAY
    titles = [f"EKE (m2 s-2), days {days[0]:.0f}-{days[-1]:.0f}", "time-mean ssh (m)"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, field, title, cmap in zip(axes, (eke, ds["ssh"].mean(tdim)), titles,
                                      ("viridis", "RdBu_r"), strict=True):
        data = field.compute()
        mesh = ax.pcolormesh(np.asarray(data), cmap=cmap, shading="auto")
        fig.colorbar(mesh, ax=ax, shrink=0.8)
        ax.set_title(title)
    _save(fig, out, titles)
    return titles


def _save(fig, out: Path, titles: list[str]) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    # The panel list goes into the PNG's text chunk, so tools and tests can check it.
    fig.savefig(out, dpi=100, metadata={"Description": "; ".join(titles)})
    plt.close(fig)


def _spacing(coord: xr.DataArray) -> float:
    values = np.asarray(coord.values, dtype=float)
    return float(np.mean(np.diff(values))) if values.size > 1 else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neuralogcm_hpc.plot",
        description="Quick-look PNGs of an output store: maps.png (SSH, SST, surface "
        "speed at the last record), timeseries.png (volume anomaly, energy, "
        "tracer content) and eke.png (eddy kinetic energy and mean ssh maps).",
    )
    parser.add_argument("output", help="output Zarr store written by a run")
    parser.add_argument("--out", default=".", help="directory for the PNGs")
    parser.add_argument(
        "--index", type=int, default=-1, help="record drawn in the maps (default last)"
    )
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on compute nodes
    try:
        ds = open_output(args.output)
        missing = {"u", "v", "ssh"} - set(ds.data_vars)
        if missing:
            raise KeyError(f"{args.output} lacks {', '.join(sorted(missing))}")
        if ds.sizes[ds["ssh"].dims[0]] == 0:
            raise ValueError(f"{args.output} holds no records yet")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plot_maps(ds, out / "maps.png", args.index)
        plot_series(ds, out / "timeseries.png")
        plot_eke(ds, out / "eke.png")
    except (OSError, KeyError, ValueError, IndexError) as error:
        print(f"plot: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out / 'maps.png'}, {out / 'timeseries.png'} and {out / 'eke.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Layout of an output store: CF variable/coordinate specs, creation, append checks."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np
import zarr
from zarr.core.array import AsyncArray

from neuralogcm_hpc.parallel.decomposition import Decomposition

MARKER = "neuralogcm_hpc_output"
_UNBOUNDED = 2**40  # record capacity of the write views; metadata holds the truth


class OutputError(RuntimeError):
    """An output store that cannot be created, appended to or written."""


@dataclasses.dataclass(frozen=True)
class VariableSpec:
    """An output field: spatial dims (last two are y, x), CF units and long name."""

    dims: tuple[str, ...]
    units: str
    long_name: str
    dtype: str = "float64"
    standard_name: str = ""


@dataclasses.dataclass(frozen=True)
class CoordSpec:
    """A 1-D global coordinate (lon, lat, x, y or depth) with CF attributes."""

    values: np.ndarray
    units: str
    long_name: str
    axis: str = ""
    standard_name: str = ""
    positive: str = ""


@dataclasses.dataclass(frozen=True)
class OutputLayout:
    """Arrays of a store: coordinates, and per stream ("" = snapshots, "_mean" =
    time means) a time axis, a ``step`` axis and one array per variable whose
    chunk is one tile at one record.

    ``records_per_block`` > 1 groups a tile's chunks of that many consecutive
    records into one Zarr v3 shard, i.e. one file: a rank still writes only its
    own files, and a store holds about variables x tiles x records / block files
    instead of variables x tiles x records (a 50-year daily run of 5 variables on
    64 ranks: 5.8 M files at 1, 183 k at 32). Each record's write rewrites its
    shard (read, insert the record's chunk, write a new file and rename it over
    the old one), so the bytes written per block grow as block^2 / 2 records.
    """

    variables: dict[str, VariableSpec]
    coords: dict[str, CoordSpec]
    decomposition: Decomposition
    compressors: list
    time_attrs: dict[str, str]
    records_per_block: int = 1

    def check(self) -> None:
        d = self.decomposition
        for name, spec in self.variables.items():
            for dim in spec.dims:
                if dim not in self.coords:
                    raise OutputError(f"{name}: no coordinate given for dim {dim!r}")
            sizes = tuple(len(self.coords[dim].values) for dim in spec.dims[-2:])
            if len(spec.dims) < 2 or sizes != (d.ny, d.nx):
                raise OutputError(
                    f"{name}: last two dims {spec.dims[-2:]} have sizes "
                    f"{sizes}, the grid is (ny, nx) = {(d.ny, d.nx)}"
                )

    def lead_shape(self, spec: VariableSpec) -> tuple[int, ...]:
        """Sizes of the dims before (y, x), e.g. (nz,) for a 3-D field."""
        return tuple(len(self.coords[dim].values) for dim in spec.dims[:-2])

    def stream_arrays(self, suffix: str) -> list[str]:
        """Every array along a stream's time axis."""
        names = [n + suffix for n in self.variables]
        names += ["time" + suffix, "step" + suffix]
        return names + (["time_mean_bounds"] if suffix else [])

    def create_coords(self, group) -> None:
        for dim, spec in self.coords.items():
            values = np.asarray(spec.values)
            attrs = {"units": spec.units, "long_name": spec.long_name}
            for key in ("axis", "standard_name", "positive"):
                if getattr(spec, key):
                    attrs[key] = getattr(spec, key)
            array = group.create_array(
                dim,
                shape=values.shape,
                dtype=values.dtype,
                dimension_names=(dim,),
                attributes=attrs,
            )
            array[...] = values

    def create_stream(self, group, suffix: str) -> None:
        d, time = self.decomposition, "time" + suffix
        time_attrs = {
            **self.time_attrs,
            "standard_name": "time",
            "axis": "T",
            "long_name": "time" + (" (middle of averaging interval)" if suffix else ""),
        }
        axis = dict(shape=(0,), chunks=(512,), dimension_names=(time,))
        if suffix:
            time_attrs["bounds"] = "time_mean_bounds"
            group.create_array(
                "time_mean_bounds",
                shape=(0, 2),
                chunks=(512, 2),
                dtype="float64",
                fill_value=np.nan,
                dimension_names=(time, "nv"),
            )
        group.create_array(
            time, dtype="float64", fill_value=np.nan, attributes=time_attrs, **axis
        )
        step_attrs = {"long_name": "model step", "units": "1"}
        group.create_array(
            "step" + suffix, dtype="int64", fill_value=-1, attributes=step_attrs, **axis
        )
        for name, spec in self.variables.items():
            lead = self.lead_shape(spec)
            attrs = {
                "units": spec.units,
                "long_name": spec.long_name,
                "coordinates": "step" + suffix,
            }
            if spec.standard_name:
                attrs["standard_name"] = spec.standard_name
            if suffix:
                attrs["cell_methods"] = f"{time}: mean"
            chunk = (1, *lead, d.tile_ny, d.tile_nx)
            block = self.records_per_block
            group.create_array(
                name + suffix,
                shape=(0, *lead, d.ny, d.nx),
                chunks=chunk,
                shards=(block, *chunk[1:]) if block > 1 else None,
                dtype=spec.dtype,
                fill_value=np.nan,
                compressors=self.compressors,
                dimension_names=(time, *spec.dims),
                attributes=attrs,
            )

    def check_compatible(self, group) -> None:
        """Refuse to append to a store of another grid or another field set."""
        d = self.decomposition
        for dim, spec in self.coords.items():
            if dim not in group or not np.array_equal(group[dim][:], spec.values):
                raise OutputError(
                    f"coordinate {dim} differs from the existing store; "
                    "appending needs the same grid"
                )
        stored = {
            n for n, a in group.arrays() if a.metadata.dimension_names[0] == "time"
        }
        stored -= {"time", "step"}
        if stored != set(self.variables):
            raise OutputError(
                f"the existing store holds {sorted(stored)}, this run writes "
                f"{sorted(self.variables)}; appending needs the same fields"
            )
        for name, spec in self.variables.items():
            want = (*self.lead_shape(spec), d.ny, d.nx)
            if group[name].shape[1:] != want:
                raise OutputError(
                    f"variable {name} is not shaped {want} in the existing store; "
                    "appending needs the same grid"
                )


def unbounded(array: zarr.Array) -> zarr.Array:
    """A handle on the same array whose in-memory record capacity is unbounded.

    Every rank writes its chunks of record k without waiting for rank 0 to grow the
    stored shape; only rank 0 ever writes metadata, so there is no metadata race.
    """
    inner = array.async_array
    meta = inner.metadata.update_shape((_UNBOUNDED, *array.shape[1:]))
    return zarr.Array(AsyncArray(meta, inner.store_path, inner.config))


def is_ours(path: Path) -> bool:
    """Whether ``path`` is an output store this package created (safe to replace)."""
    try:
        return bool(json.loads((path / "zarr.json").read_text())["attributes"][MARKER])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def consolidate(path: Path) -> None:
    """Refresh consolidated metadata so ``xarray.open_zarr(path)`` sees new records."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "consolidated metadata not in v3 spec"
        zarr.consolidate_metadata(str(path))

"""CF metadata of the prognostic variables and the grid coordinates of an output."""

from __future__ import annotations

import numpy as np

from neuralogcm_hpc.grid import global_coordinates
from neuralogcm_hpc.io.zarr_writer import CoordSpec, VariableSpec

# name -> (units, long name, CF standard name, staggering of the (y, x) axes)
PROGNOSTIC = {
    "u": ("m s-1", "eastward velocity at west cell faces", "sea_water_x_velocity", "u"),
    "v": (
        "m s-1",
        "northward velocity at south cell faces",
        "sea_water_y_velocity",
        "v",
    ),
    "ssh": ("m", "sea surface height anomaly", "sea_surface_height_above_geoid", "c"),
    "temp": ("degC", "potential temperature", "sea_water_potential_temperature", "c"),
    "salt": ("1e-3", "practical salinity", "sea_water_salinity", "c"),
}
# staggering -> (y dimension, x dimension); u sits on west faces, v on south faces
_HORIZONTAL = {"c": ("y", "x"), "u": ("y", "x_u"), "v": ("y_v", "x")}


def output_variables(names, nz: int, dtype: str) -> dict[str, VariableSpec]:
    """Specs of the named prognostic fields; 3-D (depth, y, x) when ``nz > 1``,
    except the sea surface height, which is always (y, x)."""
    specs = {}
    for name in names:
        units, long_name, standard, stagger = PROGNOSTIC[name]
        vertical = ("depth",) if nz > 1 and name != "ssh" else ()  # ssh is 2-D
        specs[name] = VariableSpec(
            dims=vertical + _HORIZONTAL[stagger],
            units=units,
            long_name=long_name,
            dtype=dtype,
            standard_name=standard,
        )
    return specs


def output_coordinates(config, depth_centres: np.ndarray | None) -> dict:
    """Global 1-D coordinates: degrees on the sphere, metres on a beta plane."""
    c = global_coordinates(config)
    sphere = config.grid.kind == "sphere"
    x_units, y_units = ("degree_east", "degree_north") if sphere else ("m", "m")
    x_name = "longitude" if sphere else "x distance"
    y_name = "latitude" if sphere else "y distance"
    coords = {
        "x": CoordSpec(c["x_c"], x_units, f"{x_name} of cell centres", "X"),
        "x_u": CoordSpec(c["x_u"], x_units, f"{x_name} of west cell faces"),
        "y": CoordSpec(c["y_c"], y_units, f"{y_name} of cell centres", "Y"),
        "y_v": CoordSpec(c["y_v"], y_units, f"{y_name} of south cell faces"),
    }
    if depth_centres is not None and config.grid.nz > 1:
        coords["depth"] = CoordSpec(
            np.asarray(depth_centres, np.float64),
            "m",
            "depth of level centres",
            "Z",
            positive="down",
        )
    return coords

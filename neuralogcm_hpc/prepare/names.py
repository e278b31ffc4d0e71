"""Variable and coordinate names of reanalysis products, and their units."""

from __future__ import annotations

# canonical name -> the product's name. Variables: u, v (eastward / northward
# velocity), ssh, temp (potential temperature), salt; coordinates: lon, lat,
# depth (level centres, positive down), time.
PRESETS: dict[str, dict[str, str]] = {
    # Copernicus GLORYS12V1 (and its 1/4-degree siblings): A-grid, NaN over land
    "glorys": {
        "u": "uo",
        "v": "vo",
        "ssh": "zos",
        "temp": "thetao",
        "salt": "so",
        "lon": "longitude",
        "lat": "latitude",
        "depth": "depth",
        "time": "time",
    },
    # ECMWF ORAS5 (NEMO names); the native ORCA grid is curvilinear (2-D nav_lat),
    # which is refused: only its regular lon-lat remaps can be mapped
    "oras5": {
        "u": "vozocrtx",
        "v": "vomecrty",
        "ssh": "sossheig",
        "temp": "votemper",
        "salt": "vosaline",
        "lon": "nav_lon",
        "lat": "nav_lat",
        "depth": "deptht",
        "time": "time_counter",
    },
}
VARIABLES = ("u", "v", "temp", "salt", "ssh")
COORDINATES = ("lon", "lat", "depth", "time")

# accepted spellings of each canonical unit (compared after lower-casing and
# removing blanks); a variable without a units attribute is taken as canonical
UNITS: dict[str, tuple[str, set[str]]] = {
    "u": ("m s-1", {"ms-1", "m/s", "ms**-1", "m.s-1", "meter/second", "meters/second"}),
    "v": ("m s-1", {"ms-1", "m/s", "ms**-1", "m.s-1", "meter/second", "meters/second"}),
    "ssh": ("m", {"m", "meter", "meters", "metre", "metres"}),
    "temp": (
        "degC",
        {
            "degc",
            "degrees_c",
            "degree_c",
            "°c",
            "deg_c",
            "celsius",
            "degree_celsius",
            "degrees_celsius",
            "c",
        },
    ),
    "salt": (
        "1e-3",
        {
            "1e-3",
            "0.001",
            "psu",
            "1",
            "pss-78",
            "g/kg",
            "gkg-1",
            "1e-3(psu)",
            "practical_salinity_unit",
        },
    ),
    "depth": ("m", {"m", "meter", "meters", "metre", "metres"}),
}

# CF metadata of the prepared variables
CF = {
    "u": {
        "standard_name": "sea_water_x_velocity",
        "units": "m s-1",
        "long_name": "eastward velocity at west cell faces",
    },
    "v": {
        "standard_name": "sea_water_y_velocity",
        "units": "m s-1",
        "long_name": "northward velocity at south cell faces",
    },
    "temp": {
        "standard_name": "sea_water_potential_temperature",
        "units": "degC",
        "long_name": "potential temperature",
    },
    "salt": {
        "standard_name": "sea_water_salinity",
        "units": "1e-3",
        "long_name": "salinity",
    },
    "ssh": {
        "standard_name": "sea_surface_height_above_geoid",
        "units": "m",
        "long_name": "sea surface height",
    },
}


class PrepareError(ValueError):
    """Input files that cannot be mapped onto the model: the message says why."""


def mapping(preset: str, overrides: str = "") -> dict[str, str]:
    """Canonical -> source names of the ocean files: the preset's table with
    ``overrides`` ("temp=votemper,lat=nav_lat") applied on top."""
    return preset_mapping(PRESETS, preset, overrides, "prepare.preset",
                          "prepare.names", VARIABLES + COORDINATES)


def preset_mapping(presets: dict, preset: str, overrides: str, preset_key: str,
                   names_key: str, keys=None) -> dict[str, str]:
    """``presets[preset]`` with ``overrides`` ("NAME=SOURCE_NAME,...") applied;
    ``keys``: the NAMEs an override may set (default the preset's own). Errors
    name the settings ``preset_key`` / ``names_key`` the values came from."""
    if preset not in presets:
        raise PrepareError(
            f"{preset_key} = {preset!r} is unknown; known presets: "
            f"{', '.join(presets)} (rename others with {names_key})"
        )
    table = dict(presets[preset])
    keys = tuple(keys or table)
    for pair in filter(None, (p.strip() for p in overrides.split(","))):
        key, sep, name = (s.strip() for s in pair.partition("="))
        if not sep or not name or key not in keys:
            raise PrepareError(
                f"{names_key} entry {pair!r} must be NAME=SOURCE_NAME with NAME "
                f"one of {', '.join(keys)}"
            )
        table[key] = name
    return table


def check_units(name: str, source_name: str, units: str | None) -> None:
    """Raise if ``units`` is not a spelling of ``name``'s canonical unit."""
    if units is None:
        return
    canonical, accepted = UNITS[name]
    if "".join(units.split()).lower() not in accepted:
        raise PrepareError(
            f"{source_name} ({name}) has units {units!r}; expected {canonical!r} "
            "(convert the file, e.g. Kelvin to degC, before preparing it)"
        )

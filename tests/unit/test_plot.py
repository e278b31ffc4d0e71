"""Quick-look plots from a small output store written by the model's own writer."""

import json
import struct

import numpy as np

from neuralogcm_hpc.config import Config, to_dict
from neuralogcm_hpc.grid import level_thicknesses
from neuralogcm_hpc.io.variables import output_coordinates, output_variables
from neuralogcm_hpc.io.zarr_writer import OutputWriter
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition
from neuralogcm_hpc.plot import (
    CP0,
    EARTH_RADIUS,
    RHO0,
    diagnostics,
    main,
    open_output,
)

NX, NY = 8, 6
DT = 3600.0
DEPTH = 40.0  # two equal levels of 20 m (grid.level_thicknesses)


def write_store(path, three_d=True):
    """Three records in exactly the run's layout (io.variables specs and coords)."""
    config = Config().replace(
        **{
            "grid.kind": "sphere", "grid.nx": NX, "grid.ny": NY,
            "grid.nz": 2 if three_d else 1, "grid.depth": DEPTH,
            "grid.lat_south": -60.0, "grid.lat_north": 60.0,  # 20 degree cells
            "grid.periodic_x": True, "grid.periodic_y": False,
        }
    )
    dz = level_thicknesses(config.grid.nz, DEPTH)
    names = ("u", "v", "temp", "salt", "ssh") if three_d else ("u", "v", "ssh")
    serial = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)
    variables = output_variables(names, config.grid.nz, "float64")
    # ssh is a surface field, (y, x) whatever the number of levels.
    variables["ssh"] = output_variables(["ssh"], 1, "float64")["ssh"]
    writer = OutputWriter(
        path, Decomposition(NX, NY, 1, 1), serial, variables,
        output_coordinates(config, np.cumsum(dz) - dz / 2), dt=DT,
        attrs={"config": json.dumps(to_dict(config))},
    )
    shape3 = (2, NY, NX) if three_d else (NY, NX)
    for step in (0, 5, 10):
        fields = {
            "u": np.ones(shape3),  # 1 m/s eastward everywhere
            "v": np.zeros(shape3),
            "ssh": np.full((NY, NX), 0.01 * step),
            "temp": np.full(shape3, 10.0),
            "salt": np.full(shape3, 35.0),
        }
        writer.write(step, {n: fields[n] for n in names})
    writer.close()


def png_text(path):
    """(width, height, {keyword: text}) from a PNG's IHDR and tEXt chunks."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, text, size = 8, {}, None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            text[key.decode()] = value.decode("latin-1")
        pos += 12 + length
    return *size, text


def test_plot_writes_pngs_with_expected_panels(tmp_path):
    write_store(tmp_path / "out.zarr")
    assert main([str(tmp_path / "out.zarr"), "--out", str(tmp_path / "png")]) == 0
    width, height, text = png_text(tmp_path / "png" / "maps.png")
    assert width > 300 and height > 200
    assert text["Description"].split("; ") == [
        "SSH (m)", "SST (degC)", "surface speed (m s-1)"
    ]
    _, _, text = png_text(tmp_path / "png" / "timeseries.png")
    assert text["Description"].split("; ") == [
        "volume anomaly (m3)", "energy (J)", "heat content (J)", "salt content (kg)"
    ]


def test_shallow_water_output_has_no_sst_panel(tmp_path):
    write_store(tmp_path / "sw.zarr", three_d=False)
    assert main([str(tmp_path / "sw.zarr"), "--out", str(tmp_path)]) == 0
    _, _, text = png_text(tmp_path / "maps.png")
    assert text["Description"] == "SSH (m); surface speed (m s-1)"


def test_diagnostics_match_analytic_integrals(tmp_path):
    write_store(tmp_path / "out.zarr")
    series = diagnostics(open_output(tmp_path / "out.zarr"))
    # Band -60..60 degrees, all longitudes: A = 2 pi R^2 (sin 60 - sin(-60)). The
    # cells use the midpoint rule cos(lat_c) dlat, 0.5 % low for 20 degree cells
    # (error dlat^2 / 24 = 0.0051 relative), hence rtol 1e-2.
    area = 2 * np.pi * EARTH_RADIUS**2 * 2 * np.sin(np.deg2rad(60.0))
    ssh = np.array([0.0, 0.05, 0.10])
    np.testing.assert_allclose(series["volume anomaly (m3)"], ssh * area, rtol=1e-2)
    np.testing.assert_allclose(
        series["heat content (J)"], RHO0 * CP0 * 10.0 * DEPTH * area, rtol=1e-2
    )
    # |u| = 1 over the 40 m column, plus potential energy of a uniform ssh.
    energy = 0.5 * RHO0 * DEPTH * area + 0.5 * RHO0 * 9.81 * ssh**2 * area
    np.testing.assert_allclose(series["energy (J)"], energy, rtol=1e-2)


def test_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope.zarr")]) == 1
    assert "not a Zarr store" in capsys.readouterr().err


def test_bad_record_index(tmp_path, capsys):
    write_store(tmp_path / "out.zarr", three_d=False)
    args = [str(tmp_path / "out.zarr"), "--out", str(tmp_path), "--index", "99"]
    assert main(args) == 1
    assert "out of bounds" in capsys.readouterr().err

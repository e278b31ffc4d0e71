"""The case registry: one file declares a case; nothing is inferred from the grid."""

import numpy as np
import pytest

from neuralogcm_hpc import cases
from neuralogcm_hpc.cases import (
    CASES,
    INITIAL_CONDITIONS,
    build_model,
    case_config,
    check_case,
)
from neuralogcm_hpc.config import ConfigError


def test_every_module_declares_its_cases():
    assert set(CASES) == {
        "beta_plane",
        "beta_plane_small",
        "williamson2",
        "double_gyre",
        "global",
        "eddying_gyre",
    }
    assert set(INITIAL_CONDITIONS) == {"rest", "jet", "bump", "williamson2", "noise"}
    for name, case in CASES.items():
        assert case.config().case == name  # the defaults name their case


def test_unknown_case_and_initial_condition_are_refused():
    with pytest.raises(ConfigError, match="unknown case 'nope'"):
        case_config("nope")
    config = case_config("beta_plane_small").replace(**{"physics.initial": "vortex"})
    with pytest.raises(ConfigError, match="physics.initial = 'vortex' is not one of"):
        check_case(config)


def test_a_basin_on_the_sphere_does_not_inherit_global_bathymetry(serial_context):
    # double_gyre on a sphere: its own (flat, basin-forced) set-up, never the
    # global case's continents, which build_model once picked by grid.kind
    config = case_config("double_gyre").replace(
        **{
            "grid.kind": "sphere",
            "grid.nx": 16,
            "grid.ny": 8,
            "grid.nz": 2,
            "grid.lat_south": 10.0,
            "grid.lat_north": 50.0,
            "grid.lon_west": 0.0,
            "grid.lon_east": 40.0,
        }
    )
    model = build_model(config, serial_context)
    assert float(np.min(model.grid.interior(model.grid.depth))) == config.grid.depth
    small_global = case_config("global").replace(
        **{"grid.nx": 48, "grid.ny": 24, "grid.nz": 3}
    )
    land = build_model(small_global, serial_context).grid.mask_c
    assert float(np.mean(land)) < 0.9  # the global case keeps its continents


def test_a_new_case_is_one_module(tmp_path, monkeypatch):
    source = (
        "from neuralogcm_hpc.cases.case import Case\n"
        "from neuralogcm_hpc.cases import beta_plane\n"
        "def config():\n"
        "    return beta_plane.small_config().replace(case='my_case')\n"
        "CASES = (Case('my_case', config),)\n"
    )
    (tmp_path / "my_case.py").write_text(source)
    monkeypatch.setattr(cases, "__path__", [*cases.__path__, str(tmp_path)])
    found, _ = cases._discover()
    assert found["my_case"].config().case == "my_case"

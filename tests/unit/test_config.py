"""Config: typed parsing, layering, validation and the per-mode settings."""

import json

import pytest

from neuralogcm_hpc.cases import CASES, case_config
from neuralogcm_hpc.config import (
    MODE_ONLY,
    Config,
    ConfigError,
    from_dict,
    load_file,
    parse_overrides,
    to_dict,
    validate,
)


def test_every_case_default_is_valid_and_round_trips():
    for name in CASES:
        config = validate(case_config(name))
        assert from_dict(json.loads(config.to_json())) == config


def test_override_text_is_parsed_to_the_declared_type():
    config = Config().replace(
        **{"grid.nx": "64", "physics.viscosity": "2.5e3", "grid.periodic_x": "False"}
    )
    assert config.grid.nx == 64 and isinstance(config.grid.nx, int)
    assert config.physics.viscosity == 2500.0
    assert config.grid.periodic_x is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grid.nx": "6.5"}, "grid.nx must be an integer"),
        ({"grid.periodic_x": "yes"}, "must be true or false"),
        ({"physics.viscosity": True}, "must be a number"),
        ({"time.integrator": "leapfrog"}, "is not one of"),
        ({"grid.bogus": 1}, "unknown key"),
    ],
)
def test_wrong_types_unknown_keys_and_choices_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config().replace(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"physics.viscosity": -1.0}, "physics.viscosity must be >= 0"),
        ({"physics.cfl_limit": 0.0}, "physics.cfl_limit must be > 0"),
        ({"physics.drag": float("nan")}, "finite"),
        ({"time.dt": 0.0}, "time.dt must be positive"),
        ({"decomposition.px": 2}, "set both decomposition.px and .py"),
        ({"train.final_lr_fraction": 1.5}, r"in \[0, 1\]"),
    ],
)
def test_out_of_range_values_are_refused_with_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        validate(Config().replace(**changes))


OTHER_CHOICE = {
    "time.integrator": "ab2",
    "physics.initial": "rest",
    "physics.pe_eos": "jmfwg06",
    "physics.forcing": "forcing.zarr",
}


def _changed(key, default):
    if key in OTHER_CHOICE:
        return OTHER_CHOICE[key]
    return (not default) if isinstance(default, bool) else default * 2 + 1


def test_each_mode_refuses_the_other_modes_settings():
    defaults = to_dict(Config())
    for owner, keys in MODE_ONLY.items():
        base = case_config("beta_plane" if owner == "primitive" else "double_gyre")
        for key in keys:
            section, name = key.split(".")
            value = _changed(key, defaults[section][name])
            with pytest.raises(ConfigError, match=f"{key} = .* is a {owner} setting"):
                validate(base.replace(**{key: value}))


def test_overrides_and_files(tmp_path):
    assert parse_overrides(["grid.nx = 8", "case=global"]) == {
        "grid.nx": "8",
        "case": "global",
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["grid.nx"])
    toml = tmp_path / "a.toml"
    toml.write_text('[grid]\nnx = 12\n[physics]\ninitial = "bump"\n')
    assert load_file(toml) == {"grid": {"nx": 12}, "physics": {"initial": "bump"}}
    yaml = tmp_path / "a.yaml"
    yaml.write_text("grid: {ny: 4}\n")
    assert load_file(yaml) == {"grid": {"ny": 4}}
    bad = tmp_path / "b.yaml"
    bad.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_file(bad)  # the safe loader never builds Python objects
    text = tmp_path / "a.txt"
    text.write_text("grid.nx = 3\n")
    with pytest.raises(ConfigError, match="must end in"):
        load_file(text)

"""The Simulation loop in-process: the same state as a plain rollout, schedules
that land on their steps, segments that add up, and progress output."""

import jax
import numpy as np
import pytest
import xarray as xr

from neuralogcm_hpc.cases import build_model, case_config
from neuralogcm_hpc.simulation import Simulation, _chunk, state_checksum


def config(tmp_path, **changes):
    return case_config("beta_plane_small").replace(
        **{
            "grid.nx": 32,
            "grid.ny": 16,
            "time.steps_per_call": 7,
            "output.path": str(tmp_path / "out.zarr"),
            "output.every": 5,
            "checkpoint.dir": str(tmp_path / "ckpt"),
            "checkpoint.every": 10,
            **changes,
        }
    )


def test_chunks_never_cross_an_event_or_the_end():
    assert _chunk(0, 100, 7, [5, 10]) == 5
    assert _chunk(5, 100, 7, [5, 10]) == 5
    assert _chunk(10, 12, 7, [5]) == 2
    assert _chunk(3, 100, 50, []) == 50
    steps, step = [], 0
    while step < 23:
        step += _chunk(step, 23, 7, [5, 10])
        steps.append(step)
    assert steps == [5, 10, 15, 20, 23]


def test_loop_equals_a_plain_rollout_and_writes_on_schedule(tmp_path, serial_context):
    cfg = config(tmp_path)
    lines = []
    result = Simulation(cfg, serial_context, log=lines.append).run(23)
    model = build_model(cfg, serial_context)
    ref = jax.jit(lambda s, p: model.advance(s, p, 23))(
        model.initial_state(), model.default_params()
    )
    expected = state_checksum(model.fields(ref), model.decomposition, serial_context)
    assert result.step == 23 and result.state_sha256 == expected
    ds = xr.open_zarr(tmp_path / "out.zarr", decode_times=False)
    # records at step 0, every 5 steps, and the final step
    np.testing.assert_array_equal(ds.time.values / cfg.time.dt, [0, 5, 10, 15, 20, 23])
    np.testing.assert_array_equal(
        ds.ssh.isel(time=-1).values, np.asarray(model.fields(ref)["ssh"])
    )
    assert any(line.startswith("step 23 (100%)") for line in lines)
    checkpoints = sorted(p.name for p in (tmp_path / "ckpt").glob("ckpt-*"))
    assert checkpoints == ["ckpt-000000000020", "ckpt-000000000023"]  # keep = 2


def test_two_segments_equal_one_run(tmp_path, serial_context):
    quick = {"output.path": "", "checkpoint.every": 0, "time.steps_per_call": 4}
    whole = Simulation(config(tmp_path / "a", **quick), serial_context).run(12)
    first = config(tmp_path / "b", **quick)
    Simulation(first, serial_context).run(8)
    second = Simulation(first, serial_context, resume=True).run(None, until=12)
    assert second.step == 12 and second.state_sha256 == whole.state_sha256


def test_nan_stops_the_run_with_its_place(tmp_path, serial_context):
    cfg = config(tmp_path, **{"time.dt": 1e5})  # far beyond the gravity-wave limit
    with pytest.raises(Exception, match="step .*(NaN|CFL)"):
        Simulation(cfg, serial_context).run(30)

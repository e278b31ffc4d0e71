"""Output writer: xarray round trip, codecs, schedules, back-pressure, append."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neuralogcm_hpc.io.storage import CODECS
from neuralogcm_hpc.io.write_queue import WriteQueue
from neuralogcm_hpc.io.zarr_writer import (
    CoordSpec,
    OutputError,
    OutputWriter,
    VariableSpec,
)
from neuralogcm_hpc.parallel.decomposition import Decomposition

NX, NY, NZ, DT = 12, 8, 3, 600.0
COORDS = {
    "lon": CoordSpec(np.arange(NX) * 30.0 + 15.0, "degrees_east", "longitude", "X"),
    "lat": CoordSpec(np.linspace(-70.0, 70.0, NY), "degrees_north", "latitude", "Y"),
    "depth": CoordSpec(np.array([5.0, 15.0, 30.0]), "m", "depth", "Z", positive="down"),
}
VARIABLES = {
    "ssh": VariableSpec(("lat", "lon"), "m", "sea surface height"),
    "temp": VariableSpec(("depth", "lat", "lon"), "degC", "temperature", "float32"),
}


def global_fields(step):
    """Smooth, step-dependent global fields; every value differs between steps."""
    y, x = np.meshgrid(np.arange(NY), np.arange(NX), indexing="ij")
    ssh = np.sin(0.3 * x + 0.01 * step) * np.cos(0.2 * y) + 1e-3 * step
    temp = np.stack([ssh * (k + 1) + 10.0 for k in range(NZ)]).astype(np.float32)
    return {"ssh": ssh, "temp": temp}


def make_writer(path, context, **kwargs):
    d = Decomposition(NX, NY, 1, 1)
    kwargs.setdefault("attrs", {"config": json.dumps({"grid": {"nx": NX}})})
    return OutputWriter(path, d, context, VARIABLES, COORDS, DT, **kwargs)


def run(path, context, steps, **kwargs):
    writer = make_writer(path, context, **kwargs)
    for step in steps:
        writer.update(step, global_fields(step))
    writer.close()


def test_round_trip_coordinates_and_attributes(tmp_path, context):
    run(tmp_path / "o.zarr", context, range(0, 9), snapshot_every=2)
    ds = xr.open_zarr(tmp_path / "o.zarr")
    np.testing.assert_array_equal(ds.step.values, [0, 2, 4, 6, 8])
    seconds = (ds.time.values - np.datetime64("2000-01-01")) / np.timedelta64(1, "s")
    np.testing.assert_array_equal(seconds, ds.step.values * DT)
    for i, step in enumerate(ds.step.values):
        expected = global_fields(step)
        np.testing.assert_array_equal(ds.ssh.values[i], expected["ssh"])  # exact: f8
        np.testing.assert_array_equal(ds.temp.values[i], expected["temp"])
    assert ds.temp.dims == ("time", "depth", "lat", "lon")
    assert ds.ssh.attrs["units"] == "m"
    assert ds.ssh.attrs["long_name"] == "sea surface height"
    assert ds.lon.attrs["units"] == "degrees_east" and ds.lat.attrs["axis"] == "Y"
    assert ds.depth.attrs["positive"] == "down"
    np.testing.assert_array_equal(ds.lon.values, COORDS["lon"].values)
    assert ds.attrs["Conventions"] == "CF-1.8"
    assert json.loads(ds.attrs["config"]) == {"grid": {"nx": NX}}
    assert ds.attrs["package_version"] and ds.attrs["git_commit"]
    assert ds.ssh.encoding["chunks"] == (1, NY, NX)  # one tile per record


def test_time_means_are_rectangle_rule_over_samples(tmp_path, context):
    # samples at every step: mean over (0, 4] is the mean of steps 1..4
    run(tmp_path / "o.zarr", context, range(0, 9), average_every=4)
    ds = xr.open_zarr(tmp_path / "o.zarr")
    np.testing.assert_array_equal(ds.step_mean.values, [4, 8])
    for i, end in enumerate((4, 8)):
        ref = np.mean([global_fields(s)["ssh"] for s in range(end - 3, end + 1)], 0)
        # rounding only: sum of 4 float64 values divided by 4
        np.testing.assert_allclose(ds.ssh_mean.values[i], ref, rtol=1e-14, atol=1e-15)
    bounds = ds.time_mean_bounds.values - np.datetime64("2000-01-01")
    np.testing.assert_array_equal(
        bounds / np.timedelta64(1, "s"), [[0, 2400], [2400, 4800]]
    )
    assert ds.ssh_mean.attrs["cell_methods"] == "time_mean: mean"


def test_sparse_samples_are_weighted_by_interval(tmp_path, context):
    # samples every 2 steps (steps_per_call = 2): each weighs 2 steps
    run(tmp_path / "o.zarr", context, range(0, 9, 2), average_every=8)
    ds = xr.open_zarr(tmp_path / "o.zarr")
    ref = np.mean([global_fields(s)["ssh"] for s in (2, 4, 6, 8)], 0)
    np.testing.assert_allclose(ds.ssh_mean.values[0], ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("codec", CODECS)
def test_codecs_round_trip_exactly(tmp_path, context, codec):
    run(tmp_path / "o.zarr", context, range(3), snapshot_every=1, codec=codec)
    ds = xr.open_zarr(tmp_path / "o.zarr")
    np.testing.assert_array_equal(ds.temp.values[2], global_fields(2)["temp"])
    meta = json.loads((tmp_path / "o.zarr" / "ssh" / "zarr.json").read_text())
    names = [c["name"] for c in meta["codecs"]]
    assert names[-1] == {"blosc-zstd": "blosc", "blosc-lz4": "blosc"}.get(
        codec, codec if codec != "none" else "bytes"
    )


def test_queue_blocks_at_bound_and_never_exceeds_it():
    queue = WriteQueue(max_in_flight=2)
    release = threading.Event()
    queue.submit(release.wait)
    queue.submit(release.wait)
    entered = threading.Event()

    def third_submit():
        entered.set()
        queue.submit(lambda: None)

    third = threading.Thread(target=third_submit)
    third.start()
    entered.wait(timeout=5)
    time.sleep(0.2)
    assert third.is_alive() and queue.in_flight == 2  # back-pressure: caller blocked
    release.set()
    third.join(timeout=5)
    queue.close()
    assert not third.is_alive() and queue.peak_in_flight == 2
    assert queue.waited_s >= 0.1  # the blocked submit (~0.2 s) counted as I/O wait


def test_background_failure_is_raised():
    queue = WriteQueue(max_in_flight=2)
    queue.submit(lambda: 1 / 0)
    with pytest.raises(RuntimeError, match="background output write failed"):
        queue.wait()


def test_writer_respects_in_flight_bound(tmp_path, context):
    writer = make_writer(
        tmp_path / "o.zarr", context, snapshot_every=1, max_in_flight=1
    )
    for step in range(6):
        writer.update(step, global_fields(step))
    writer.close()
    assert writer.stats["peak"] == 1 and writer.stats["records"] == 6
    assert xr.open_zarr(tmp_path / "o.zarr").sizes["time"] == 6


@pytest.mark.parametrize("block", [1, 3])  # 3: the resume point cuts a shard
def test_append_after_restart_has_no_duplicate_or_gap(tmp_path, context, block):
    schedule = dict(snapshot_every=2, average_every=4, records_per_block=block)
    run(tmp_path / "ref.zarr", context, range(0, 13), **schedule)
    # segment 1: checkpoint at step 4, keeps running to step 7, then dies unclosed
    first = make_writer(tmp_path / "o.zarr", context, **schedule)
    for step in range(0, 8):
        first.update(step, global_fields(step))
        if step == 4:
            saved = first.checkpoint_state()
    first.flush()  # records 6 (snapshot) exist on disk past the checkpoint
    first.abandon()  # stops without closing (a dead run's lock: test_locks.py)
    # segment 2: resume from the step-4 checkpoint
    second = make_writer(
        tmp_path / "o.zarr", context, mode="a", resume_step=4, **schedule
    )
    second.restore_average_state(*saved)
    for step in range(4, 13):
        second.update(step, global_fields(step))
    second.close()
    ref, out = xr.open_zarr(tmp_path / "ref.zarr"), xr.open_zarr(tmp_path / "o.zarr")
    np.testing.assert_array_equal(out.step.values, [0, 2, 4, 6, 8, 10, 12])
    np.testing.assert_array_equal(out.step_mean.values, [4, 8, 12])
    for name in ("ssh", "temp", "ssh_mean", "temp_mean", "time", "time_mean"):
        np.testing.assert_array_equal(out[name].values, ref[name].values)  # bitwise
    assert "resumed at step 4" in out.attrs["history"]


def test_blocked_records_share_one_file_per_tile(tmp_path, context):
    """records_per_block = 4: 10 snapshot records of one tile in 3 files (shards)
    per variable, read back exactly; concurrent writer threads (4 in flight)
    updating one shard lose no record."""
    path = tmp_path / "o.zarr"
    run(path, context, range(10), snapshot_every=1, records_per_block=4,
        max_in_flight=4)  # fmt: skip
    ds = xr.open_zarr(path)
    np.testing.assert_array_equal(ds.step.values, np.arange(10))
    for i in range(10):
        np.testing.assert_array_equal(ds.ssh.values[i], global_fields(i)["ssh"])
        np.testing.assert_array_equal(ds.temp.values[i], global_fields(i)["temp"])
    for name in ("ssh", "temp"):
        files = [f for f in (path / name / "c").rglob("*") if f.is_file()]
        assert len(files) == 3, files  # records 0-3, 4-7, 8-9
    assert ds.ssh.encoding["shards"] == (4, NY, NX)
    # a resumed run appends in the store's own layout, whatever it is asked for
    writer = make_writer(path, context, snapshot_every=1, mode="a", resume_step=10,
                         records_per_block=1)  # fmt: skip
    for step in range(10, 13):
        writer.update(step, global_fields(step))
    writer.close()
    ds = xr.open_zarr(path)
    np.testing.assert_array_equal(ds.ssh.values[12], global_fields(12)["ssh"])
    assert len([f for f in (path / "ssh" / "c").rglob("*") if f.is_file()]) == 4


def test_final_write_is_not_duplicated(tmp_path, context):
    writer = make_writer(tmp_path / "o.zarr", context, snapshot_every=2)
    for step in range(5):
        writer.update(step, global_fields(step))
    writer.write(4, global_fields(4))  # final state coincides with a snapshot
    writer.write(5, global_fields(5))
    writer.close()
    steps = xr.open_zarr(tmp_path / "o.zarr").step.values
    np.testing.assert_array_equal(steps, [0, 2, 4, 5])


def test_refuses_foreign_path_and_bad_input(tmp_path, context):
    (tmp_path / "notes").mkdir()
    with pytest.raises(OutputError, match="not an output store of this model"):
        make_writer(tmp_path / "notes", context)
    writer = make_writer(tmp_path / "o.zarr", context, snapshot_every=4)
    with pytest.raises(OutputError, match="interior tiles"):
        writer.write(
            0, {"ssh": np.zeros((NY + 4, NX + 4)), "temp": np.zeros((3, 8, 12))}
        )
    with pytest.raises(OutputError, match="multiples of time.steps_per_call"):
        writer.update(0, global_fields(0))
        writer.update(3, global_fields(3))
        writer.update(6, global_fields(6))
    writer.close()
    with pytest.raises(OutputError, match="no coordinate given for dim 'z'"):
        OutputWriter(
            tmp_path / "x.zarr",
            Decomposition(NX, NY),
            context,
            {"a": VariableSpec(("z", "lat", "lon"), "1", "a")},
            COORDS,
            DT,
        )


def test_append_needs_the_same_fields(tmp_path, context):
    run(tmp_path / "o.zarr", context, range(2), snapshot_every=1)
    with pytest.raises(OutputError, match="appending needs the same fields"):
        OutputWriter(
            tmp_path / "o.zarr",
            Decomposition(NX, NY),
            context,
            {"ssh": VARIABLES["ssh"]},
            COORDS,
            DT,
            mode="a",
            resume_step=1,
        )


def test_a_failed_write_stops_the_run_and_leaves_no_hole(tmp_path, context):
    """A real write failure (a file planted where record 2's chunk directory must
    go) stops the run before any later record or checkpoint state, on every
    rank; the time axis ends at the last complete record: no fill value, no
    step -1, no later record."""
    path = tmp_path / "o.zarr"
    writer = make_writer(path, context, snapshot_every=1)
    for step in (0, 1):
        writer.update(step, global_fields(step))
    writer.flush()
    (path / "ssh" / "c" / "2").write_text("in the way")  # chunk c/2/0/0 cannot exist
    with pytest.raises(OutputError, match="rank 0: .*ends at its last complete"):
        for step in range(2, 12):
            writer.update(step, global_fields(step))
        writer.checkpoint_state()  # a checkpoint would have to flush first
    writer.close()  # no collective and nothing committed after the failure
    ds = xr.open_zarr(path)
    np.testing.assert_array_equal(ds.step.values, [0, 1])
    assert not np.isnan(ds.ssh.values).any()


def test_resume_trusts_only_the_increasing_part_of_a_damaged_axis(tmp_path, context):
    """A store damaged by an older version ([0, 1, 2, -1, 4]: a hole, then later
    records) is cut at the hole; resuming past the hole is refused (a gap),
    resuming at it continues without duplicate or gap."""
    import zarr

    path = tmp_path / "o.zarr"
    run(path, context, range(5), snapshot_every=1)
    zarr.open_array(path / "step", mode="r+")[3] = -1
    with pytest.raises(OutputError, match="end at step 2 .* resumes at step 4"):
        make_writer(path, context, snapshot_every=1, mode="a", resume_step=4)
    with pytest.warns(UserWarning, match="not strictly increasing after record 3"):
        writer = make_writer(path, context, snapshot_every=1, mode="a", resume_step=3)
    for step in range(3, 7):
        writer.update(step, global_fields(step))
    writer.close()
    np.testing.assert_array_equal(xr.open_zarr(path).step.values, range(7))


def test_existing_store_needs_overwrite_and_a_second_writer_is_refused(
    tmp_path, context
):
    path = tmp_path / "o.zarr"
    run(path, context, range(2), snapshot_every=1)
    with pytest.raises(OutputError, match="store exists; pass --overwrite"):
        make_writer(path, context)
    assert xr.open_zarr(path).sizes["time"] == 2  # untouched
    first = make_writer(path, context, overwrite=True, snapshot_every=1)
    with pytest.raises(OutputError, match=r"in use by another run \(host .*pid"):
        make_writer(path, context, mode="a")
    first.close()
    make_writer(path, context, mode="a").close()  # the lock went with the run


def test_a_kill_while_overwrite_deletes_the_old_store_never_blocks_the_next(
    tmp_path, context, monkeypatch
):
    """A run killed while --overwrite removes the old store (here: right after
    the root zarr.json went) must leave a path that a new --overwrite accepts,
    not a half-deleted store that no longer looks like ours."""
    path = tmp_path / "o.zarr"
    run(path, context, range(2), snapshot_every=1)

    class Killed(BaseException):  # not caught by the writer, like SIGKILL
        pass

    def killed_mid_delete(target, *args, **kwargs):
        (Path(target) / "zarr.json").unlink()
        raise Killed

    monkeypatch.setattr(
        "neuralogcm_hpc.io.zarr_writer.shutil.rmtree", killed_mid_delete
    )
    with pytest.raises(Killed):
        make_writer(path, context, overwrite=True, snapshot_every=1)
    monkeypatch.undo()
    Path(f"{path}.lock").unlink()  # the killed run's lock (stale: tested elsewhere)
    run(path, context, range(3), overwrite=True, snapshot_every=1)
    np.testing.assert_array_equal(xr.open_zarr(path).step.values, range(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.zarr"]  # debris swept


def test_a_new_store_in_a_new_directory_is_created(tmp_path, context):
    # runs/ does not exist on a fresh clone: the store's directory is made
    # before the lock file goes next to the store
    path = tmp_path / "new" / "deeper" / "o.zarr"
    run(path, context, range(2), snapshot_every=1)
    assert xr.open_zarr(path).sizes["time"] == 2

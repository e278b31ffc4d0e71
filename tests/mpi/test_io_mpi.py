"""Outputs and checkpoints written by every rank equal the global arrays they tile."""

import numpy as np
import pytest
import xarray as xr

from neuralogcm_hpc.io.checkpoint import Checkpointer, CheckpointWarning
from neuralogcm_hpc.io.zarr_writer import CoordSpec, OutputWriter, VariableSpec
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

pytestmark = pytest.mark.mpi

NX, NY, NZ, DT = 16, 8, 3, 900.0  # divisible by 1, 2 and 4 along either axis
COORDS = {
    "x": CoordSpec(np.arange(NX) * 1e4, "m", "x", "X"),
    "y": CoordSpec(np.arange(NY) * 1e4, "m", "y", "Y"),
    "depth": CoordSpec(np.array([10.0, 50.0, 200.0]), "m", "depth", "Z"),
}
VARIABLES = {
    "ssh": VariableSpec(("y", "x"), "m", "sea surface height"),
    "temp": VariableSpec(("depth", "y", "x"), "degC", "temperature"),
}
SERIAL = ParallelContext(rank=0, size=1, jax_comm=None, host_comm=None)


def global_fields(step):
    """Every cell and step has a distinct value, so a misplaced tile shows."""
    cells = np.arange(NZ * NY * NX, dtype=np.float64).reshape(NZ, NY, NX)
    return {"ssh": cells[0] * 1e-3 + step, "temp": cells + 1000.0 * step}


def tiles(fields, d, rank):
    ys, xs = d.global_slices(rank)
    return {name: value[..., ys, xs] for name, value in fields.items()}


def layouts(size):
    return sorted({(size, 1), (1, size)} | ({(2, 2)} if size == 4 else set()))


def write_steps(path, d, context, steps, **kwargs):
    writer = OutputWriter(
        path, d, context, VARIABLES, COORDS, DT, snapshot_every=1, **kwargs
    )
    for step in steps:
        writer.update(step, tiles(global_fields(step), d, context.rank))
    writer.close()


def assert_store_holds(path, steps):
    ds = xr.open_zarr(path)
    np.testing.assert_array_equal(ds.step.values, steps)
    for i, step in enumerate(steps):
        for name, value in global_fields(step).items():
            np.testing.assert_array_equal(ds[name].values[i], value)


@pytest.mark.parametrize("block", [1, 3])  # records per file (Zarr shard)
@pytest.mark.parametrize("layout_index", range(3))
def test_every_rank_writes_its_tiles(shared_tmp_path, context, layout_index, block):
    options = layouts(context.size)
    px, py = options[layout_index % len(options)]
    d = Decomposition(NX, NY, px, py)
    path = shared_tmp_path / f"out-{px}x{py}-{block}.zarr"
    write_steps(path, d, context, range(4), records_per_block=block)
    assert_store_holds(path, [0, 1, 2, 3])  # every rank reads the global store
    encoding = xr.open_zarr(path).ssh.encoding
    assert encoding["chunks"] == (1, d.tile_ny, d.tile_nx)
    files = [f for f in (path / "ssh" / "c").rglob("*") if f.is_file()]
    assert len(files) == context.size * (4 if block == 1 else 2)  # per tile


@pytest.mark.parametrize("block", [1, 3])
def test_append_on_another_rank_count_routes_chunks(shared_tmp_path, context, block):
    # a 1-rank segment made the store (one chunk = whole domain); this run's
    # smaller tiles share chunks (and shards), so each goes through its owner rank
    path = shared_tmp_path / f"append-{block}.zarr"
    if context.is_root:
        write_steps(
            path, Decomposition(NX, NY), SERIAL, range(3), records_per_block=block
        )
    context.barrier()
    d = Decomposition.auto(NX, NY, context.size)
    write_steps(path, d, context, range(2, 6), mode="a", resume_step=2)
    assert_store_holds(path, [0, 1, 2, 3, 4, 5])


def test_checkpoint_restores_here_and_on_one_rank(shared_tmp_path, context):
    d = Decomposition.auto(NX, NY, context.size)
    directory = shared_tmp_path / "ckpt"
    ckpt = Checkpointer(directory, d, context, keep=2)
    fields = global_fields(3)
    weights = np.linspace(0.0, 1.0, 7)
    for step in (3, 6):
        ckpt.save(step, tiles(fields, d, context.rank), {"w": weights}, {"n": step})
    restored = ckpt.load_latest(required=True)
    assert restored.step == 6
    for name, value in tiles(fields, d, context.rank).items():
        np.testing.assert_array_equal(restored.tiled[name], value)
    np.testing.assert_array_equal(restored.replicated["w"], weights)
    if context.is_root:  # a serial restart reads the whole global arrays
        serial = Checkpointer(directory, Decomposition(NX, NY), SERIAL).load_latest()
        for name, value in fields.items():
            np.testing.assert_array_equal(serial.tiled[name], value)
    context.barrier()


def test_corruption_found_by_any_rank_is_agreed(shared_tmp_path, context):
    d = Decomposition.auto(NX, NY, context.size)
    ckpt = Checkpointer(shared_tmp_path / "corrupt", d, context, keep=3)
    for step in (1, 2):
        ckpt.save(step, tiles(global_fields(step), d, context.rank), {}, {})
    if context.is_root:  # damage the last rank's chunk, verified by another rank
        last = d.size - 1
        ix, iy = d.coords(last)
        chunk = ckpt.committed()[0] / "tiled" / "temp" / "c" / "0" / str(iy) / str(ix)
        data = bytearray(chunk.read_bytes())
        data[-1] ^= 0x80
        chunk.write_bytes(bytes(data))
    context.barrier()
    if context.is_root:
        with pytest.warns(CheckpointWarning, match="array 'temp'"):
            restored = ckpt.load_latest()
    else:
        restored = ckpt.load_latest()
    assert restored.step == 1  # every rank skipped the same corrupt checkpoint


def row_digest_definition(fields):
    """The documented state_sha256: per field, its name, then the sha256 of each
    global row (leading indices outer, y inner) of its float64 values."""
    import hashlib

    top = hashlib.sha256()
    for name in sorted(fields):
        top.update(name.encode())
        rows = np.asarray(fields[name], np.float64).reshape(-1, NX)
        for row in rows:
            top.update(hashlib.sha256(row.tobytes()).digest())
    return top.hexdigest()


def test_state_digest_is_the_same_on_every_layout(context):
    from neuralogcm_hpc.parallel.digest import global_digest

    fields = global_fields(3)
    want = row_digest_definition(fields)
    for px, py in layouts(context.size):
        d = Decomposition(NX, NY, px, py)
        assert global_digest(tiles(fields, d, context.rank), d, context) == want


def test_state_digest_never_holds_a_global_field_on_rank_0(context):
    """Rank 0's peak allocation while hashing a 256 x 256 x 4 field (2 MiB) tiled
    over 1 x size ranks stays near one tile (the old gather took > 2 fields)."""
    import tracemalloc

    from neuralogcm_hpc.parallel.digest import global_digest

    if context.size == 1:
        pytest.skip("a single rank holds the whole field by definition")
    n = 256
    d = Decomposition(n, n, 1, context.size)
    ys, xs = d.global_slices(context.rank)
    tile = np.add.outer(np.arange(4.0), np.arange(n * n).reshape(n, n)[ys, xs])
    tracemalloc.start()
    global_digest({"t": tile}, d, context)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.75 * 4 * n * n * 8, peak  # one tile is 1/size of that


def test_a_write_failing_on_one_rank_stops_every_rank_without_a_hole(
    shared_tmp_path, context
):
    """Record 2's chunk of the last rank's tile cannot be written (a directory in
    its place): every rank raises, naming that rank, and the axis ends at 1."""
    from neuralogcm_hpc.io.output_store import OutputError

    d = Decomposition(NX, NY, context.size, 1)
    path = shared_tmp_path / "o.zarr"
    writer = OutputWriter(path, d, context, VARIABLES, COORDS, DT, snapshot_every=1)
    for step in (0, 1):
        writer.update(step, tiles(global_fields(step), d, context.rank))
    writer.flush()
    if context.is_root:
        (path / "ssh" / "c" / "2" / "0" / str(context.size - 1)).mkdir(parents=True)
    context.barrier()
    with pytest.raises(OutputError, match=f"rank {context.size - 1}: "):
        for step in range(2, 12):
            writer.update(step, tiles(global_fields(step), d, context.rank))
        writer.flush()
    writer.close()
    context.barrier()
    np.testing.assert_array_equal(xr.open_zarr(path).step.values, [0, 1])


def test_a_used_directory_seen_by_rank_0_only_is_refused_on_every_rank(
    tmp_path, context
):
    """Node-local directories: only rank 0's holds a checkpoint. Rank 0 decides
    for all, so every rank refuses (before: rank 0 alone raised, the rest hung)."""
    from neuralogcm_hpc.io.checkpoint import CheckpointError

    d = Decomposition(NX, NY, context.size, 1)
    if context.is_root:
        Checkpointer(tmp_path, Decomposition(NX, NY), SERIAL).save(
            5, tiles(global_fields(5), Decomposition(NX, NY), 0), {}, {}
        )
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        Checkpointer(tmp_path, d, context).claim(resume=False)

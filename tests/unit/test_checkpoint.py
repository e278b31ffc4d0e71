"""Checkpoints: round trip, keep-last-K, corruption detection, atomicity, signals."""

import json
import os
import shutil
import signal
import subprocess
import threading

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neuralogcm_hpc.io.checkpoint import (
    Checkpointer,
    CheckpointError,
    CheckpointWarning,
)
from neuralogcm_hpc.io.pytree import tree_from_arrays, tree_to_arrays
from neuralogcm_hpc.io.signals import GracefulStop
from neuralogcm_hpc.parallel.context import ParallelContext
from neuralogcm_hpc.parallel.decomposition import Decomposition

NX, NY = 12, 8


def state(step):
    """Distinct, step-dependent content of every dtype a restart needs."""
    rng = np.random.default_rng(step)
    tiled = {
        "u": rng.standard_normal((NY, NX)),
        "temp": rng.standard_normal((3, NY, NX)).astype(np.float32),
        "memory.u": np.zeros((NY, NX)),  # all-fill chunk must still be a file
    }
    replicated = {
        "step": np.int64(step),
        "key": np.array([step, 7], np.uint32),
        "params.viscosity": rng.random(1),
        "mask": np.array([True, False]),
    }
    return tiled, replicated


def save(ckpt, step):
    tiled, replicated = state(step)
    return ckpt.save(step, tiled, replicated, {"config": {"seed": 1}, "data": step})


def assert_equal_state(restored, step):
    tiled, replicated = state(step)
    assert restored.step == step and restored.metadata["data"] == step
    for name, value in {**tiled, **replicated}.items():
        got = {**restored.tiled, **restored.replicated}[name]
        assert got.dtype == np.asarray(value).dtype
        np.testing.assert_array_equal(got, value)  # bitwise


@pytest.fixture
def ckpt(tmp_path, context):
    return Checkpointer(tmp_path / "ckpt", Decomposition(NX, NY), context, keep=2)


def test_round_trip_and_keep_last_k(ckpt):
    for step in (10, 20, 30, 40):
        save(ckpt, step)
    assert [p.name for p in ckpt.committed()] == [
        "ckpt-000000000040",
        "ckpt-000000000030",
    ]
    assert_equal_state(ckpt.load_latest(), 40)
    assert_equal_state(ckpt.load("ckpt-000000000030"), 30)


def test_read_with_another_decomposition(ckpt):
    save(ckpt, 5)
    tiled, _ = state(5)
    d = Decomposition(NX, NY, 2, 2)
    for rank in range(4):  # each rank of a 2 x 2 run reads its own tile slice
        ctx = ParallelContext(rank=rank, size=4, jax_comm=None, host_comm=None)
        reader = Checkpointer(ckpt.directory, d, ctx)
        restored = reader.load_latest()
        ys, xs = d.global_slices(rank)
        np.testing.assert_array_equal(restored.tiled["temp"], tiled["temp"][:, ys, xs])


def corruptible_files(path):
    manifest = json.loads((path / "manifest.json").read_text())
    return sorted(manifest["files"])


def test_every_flipped_byte_is_detected_and_names_the_array(ckpt):
    save(ckpt, 1)
    newest = save(ckpt, 2)
    files = corruptible_files(newest)
    assert any(f.startswith("tiled/memory.u/c/") for f in files)
    pristine = ckpt.directory / "pristine"
    shutil.copytree(newest, pristine)
    for rel in files:
        target = newest / rel
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        with pytest.warns(CheckpointWarning) as caught:
            restored = ckpt.load_latest()
        assert_equal_state(restored, 1)  # fell back to the older, valid one
        message = str(caught[0].message)
        assert "ckpt-000000000002" in message
        if rel.startswith(("tiled/", "replicated/")):
            assert f"array '{rel.split('/')[1]}'" in message
        else:
            assert rel in message
        shutil.copyfile(pristine / rel, target)
    assert_equal_state(ckpt.load_latest(), 2)


def test_required_but_missing_is_an_error(ckpt, tmp_path):
    assert ckpt.load_latest() is None  # cold start allowed when not required
    with pytest.raises(CheckpointError) as error:
        ckpt.load_latest(required=True)
    assert f"resume requested but no valid checkpoint in {ckpt.directory}" in str(
        error.value
    )
    assert "run without --resume to cold-start" in str(error.value)
    path = save(ckpt, 3)
    (path / "tiled" / "u" / "c" / "0" / "0").unlink()
    with pytest.warns(CheckpointWarning), pytest.raises(CheckpointError, match="'u'"):
        ckpt.load_latest(required=True)


def test_temporary_and_unmanifested_directories_are_never_chosen(ckpt):
    path = save(ckpt, 1)
    # a complete copy under a temporary name, and one that lacks its manifest
    shutil.copytree(path, ckpt.directory / ".tmp-ckpt-000000000009-0123456789ab")
    shutil.copytree(path, ckpt.directory / "ckpt-000000000008")
    (ckpt.directory / "ckpt-000000000008" / "manifest.json").unlink()
    with pytest.warns(CheckpointWarning, match="ckpt-000000000008.*manifest"):
        assert_equal_state(ckpt.load_latest(), 1)


def test_only_our_directories_are_deleted(ckpt):
    foreign = ckpt.directory / "ckpt-000000000000"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("not ours")
    other = ckpt.directory / "results"
    other.mkdir()
    stale = ckpt.directory / ".tmp-ckpt-000000000001-0123456789ab"
    stale.mkdir()
    for step in (1, 2, 3):  # the foreign one does not verify: never deleted
        save(ckpt, step)
    assert (foreign / "precious.txt").exists() and other.exists()
    assert not stale.exists()  # debris of a crashed save is cleaned
    assert len([p for p in ckpt.committed() if p != foreign]) == 2


def test_a_crash_while_pruning_leaves_no_committed_name_without_manifest(
    ckpt, monkeypatch
):
    """A kill inside the delete of an old checkpoint (it lost its manifest
    first) must not leave a ckpt-* directory a reader would trip over: the
    old one is renamed to hidden debris before it is deleted, and the next save
    sweeps the debris. Found by the CLI SIGKILL test: larger checkpoints made
    the kill land inside the delete."""
    for step in (1, 2):
        save(ckpt, step)
    real_rmtree = shutil.rmtree

    def killed_midway(path, *args, **kwargs):
        os.remove(os.path.join(path, "manifest.json"))
        raise KeyboardInterrupt("killed while deleting")

    monkeypatch.setattr(shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        save(ckpt, 3)  # prunes step 1 (keep = 2)
    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    names = sorted(os.listdir(ckpt.directory))
    committed = [n for n in names if n.startswith("ckpt-")]
    assert committed == ["ckpt-000000000002", "ckpt-000000000003"], names
    assert all((ckpt.directory / n / "manifest.json").is_file() for n in committed)
    assert ckpt.load_latest().step == 3
    save(ckpt, 4)
    assert not [p for p in os.listdir(ckpt.directory) if p.startswith(".tmp")]


def test_saving_a_step_again_replaces_it(ckpt):
    save(ckpt, 4)
    tiled, replicated = state(5)
    ckpt.save(4, tiled, replicated, {"data": 5})
    restored = ckpt.load_latest()
    assert restored.name == "ckpt-000000000004" and restored.metadata["data"] == 5
    assert not [p for p in os.listdir(ckpt.directory) if p.startswith(".tmp")]


def test_bad_tile_shape_is_refused(ckpt):
    with pytest.raises(CheckpointError, match="interior tile shape"):
        ckpt.save(1, {"u": np.zeros((NY + 4, NX + 4))}, {}, {})


class Net(eqx.Module):
    """A tiny network; its activation leaf is not an array (comes from the template)."""

    weight: jax.Array
    bias: jax.Array
    activation: object

    def __call__(self, x):
        return self.activation(self.weight @ x + self.bias)


def net(seed, width=2):
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal((width, 3)), rng.standard_normal(width)
    return Net(jnp.asarray(w), jnp.asarray(b), jnp.tanh)


def test_pytrees_round_trip(ckpt):
    model = net(0)
    optimiser = optax.adam(1e-3)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_array))
    key = jax.random.key(42)
    replicated = {
        **tree_to_arrays("net", model),
        **tree_to_arrays("opt", opt_state),
        **tree_to_arrays("key", key),
    }
    ckpt.save(1, {}, replicated, {})
    restored = ckpt.load_latest().replicated
    model2 = tree_from_arrays("net", net(1), restored)
    x = jnp.arange(3.0)
    np.testing.assert_array_equal(model2(x), model(x))
    template = optimiser.init(eqx.filter(net(1), eqx.is_array))
    opt2 = tree_from_arrays("opt", template, restored)
    assert jax.tree_util.tree_structure(opt2) == jax.tree_util.tree_structure(opt_state)
    key2 = tree_from_arrays("key", jax.random.key(0), restored)
    np.testing.assert_array_equal(jax.random.key_data(key2), jax.random.key_data(key))
    with pytest.raises(ValueError, match="expects float64\\[3, 3\\]"):
        tree_from_arrays("net", net(1, width=3), restored)


def test_signal_sets_flag_and_does_not_interrupt_a_save(ckpt, context):
    stop = GracefulStop(context).install()
    try:
        assert not stop.requested()
        tiled, replicated = state(7)
        tiled["big"] = np.ones((64, NY, NX))  # a save long enough to be hit mid-way
        timer = threading.Timer(0.005, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        ckpt.save(7, tiled, replicated, {"data": 7})
        timer.join()
        assert stop.requested() and stop.received == signal.SIGTERM
        assert ckpt.load_latest().step == 7  # the save completed and verifies
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.received == signal.SIGUSR1
    finally:
        stop.uninstall()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_usr1_after_the_loop_does_not_end_the_process(context):
    # Slurm's warning can arrive after the loop ended (the run then writes its last
    # checkpoint and SUMMARY): it must not kill the run as SIGUSR1's default would.
    previous = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        GracefulStop(context).install().uninstall()
        handler = signal.getsignal(signal.SIGUSR1)
        assert callable(handler)  # a Python handler: children do not inherit it
        os.kill(os.getpid(), signal.SIGUSR1)  # would end pytest under SIG_DFL
        # a shell started now can still trap USR1 (SIG_IGN would be inherited)
        out = subprocess.run(
            ["bash", "-c", "trap 'echo trapped' USR1; kill -USR1 $$; true"],
            capture_output=True, text=True, timeout=30,
        )
        assert "trapped" in out.stdout
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_a_failed_write_is_reported_and_never_committed(ckpt, monkeypatch):
    save(ckpt, 1)

    def broken(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(Checkpointer, "_write_tiles", broken)
    with pytest.raises(CheckpointError, match="rank 0: OSError: No space left"):
        save(ckpt, 2)
    assert [p.name for p in ckpt.committed()] == ["ckpt-000000000001"]
    assert_equal_state(ckpt.load_latest(), 1)


def corrupt(path):
    """Flip one byte of a chunk (as a disk or a killed copy would)."""
    victim = next(p for p in sorted((path / "tiled" / "u").rglob("*")) if p.is_file())
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))


def test_corrupt_newest_with_keep_1_leaves_a_resumable_checkpoint(tmp_path, context):
    """keep counts only checkpoints that verify: a corrupt ckpt-100 must not push
    out the one a resumed run loaded, nor the one it just wrote."""
    d = Decomposition(NX, NY)
    first = Checkpointer(tmp_path / "c", d, context, keep=2)
    for step in (50, 100):
        save(first, step)
    corrupt(tmp_path / "c" / "ckpt-000000000100")
    resumed = Checkpointer(tmp_path / "c", d, context, keep=1)
    with pytest.warns(CheckpointWarning, match="ckpt-000000000100 is corrupt"):
        assert resumed.load_latest(required=True).step == 50
    save(resumed, 60)
    save(resumed, 70)  # 60 goes: keep=1 of the valid ones, 50 was loaded
    names = sorted(p.name for p in resumed.committed())
    assert names == ["ckpt-000000000050", "ckpt-000000000070", "ckpt-000000000100"]
    with pytest.warns(CheckpointWarning):
        assert_equal_state(Checkpointer(tmp_path / "c", d, context).load_latest(), 70)


def test_a_used_directory_is_claimed_only_with_resume_and_by_one_run(ckpt):
    ckpt.claim(resume=False)
    save(ckpt, 1)
    other = Checkpointer(ckpt.directory, ckpt.decomposition, ckpt.context)
    with pytest.raises(CheckpointError, match=r"in use by another run \(host .*pid"):
        other.claim(resume=True)
    ckpt.release()
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        other.claim(resume=False)
    other.claim(resume=True)  # the refusal above did not keep the lock
    other.release()
    assert [p.name for p in ckpt.committed()] == ["ckpt-000000000001"]


@pytest.mark.parametrize(
    "entry", ["/etc/hostname", "../outside", "tiled/../../outside"]
)
def test_manifest_entries_outside_the_checkpoint_do_not_verify(ckpt, entry):
    path = save(ckpt, 7)
    outside = ckpt.directory / "outside"
    outside.write_text("x")
    manifest = json.loads((path / "manifest.json").read_text())
    from neuralogcm_hpc.io.storage import sha256_file

    target = entry if entry.startswith("/") else path / entry
    manifest["files"][entry] = sha256_file(target)
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert any("not a file inside" in p for p in ckpt.verify(path))


def test_a_symlink_escaping_the_checkpoint_does_not_verify(ckpt, tmp_path):
    path = save(ckpt, 7)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(path / "tiled" / "u", elsewhere)
    shutil.rmtree(path / "tiled" / "u")
    os.symlink(elsewhere, path / "tiled" / "u")  # same bytes, but outside
    assert any("not a file inside" in p for p in ckpt.verify(path))


def test_array_names_in_metadata_must_be_plain(ckpt):
    path = save(ckpt, 7)
    info = json.loads((path / "metadata.json").read_text())
    info["tiled"].append("../../../x/ckpt-7/tiled/u")
    (path / "metadata.json").write_text(json.dumps(info))
    manifest = json.loads((path / "manifest.json").read_text())
    from neuralogcm_hpc.io.storage import sha256_file

    manifest["files"]["metadata.json"] = sha256_file(path / "metadata.json")
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="not plain"):
        ckpt.load_latest()


def test_planted_symlinks_never_break_saves_nor_are_followed(ckpt, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    ckpt.directory.mkdir(parents=True)
    os.symlink(victim, ckpt.directory / "ckpt-000000000000")
    os.symlink(victim, ckpt.directory / ".tmp-ckpt-000000000001-0123456789ab")
    with pytest.warns(UserWarning, match="not a plain directory"):
        for step in (1, 2, 3):
            save(ckpt, step)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert len(ckpt.committed()) == 2
    os.symlink(victim, ckpt.directory / "ckpt-000000000009")
    with pytest.raises(CheckpointError, match="not a plain directory; remove it"):
        save(ckpt, 9)
    assert (victim / "precious.txt").exists()

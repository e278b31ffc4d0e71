"""Lock files: holder in the refusal, stale takeover on this host only."""

import json
import os
import socket
import subprocess
import sys

import pytest

from neuralogcm_hpc.io.locks import FileLock, LockError, LockWarning


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def plant(path, host, pid):
    path.write_text(json.dumps({"host": host, "pid": pid, "started": "then",
                                "token": "theirs"}))


def test_a_held_lock_names_its_holder_and_release_frees_it(tmp_path):
    first, second = FileLock(tmp_path / "l", "x"), FileLock(tmp_path / "l", "x")
    first.acquire()
    with pytest.raises(LockError, match=f"host {socket.gethostname()}, pid "
                       f"{os.getpid()}, started "):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
    assert not (tmp_path / "l").exists()


def test_a_dead_process_on_this_host_is_stale_and_taken_over(tmp_path):
    plant(tmp_path / "l", socket.gethostname(), dead_pid())
    lock = FileLock(tmp_path / "l", "x")
    with pytest.warns(LockWarning, match="stale lock"):
        lock.acquire()
    assert json.loads((tmp_path / "l").read_text())["pid"] == os.getpid()
    lock.release()


def test_another_hosts_lock_is_never_taken_over(tmp_path):
    plant(tmp_path / "l", "some-other-node", dead_pid())
    with pytest.raises(LockError, match="some-other-node.*remove the lock file"):
        FileLock(tmp_path / "l", "x").acquire()
    assert json.loads((tmp_path / "l").read_text())["token"] == "theirs"
    FileLock(tmp_path / "l", "x").release()  # not ours: left in place
    assert (tmp_path / "l").exists()


def test_a_kill_while_the_lock_is_being_written_never_blocks_the_next_run(tmp_path):
    """A process SIGKILLed inside acquire, after the lock file's name could exist
    but before its holder was written (here: inside json.dump), must not leave a
    lock that names nobody and so can never be found stale."""
    script = (
        "import json, os, signal, sys\n"
        "from neuralogcm_hpc.io.locks import FileLock\n"
        "json.dump = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)\n"
        "FileLock(sys.argv[1], 'x').acquire()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "l")])
    assert proc.returncode == -9
    lock = FileLock(tmp_path / "l", "x")
    lock.acquire()
    assert json.loads((tmp_path / "l").read_text())["pid"] == os.getpid()
    lock.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # debris swept

"""Lock files that keep a second run off a checkpoint directory or output store.

A lock is a JSON file (host, pid, start time, a random token) created by rank 0
complete or not at all: the holder is written to a private temporary file that is
then hard-linked to the lock's name (fails if it exists). A lock created empty
and filled afterwards would, after a SIGKILL in between, name no holder and so
block every later run until removed by hand. Stale-lock rule: a lock whose
holder is on THIS host and whose pid no longer exists is stale and taken over
with a warning; a lock held on another host is never taken over (its pid cannot
be checked from here): remove the file by hand once that run is known to be
dead.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
import uuid
import warnings
from pathlib import Path


class LockError(RuntimeError):
    """The path is locked by another run (or the lock cannot be created)."""


class LockWarning(UserWarning):
    """A stale lock (dead process on this host) was taken over."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    return (
        f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, "
        f"started {holder.get('started', '?')}"
    )


class FileLock:
    """An exclusive lock file at ``path`` for ``what`` (named in messages)."""

    def __init__(self, path: str | Path, what: str):
        self.path, self.what = Path(path), what
        self._token: str | None = None

    def acquire(self) -> None:
        """Take the lock or raise LockError naming the holder (one line)."""
        me = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "token": uuid.uuid4().hex,
        }
        self._sweep()
        for _ in range(2):  # second try after removing a stale lock
            try:
                self._create(me)
            except FileExistsError:
                holder = _read(self.path)
                if not self._stale(holder):
                    raise LockError(
                        f"{self.what} is in use by another run ({describe(holder)}; "
                        f"lock file {self.path}); wait for it to end, or remove the "
                        "lock file if that run is dead"
                    ) from None
                warnings.warn(
                    f"taking over the stale lock {self.path} of a dead process "
                    f"({describe(holder)})",
                    LockWarning,
                    stacklevel=2,
                )
                self.path.unlink(missing_ok=True)
                continue
            except OSError as exc:
                raise LockError(f"cannot lock {self.what}: {exc}") from exc
            self._token = me["token"]
            return
        raise LockError(f"{self.what}: another run took the lock {self.path} first")

    def _create(self, me: dict) -> None:
        """Create the lock file holding ``me``, atomically; FileExistsError if
        it exists."""
        # host and pid in the name: a kill mid-write leaves a file without them
        name = f"{self.path.name}.tmp-{me['host']}.{me['pid']}.{me['token']}"
        tmp = self.path.with_name(name)
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, self.path)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # no hard links on this file system: exclusive create, then fill
                # (the brief empty window comes back only here)
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                with os.fdopen(fd, "w") as handle:
                    json.dump(me, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
        finally:
            tmp.unlink(missing_ok=True)

    def _sweep(self) -> None:
        """Remove temporary lock files left by dead processes on this host (a
        kill between writing one and linking it)."""
        prefix = f"{self.path.name}.tmp-"
        for tmp in self.path.parent.glob(f"{prefix}*"):
            parts = tmp.name[len(prefix) :].rsplit(".", 2)  # host.pid.token
            if len(parts) == 3 and parts[1].isdigit():
                if self._stale({"host": parts[0], "pid": int(parts[1])}):
                    tmp.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock file if it is still ours (never another run's)."""
        if self._token is not None and _read(self.path).get("token") == self._token:
            self.path.unlink(missing_ok=True)
        self._token = None

    @staticmethod
    def _stale(holder: dict) -> bool:
        """Only a lock of a dead process on this host is known to be stale; an
        unreadable lock file (a holder still writing it) is treated as held."""
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False
        return not _alive(pid)

"""One training run at a time on a checkpoint: a lock file beside it that names who trains.

``fit`` takes ``<checkpoint>.lock`` before it reads or writes the checkpoint and removes it when
it ends, however it ends (an error, Ctrl-C). The file is created atomically (``O_EXCL``), so of
two runs started on one path exactly one gets it; it holds the process id and host of its run.
A second run on the path while the first trains is refused, naming that process. A lock left
by a run that was killed (its process no longer runs on this host, or it names this very
process but no ``fit`` here holds it) is taken over with a warning that says so. A lock from
another machine (a checkpoint on a shared drive) cannot be checked and is refused: its message
says which file to delete if that run is over.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import warnings
from pathlib import Path


class CheckpointInUseError(RuntimeError):
    """Another run is training with this checkpoint now."""


class StaleLockWarning(UserWarning):
    """A lock left by a run that no longer runs was taken over."""


_HELD: set[str] = set()  # the lock files this process holds


def lock_path(checkpoint) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".lock")


class CheckpointLock:
    """The lock of one checkpoint path: :meth:`acquire` before training, :meth:`release` after."""

    def __init__(self, checkpoint):
        self.checkpoint, self.path, self.token = Path(checkpoint), lock_path(checkpoint), None

    def acquire(self) -> bool:
        """Take the lock; ``False`` where no file can be created there (a read-only folder: the
        run may still read a finished checkpoint, and writing is checked on its own)."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "token": uuid.uuid4().hex,
              "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError:
                return False
            try:
                with os.fdopen(fd, "w") as file:
                    json.dump(me, file)
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise
            self.token = me["token"]
            _HELD.add(str(self.path))
            return True
        raise CheckpointInUseError(f"could not take the lock {self.path}: another run keeps "
                                   "creating it. Give this run its own checkpoint=...")

    def release(self) -> None:
        """Remove the lock, if it is still this run's (never another run's)."""
        if self.token is None:
            return
        if (_read(self.path) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)
        _HELD.discard(str(self.path))
        self.token = None

    def _take_over_if_stale(self) -> None:
        holder = _read(self.path)
        if holder is None:
            raise CheckpointInUseError(
                f"the checkpoint {self.checkpoint} is locked by {self.path}, which does not say "
                "which run holds it (it is being created, or was left unfinished). If no run is "
                f"training with this checkpoint, delete {self.path} and run again; else give "
                "this run its own checkpoint=...")
        pid, host = holder.get("pid"), holder.get("host")
        here = host == socket.gethostname()
        mine = here and pid == os.getpid()
        if here and isinstance(pid, int) and (
                (mine and str(self.path) not in _HELD) or (not mine and not _running(pid))):
            warnings.warn(f"{self.path} was left by a run (process {pid} on {host}, started "
                          f"{holder.get('started', '?')}) that no longer runs: it was killed or "
                          "crashed. Taking the checkpoint over", StaleLockWarning, stacklevel=5)
            self.path.unlink(missing_ok=True)
            return
        who = ("this process (another fit call, in a callback or a thread)" if mine
               else f"process {pid} on {host}")
        raise CheckpointInUseError(
            f"the checkpoint {self.checkpoint} is in use: {who} has been training with it since "
            f"{holder.get('started', '?')} (lock file {self.path}). Two runs on one checkpoint "
            "overwrite each other's epochs, and resuming would continue the other run. Wait "
            "until it ends, or give this run its own checkpoint=...; if that run is over (its "
            f"machine restarted), delete {self.path}")


def _read(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine; where that cannot be told, yes."""
    if os.name == "nt":  # os.kill(pid, 0) would end the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it runs, as another user
        return True
    return True

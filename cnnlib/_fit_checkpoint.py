"""The checkpoint of one ``fit`` call: the one object that checks, owns, resumes, saves, reports.

``fit`` hands its ``checkpoint=`` and ``resume=`` arguments to :class:`FitCheckpoint` and never
looks at the path again. Made before any training work, it checks the path; :meth:`open` owns
the file for the run (its lock, :mod:`cnnlib._lock`), resumes from it or refuses to overwrite
it, and checks that it can be written; :meth:`save` writes each epoch; :meth:`report` says
where the run stands. Without a path (``checkpoint=None``) every step does nothing, so ``fit``
has no branch of its own for it. The file's format (atomic saves, verified loads) is
:mod:`cnnlib.checkpoint`'s.

It also remembers, per model, which checkpoint an earlier ``fit`` was writing when it changed
the model, so that ``resume=True`` without that file does not continue from part-trained
weights.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

from ._identity import run_identity
from ._lock import CheckpointLock
from ._storable import plain_history, plain_values
from .checkpoint import (CheckpointSaveError, check_destination, check_path, load_checkpoint,
                         save_checkpoint)

_CHANGED_BY_FIT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> checkpoint


class FitCheckpoint:
    """The checkpoint file of one ``fit`` call (or none), from its first check to its lock's
    release. ``saved`` is the epoch the file holds (``None`` before the first save)."""

    def __init__(self, checkpoint, resume: bool, callbacks: list):
        """Check the arguments before any training work: ``resume`` needs a file, the path
        must name one (:func:`~cnnlib.checkpoint.check_path`: ``~`` expanded, a symbolic link
        written through), and no callback may write the same file."""
        if not isinstance(resume, bool):
            raise TypeError(f"resume must be True or False, got {resume!r}: resume=True "
                            "continues the run in checkpoint=, resume=False starts one (a "
                            "string such as 'False' would count as True)")
        if resume and checkpoint is None:
            raise ValueError("resume=True needs checkpoint=<path of the file to resume from>")
        self.path = check_path(checkpoint) if checkpoint is not None else None
        self.resume, self.saved, self.state = resume, None, None
        self.lock = CheckpointLock(self.path) if self.path is not None else None
        check_other_writers(self.path, callbacks)

    def open(self, state, epochs: int, train_loader) -> "FitCheckpoint":
        """Own the file (its lock), resume ``state`` from it if asked (its ``history`` and
        ``start``) or refuse to overwrite it, and, if epochs are left, check that it can be
        written. A failure releases the lock; used as ``with``, the lock goes when fit ends."""
        self.state = state
        self.identity = run_identity(state.model, state.optimizer, train_loader)  # as given
        if self.path is None:
            return self
        try:
            if epochs and not self.path.parent.exists():
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                except OSError:
                    pass  # check_destination says why, and what to do
            if self.path.parent.exists():
                self.lock.acquire()
            if self.resume:
                self._resume()
            elif epochs and self.path.exists():
                raise FileExistsError(
                    f"checkpoint={str(self.path)!r} already holds a run, and resume=False would "
                    "start a new run over it (nothing is trained or written yet). Pass "
                    "resume=True to continue that run; give this run another checkpoint path; "
                    "or delete the file if you no longer need it")
            if state.start < epochs:  # a finished run only reads its file (read-only disk)
                check_destination(self.path, state.model)
                check_scheduler_storable(state.scheduler, self.path)
        except BaseException:
            self.close()
            raise
        return self

    def _resume(self) -> None:
        """Continue from the file; without one, refuse a model an earlier fit changed."""
        state = self.state
        if self.path.exists():
            self.saved, state.history = load_checkpoint(
                self.path, model=state.model, optimizer=state.optimizer,
                scheduler=state.scheduler, loaders=state.loaders, run=self.identity)
            state.start = self.saved
        elif _CHANGED_BY_FIT.get(state.model) == _key(self.path):
            raise ValueError(
                f"resume=True, but there is no checkpoint at {self.path} to resume from, and "
                f"this {type(state.model).__name__} was already trained by an earlier fit(..., "
                f"checkpoint={str(self.path)!r}) that left no file there: its weights are "
                "part-trained, and continuing from them would not be a fresh start. Build the "
                "model (and its optimizer and scheduler) again and run again; or pass "
                "resume=False to go on training this model as it is.")

    def save(self, epoch: int) -> None:
        """Save this epoch; a failure stops the run with the history and the old file kept."""
        if self.path is None:
            return
        state = self.state
        try:
            save_checkpoint(self.path, model=state.model, optimizer=state.optimizer,
                            scheduler=state.scheduler, epoch=epoch, history=state.history,
                            loaders=state.loaders, run=self.identity)
        except Exception as error:
            raise CheckpointSaveError(
                f"could not save the checkpoint of epoch {epoch}: {_sentence(error)} Training "
                f"stopped after epoch {epoch}; {self._kept(epoch)}", state.history, epoch,
                self.saved) from error
        self.saved = epoch

    def check_history(self, callback, epoch: int) -> None:
        """After a callback: the history it may have changed can still be saved, else the run
        stops now rather than at the next save."""
        if self.path is None:
            return
        try:
            plain_history(self.state.history, self.path)
        except TypeError as error:
            name = getattr(callback, "__name__", type(callback).__name__)
            raise CheckpointSaveError(
                f"the callback {name} put a value into the history that no checkpoint can "
                f"hold, so the next save would fail: {_sentence(error)} Training stopped "
                f"after epoch {epoch}; {self._kept(epoch)}", self.state.history, epoch,
                self.saved) from error

    def _kept(self, epoch: int) -> str:
        """What is left after a failed save: the file, the history, the model."""
        if self.saved is None:
            file = f"no checkpoint was saved to {self.path}"
            fix = "fix the cause, build the model again and train again"
        else:
            file = f"the checkpoint {self.path} still holds epoch {self.saved}, intact"
            fix = (f"fix the cause, then continue with fit(..., checkpoint="
                   f"{str(self.path)!r}, resume=True)")
        return (f"{file}; the {len(self.state.history)} completed epoch(s) are in this error's "
                f".history, and the model holds the weights of epoch {epoch}; {fix}.")

    def report(self) -> str:
        """Where the file stands, for the line printed after Ctrl-C."""
        if self.saved is not None:
            return (f"the last checkpoint is {self.path} (epoch {self.saved}); continue with "
                    f"fit(..., checkpoint={str(self.path)!r}, resume=True)")
        return "no checkpoint was saved" + ("" if self.path is None else f" to {self.path}")

    def model_changed(self, changed: bool) -> None:
        """Remember that this fit changed the model (and the change was kept), so that a
        ``resume=True`` without this file refuses its part-trained weights."""
        if self.path is not None and changed:
            _CHANGED_BY_FIT[self.state.model] = _key(self.path)

    def close(self) -> None:
        """Give the file up (remove the lock): at the end of fit, however it ends."""
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> "FitCheckpoint":
        return self

    def __exit__(self, *error) -> None:
        self.close()


def _key(path) -> str:
    return os.path.abspath(os.fspath(path))


def _sentence(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if text.endswith(".") else text + "."


def check_other_writers(path: Path | None, callbacks: list) -> None:
    """No two files of the run are one: the checkpoint and a callback's file (BestCheckpoint)."""
    writers = ([("checkpoint=", path)] if path is not None else []) + [
        (type(c).__name__, getattr(c, "path")) for c in callbacks
        if isinstance(getattr(c, "path", None), (str, os.PathLike))]
    seen: dict = {}
    for name, where in writers:
        if os.fspath(where).endswith(".lock"):
            raise ValueError(
                f"{name} would write {where}, but a name ending in .lock is the lock file fit "
                "keeps beside a checkpoint while it trains (run.pt's is run.pt.lock): saving "
                "there would replace a run's lock. Give a path that does not end in .lock, "
                "such as one ending in .pt")
        key = os.path.realpath(os.path.expanduser(os.fspath(where)))
        if key in seen:
            raise ValueError(
                f"{seen[key]} and {name} would write the same file, {where}: the one written "
                "last would replace the other (a model-only file cannot be resumed from). Give "
                f"each its own path, e.g. {Path(where).with_name(Path(where).stem + '_best.pt')}")
        seen[key] = name


def check_scheduler_storable(scheduler, path) -> None:
    """The scheduler's state can go into a checkpoint, checked before the first epoch rather
    than at the first save (``MultiStepLR`` keeps its milestones in a ``Counter``)."""
    if scheduler is None:
        return
    try:
        plain_values(scheduler.state_dict(), "the scheduler's state", path, "scheduler")
    except TypeError as error:
        raise TypeError(
            f"{error} Checked before the first epoch: {type(scheduler).__name__} cannot be saved "
            "in a checkpoint. Use a scheduler whose state is plain numbers (StepLR, LambdaLR, "
            "OneCycleLR; for MultiStepLR's milestones, a LambdaLR with the same factors), or "
            "checkpoint=None") from None

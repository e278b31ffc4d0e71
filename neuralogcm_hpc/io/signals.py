"""Graceful stop: SIGTERM / SIGUSR1 (Slurm's warning signal) set a flag the loop polls.

Usage in the time loop (collective)::

    stop = GracefulStop(context).install()
    for ...:
        state = advance(state, ...)
        if stop.requested():            # all ranks agree (any rank signalled)
            checkpointer.save(...)      # final checkpoint, then leave the loop
            break
    stop.uninstall()

The handler only sets a flag: a checkpoint being written when the signal arrives
finishes normally; a hard kill mid-save leaves only a ``.tmp-`` directory, which
is never loaded (the commit is an atomic rename).
"""

from __future__ import annotations

import signal

from neuralogcm_hpc.parallel.context import ParallelContext

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class GracefulStop:
    """Records that a stop signal arrived; ``requested()`` agrees across ranks."""

    def __init__(self, context: ParallelContext, signals=SIGNALS):
        self.context, self.signals = context, tuple(signals)
        self.received: int | None = None
        self._previous: dict = {}

    def install(self) -> GracefulStop:
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, previous in self._previous.items():
            # SIGUSR1 is Slurm's "time limit near" warning, never a request to die.
            # After the loop (last checkpoint, SUMMARY, shutdown) it has nothing left
            # to do, and its default action would end the process there: no SUMMARY,
            # and the run's locks left behind (another node never takes them over).
            # Seen under a real Slurm: a segment that reached its target was killed
            # this way. So a do-nothing handler takes it where it would have been
            # fatal: not SIG_IGN, which every child process inherits (a shell
            # started later could then never trap USR1; the Slurm segment tests
            # failed after any test had run a simulation), while a Python
            # handler is reset to the default in children.
            if sig == signal.SIGUSR1 and previous in (signal.SIG_DFL, None):
                previous = _ignore
            signal.signal(sig, previous)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def requested(self) -> bool:
        """True on every rank if any rank has received a stop signal (collective)."""
        return self.context.any_rank(self.received is not None)


def _ignore(signum, frame) -> None:
    """A late USR1: nothing left to stop (see GracefulStop.uninstall)."""

"""Stopping a training cleanly on SIGINT (Ctrl-C): finish the current step, checkpoint, say how to continue.

:func:`stop_requests` installs a SIGINT handler for the duration of a :func:`kdtaxonomy.train.fit` that has
a checkpoint (main thread, one process only): the first Ctrl-C sets a flag that ``fit`` reads after each
optimizer step; a second one interrupts at once (``KeyboardInterrupt``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


class Interrupted(RuntimeError):
    """Training stopped on request after ``steps`` optimizer steps; its state is in ``checkpoint``."""

    def __init__(self, label: str, steps: int, checkpoint: Path) -> None:
        super().__init__(f"{label}: interrupted after step {steps}; its checkpoint is {checkpoint}")
        self.label = label
        self.steps = steps
        self.checkpoint = checkpoint


class StopFlag:
    """Set by the first SIGINT while installed."""

    def __init__(self) -> None:
        self.requested = False


@contextmanager
def stop_requests(enabled: bool) -> Iterator[StopFlag | None]:
    """A :class:`StopFlag` set by SIGINT while the block runs (None when disabled or off the main thread)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield None
        return
    flag = StopFlag()

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        flag.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)

"""Ctrl-C during training: stop at the next step, keep a checkpoint, say how to go on.

The command line installs `install_sigint_handler()`. While the train stage
runs, the first Ctrl-C (SIGINT) only sets a flag: `StopOnInterrupt` asks the
Estimator to stop after the current step, the Estimator writes its final
checkpoint, and the train stage raises `TrainingInterrupted`. A second Ctrl-C,
or one outside training, interrupts at once (KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

import estimators as est

__all__ = [
    "StopOnInterrupt",
    "TrainingInterrupted",
    "install_sigint_handler",
    "request_stop",
    "stop_requested",
    "training",
]

_requested = threading.Event()
_training = threading.Event()


class TrainingInterrupted(Exception):
    """Training stopped on request after writing a checkpoint.

    Attributes:
        step: The global_step of the checkpoint written.
        run_id: The MLflow run to continue with `--resume`.
    """

    def __init__(self, step: int, run_id: str) -> None:
        super().__init__(
            f"training interrupted at global_step {step}; a checkpoint was written"
        )
        self.step = step
        self.run_id = run_id


def request_stop() -> None:
    """Asks the running training to stop at its next step."""
    _requested.set()


def stop_requested() -> bool:
    """Whether a stop was requested during the current training."""
    return _requested.is_set()


@contextlib.contextmanager
def training() -> Iterator[None]:
    """Marks training as running (where the first Ctrl-C stops gracefully)."""
    _requested.clear()
    _training.set()
    try:
        yield
    finally:
        _training.clear()


class StopOnInterrupt(est.Hook):
    """Requests the Estimator's stop after the step during which Ctrl-C came."""

    def steps_until_needed(self, global_step: int) -> int | None:
        return None  # a Ctrl-C is seen at the next host step: fused steps stay fused

    def after_step(self, context: est.StepContext) -> None:
        if _requested.is_set():
            context.request_stop()


def install_sigint_handler() -> None:
    """First Ctrl-C in training: stop at the next step; otherwise interrupt."""

    def handle(signum: int, frame: Any) -> None:
        if _training.is_set() and not _requested.is_set():
            _requested.set()
            print(
                "\nStopping at the next step and writing a checkpoint "
                "(Ctrl-C again to abort at once)...",
                file=sys.stderr,
                flush=True,
            )
            return
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handle)

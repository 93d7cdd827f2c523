"""`ProgressHook`: what `train` shows while it runs, as Keras' progress bar does.

On a terminal, a live bar (`rich`): step / total (when `max_steps` or `steps`
is known), percentage, loss, steps/s and the time left. Anywhere else (CI logs,
a pipe, a file), one plain line every `every_secs` seconds and a last one at the
end, so logs stay short and grep-able:

    train: step 1200/20000 (6%), loss 0.4213, 850 steps/s, 0:00:22 left

The hook reads the loss at most a few times a second (each read waits for the
device), and handles a loop that reports several steps at once (fused steps:
`global_step` may jump between calls).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from estimators.hooks import Hook, StepContext

__all__ = ["ProgressHook", "format_duration"]

_BAR_REFRESH_SECS = 0.25


def format_duration(seconds: float) -> str:
    """`H:MM:SS` of a duration, or "?" when unknown.

    Example:
        >>> format_duration(3725.4), format_duration(float("nan"))
        ('1:02:05', '?')
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressHook(Hook):
    """Shows training progress: a live bar on a terminal, plain lines elsewhere.

    Args:
        stream: Where to write; default `sys.stderr` (looked up at `begin`).
        bar: True for the live bar, False for plain lines; None (default)
            chooses the bar when `stream` is a terminal.
        every_secs: Seconds between plain lines. Default 10.
        log: Send plain lines to this callable (e.g. a logger's `info`) instead
            of `stream`; implies `bar=False`.
        description: The label in front of the bar or lines. Default "train".

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> hook = ProgressHook(out, bar=False)
        >>> context = StepContext(mode="train", global_step=0, model_dir=None,
        ...                       last_step=100)
        >>> hook.begin(context)
        >>> context.global_step = 100
        >>> context._set_outputs({"loss": 0.25})
        >>> hook.after_step(context); hook.end(context)
        >>> out.getvalue().splitlines()[-1].startswith("train: step 100/100 (100%)")
        True
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        bar: bool | None = None,
        every_secs: float = 10.0,
        log: Callable[[str], Any] | None = None,
        description: str = "train",
    ) -> None:
        if not isinstance(every_secs, int | float) or every_secs <= 0:
            raise ValueError(f"`every_secs` must be > 0, got {every_secs!r}.")
        self._stream = stream
        self._bar_wanted = bar
        self.every_secs = float(every_secs)
        self._log = log
        self.description = description
        self._progress: Any = None
        self._task: Any = None

    @classmethod
    def from_setting(cls, setting: bool | str) -> ProgressHook | None:
        """The hook `RunConfig(progress=setting)` asks for, or None for False.

        "auto" and True: the bar on a terminal, plain lines elsewhere; "bar" or
        "lines": always that.

        Example:
            >>> ProgressHook.from_setting(False) is None
            True
        """
        if setting is False:
            return None
        return cls(bar={"bar": True, "lines": False}.get(setting))  # type: ignore[arg-type]

    # -- what is shown ---------------------------------------------------------

    def begin(self, context: StepContext) -> None:
        self._start_step = self._step = context.global_step
        self._total = (
            None if context.last_step is None else context.last_step - self._start_step
        )
        self._start = self._last_line = self._last_read = time.monotonic()
        self._loss: float | None = None
        self._lines = 0
        stream = self._stream if self._stream is not None else sys.stderr
        self._out = stream
        use_bar = self._bar_wanted
        if self._log is not None:
            use_bar = False
        elif use_bar is None:
            use_bar = _is_terminal(stream)
        if use_bar:
            self._open_bar(stream)

    def steps_until_needed(self, global_step: int) -> int | None:
        return None  # shown whenever the loop is on the host: fused steps stay fused

    def after_step(self, context: StepContext) -> None:
        self._step = context.global_step
        now = time.monotonic()
        line_due = self._progress is None and now - self._last_line >= self.every_secs
        bar_due = self._progress is not None and now - self._last_read >= (
            _BAR_REFRESH_SECS
        )
        if not (line_due or bar_due):
            return
        self._last_read = now
        self._loss = _loss(context)  # the one device read per refresh
        if self._progress is not None:
            self._update_bar()
        else:
            self._last_line = now
            self._emit(self.line())

    def end(self, context: StepContext) -> None:
        self._step = context.global_step
        if context.global_step != self._start_step or self._lines == 0:
            self._loss = _loss(context) if self._loss is None else self._loss
        if self._progress is not None:
            self._update_bar()
            self._progress.stop()
            self._progress = None
        elif self._step != self._start_step:
            self._emit(self.line(final=True))

    # -- numbers ---------------------------------------------------------------

    @property
    def steps_done(self) -> int:
        """Steps trained since `begin` (fused steps counted one by one)."""
        return self._step - self._start_step

    def rate(self) -> float:
        """Steps per second since `begin`."""
        elapsed = time.monotonic() - self._start
        return self.steps_done / elapsed if elapsed > 0 else float("nan")

    def line(self, *, final: bool = False) -> str:
        """The plain progress line for the current step."""
        parts = [f"{self.description}: step {self._step}"]
        if self._total:
            done = self.steps_done
            parts[0] += f"/{self._start_step + self._total} ({done / self._total:.0%})"
        if self._loss is not None:
            parts.append(f"loss {self._loss:.4g}")
        rate = self.rate()
        if math.isfinite(rate):
            parts.append(f"{_rate_text(rate)} steps/s")
        if final:
            elapsed = time.monotonic() - self._start
            parts.append(f"done in {format_duration(elapsed)}")
        elif self._total and rate > 0:
            left = (self._total - self.steps_done) / rate
            parts.append(f"{format_duration(left)} left")
        return ", ".join(parts)

    # -- output ----------------------------------------------------------------

    def _emit(self, text: str) -> None:
        self._lines += 1
        if self._log is not None:
            self._log(text)
            return
        print(text, file=self._out, flush=True)

    def _open_bar(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} steps/s"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            refresh_per_second=4,
            transient=False,
        )
        self._task = self._progress.add_task(
            self.description, total=self._total, loss="-", rate="-"
        )
        self._progress.start()

    def _update_bar(self) -> None:
        rate = self.rate()
        self._progress.update(
            self._task,
            completed=self.steps_done,
            loss="-" if self._loss is None else f"{self._loss:.4g}",
            rate=_rate_text(rate) if math.isfinite(rate) else "-",
        )


def _rate_text(rate: float) -> str:
    """`1,150` steps/s, or `2.47` for slow ones."""
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def _loss(context: StepContext) -> float | None:
    try:
        return context.loss
    except (KeyError, TypeError, ValueError):
        return None


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False

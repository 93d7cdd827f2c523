"""Where scalar metrics go: a small protocol and three writers.

The library writes metrics only through `MetricWriter`; the MLflow writer lives
in `tasks/`, so `estimators` never imports a tracking backend.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Protocol, Self, runtime_checkable

import numpy as np

from estimators.atomic import write_with

__all__ = ["InMemoryWriter", "JsonlWriter", "MetricWriter", "MultiWriter"]


@runtime_checkable
class MetricWriter(Protocol):
    """Receives scalar metrics keyed by global step.

    Example:
        >>> isinstance(InMemoryWriter(), MetricWriter)
        True
    """

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Records `scalars` (name -> value) at global step `step`."""
        ...

    def flush(self) -> None:
        """Makes everything written so far durable or visible."""
        ...

    def close(self) -> None:
        """Flushes and releases resources; later writes are errors."""
        ...


def _to_points(step: int, scalars: Mapping[str, float]) -> list[tuple[str, float]]:
    """Checks the names and turns numpy/jax scalars into floats."""
    points = []
    for name, value in scalars.items():
        if not isinstance(name, str):
            raise TypeError(f"metric names must be str, got {name!r} at step {step}.")
        try:
            if np.ndim(value) != 0:
                raise TypeError
            points.append((name, float(value)))
        except (TypeError, ValueError):
            raise TypeError(
                f"metric {name!r} at step {step} must be a scalar, got {value!r}."
            ) from None
    return points


class _Closable:
    _closed: bool = False

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{type(self).__name__} is closed.")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # type: ignore[attr-defined]


class InMemoryWriter(_Closable):
    """Keeps every scalar in memory, for tests and notebooks.

    Attributes:
        scalars: name -> list of `(step, value)` in the order written.

    Example:
        >>> w = InMemoryWriter()
        >>> w.write_scalars(1, {"loss": 0.5})
        >>> w.write_scalars(2, {"loss": 0.25, "accuracy": 0.75})
        >>> w.history("loss")
        [(1, 0.5), (2, 0.25)]
    """

    def __init__(self) -> None:
        self.scalars: dict[str, list[tuple[int, float]]] = {}

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Appends each value to its name's history."""
        self._check_open()
        for name, value in _to_points(step, scalars):
            self.scalars.setdefault(name, []).append((int(step), value))

    def history(self, name: str) -> list[tuple[int, float]]:
        """Returns the `(step, value)` pairs written for `name`.

        Raises:
            KeyError: nothing was written under `name`; lists the known names.
        """
        if name not in self.scalars:
            raise KeyError(
                f"no scalar named {name!r} was written; known: {sorted(self.scalars)}"
            )
        return list(self.scalars[name])

    def flush(self) -> None:
        """Does nothing: everything is already in memory."""

    def close(self) -> None:
        """Marks the writer closed; the recorded scalars stay readable."""
        self._closed = True


class JsonlWriter(_Closable):
    """Appends one JSON object per scalar to a file, buffered.

    Each line is `{"step": int, "name": str, "value": float, "wall_time": float}`.
    Reopening the same path appends (a resumed run continues the file); a
    partial last line left by a killed process is dropped on reopen. Lines reach
    the disk (fsync) when `max_buffered` lines are waiting, when `flush_secs`
    passed since the last flush, and on `flush()` (training flushes before every
    checkpoint it commits, so a kill loses no point older than the checkpoint).

    Args:
        path: The `.jsonl` file; its directory is created if missing.
        max_buffered: Lines kept in memory before an automatic flush. Default 1000.
        flush_secs: Seconds after which a write flushes the buffer. Default 5.
        purge_step: If given, lines with `step >= purge_step` are removed on
            open, as TensorBoard's `purge_step` does for a run resumed from an
            earlier checkpoint. Default `None`.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.TemporaryDirectory()
        >>> path = os.path.join(d.name, "metrics.jsonl")
        >>> with JsonlWriter(path) as w:
        ...     w.write_scalars(10, {"loss": 0.5})
        >>> with open(path) as f:
        ...     json.loads(f.readline())["value"]
        0.5
        >>> d.cleanup()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_buffered: int = 1000,
        flush_secs: float = 5.0,
        purge_step: int | None = None,
    ) -> None:
        if max_buffered < 1:
            raise ValueError(f"`max_buffered` must be >= 1, got {max_buffered}.")
        self.path = os.fspath(path)
        self._max_buffered = max_buffered
        self._flush_secs = flush_secs
        self._flushed_at = time.monotonic()
        self._buffer: list[str] = []
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        _repair(self.path, purge_step)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Buffers one line per scalar; flushes when the buffer is full."""
        self._check_open()
        wall_time = time.time()
        for name, value in _to_points(step, scalars):
            record = {"step": int(step), "name": name, "value": value}
            self._buffer.append(json.dumps(record | {"wall_time": wall_time}) + "\n")
        if (
            len(self._buffer) >= self._max_buffered
            or time.monotonic() - self._flushed_at >= self._flush_secs
        ):
            self.flush()

    def flush(self) -> None:
        """Writes the buffered lines and makes them durable (fsync)."""
        self._check_open()
        self._flushed_at = time.monotonic()
        if not self._buffer:
            return
        self._file.writelines(self._buffer)
        self._buffer.clear()
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Flushes and closes the file; closing twice is allowed."""
        if not self._closed:
            self.flush()
            self._file.close()
            self._closed = True


def _repair(path: str, purge_step: int | None) -> None:
    """Drops a torn last line and, with `purge_step`, lines from that step on."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return
    lines = text.splitlines(keepends=True)
    keep = [line for line in lines if line.endswith("\n")]
    if purge_step is not None:
        keep = [line for line in keep if _step_of(line) < purge_step]
    if len(keep) != len(lines):
        write_with(path, lambda tmp: _write_lines(tmp, keep))


def _write_lines(path: str, lines: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)


def _step_of(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("-inf")  # not ours to judge: keep it


class MultiWriter(_Closable):
    """Sends every call to several writers.

    Args:
        writers: The `MetricWriter`s to fan out to, called in order.

    Example:
        >>> a, b = InMemoryWriter(), InMemoryWriter()
        >>> MultiWriter([a, b]).write_scalars(3, {"loss": 1.0})
        >>> a.history("loss") == b.history("loss") == [(3, 1.0)]
        True
    """

    def __init__(self, writers: Iterable[MetricWriter]) -> None:
        self.writers = list(writers)
        for i, writer in enumerate(self.writers):
            if not isinstance(writer, MetricWriter):
                raise TypeError(
                    f"`writers[{i}]` must be a MetricWriter (write_scalars, flush, "
                    f"close), got {type(writer).__name__}."
                )

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Writes `scalars` to every writer."""
        self._check_open()
        for writer in self.writers:
            writer.write_scalars(step, scalars)

    def flush(self) -> None:
        """Flushes every writer."""
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        """Closes every writer, even if one fails; re-raises the first error."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for writer in self.writers:
            try:
                writer.close()
            except Exception as e:  # the other writers must still close
                errors.append(e)
        if errors:
            raise errors[0]

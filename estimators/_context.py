"""Trace-time context shared by the Estimator, losses, metrics and summaries.

While the Estimator traces a `model_fn` it opens a `model_fn_scope`; code called
from the `model_fn` (losses, metrics, `summary.scalar`) reads the example mask
and records summaries through it. Outside a scope there is no mask and summaries
are dropped.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["current_mask", "current_mode", "model_fn_scope", "record_summary"]


@dataclass
class _Scope:
    mask: Any
    mode: str | None
    summaries: dict[str, Any] = field(default_factory=dict)


_local = threading.local()


def _stack() -> list[_Scope]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


@contextlib.contextmanager
def model_fn_scope(mask: Any = None, mode: str | None = None) -> Iterator[_Scope]:
    """Opens a scope for one trace of a `model_fn`; yields it to collect summaries."""
    scope = _Scope(mask=mask, mode=mode)
    _stack().append(scope)
    try:
        yield scope
    finally:
        _stack().pop()


def _top() -> _Scope | None:
    stack = _stack()
    return stack[-1] if stack else None


def current_mask() -> Any:
    """The float32 `[B]` mask of real (1.0) vs padded (0.0) examples, or None."""
    scope = _top()
    return None if scope is None else scope.mask


def current_mode() -> str | None:
    """The mode of the `model_fn` being traced, or None outside one."""
    scope = _top()
    return None if scope is None else scope.mode


def record_summary(name: str, value: Any) -> None:
    """Records a scalar summary in the current scope (dropped outside one)."""
    scope = _top()
    if scope is None:
        return
    if not isinstance(name, str) or not name:
        raise ValueError(f"summary name must be a non-empty string, got {name!r}.")
    scope.summaries[name] = value

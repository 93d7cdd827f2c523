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

__all__ = [
    "current_host_only",
    "current_mask",
    "current_mode",
    "model_fn_scope",
    "record_summary",
]


@dataclass
class _Scope:
    mask: Any
    mode: str | None
    host_only: Any = None
    summaries: dict[str, Any] = field(default_factory=dict)


_local = threading.local()


def _stack() -> list[_Scope]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


@contextlib.contextmanager
def model_fn_scope(
    mask: Any = None, mode: str | None = None, host_only: Any = None
) -> Iterator[_Scope]:
    """Opens a scope for one trace of a `model_fn`; yields it to collect summaries.

    `host_only` maps the names of input columns that JAX cannot hold (strings) to
    their kind, so that a model_fn asking for one gets a message saying so.
    """
    scope = _Scope(mask=mask, mode=mode, host_only=host_only)
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


def current_host_only() -> dict[str, str]:
    """Input columns kept on the host (name -> kind) in the current scope."""
    scope = _top()
    return dict(scope.host_only or ()) if scope is not None else {}


def record_summary(name: str, value: Any) -> None:
    """Records a scalar summary in the current scope (dropped outside one)."""
    scope = _top()
    if scope is None:
        return
    if not isinstance(name, str) or not name:
        raise ValueError(f"summary name must be a non-empty string, got {name!r}.")
    scope.summaries[name] = value

"""Argument checks shared across the library: one rule, one message.

Example:
    >>> import numpy as np
    >>> check_positive_int("steps", np.int64(5))
    5
    >>> check_positive_int("steps", 0)
    Traceback (most recent call last):
    ...
    ValueError: `steps` must be > 0, got 0.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["check_at_most_one", "check_positive_int", "is_int"]


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any, *, owner: str = "") -> int | None:
    """Returns `value` as an int if it is an integer > 0; None passes through.

    Args:
        name: The argument's name, as the user wrote it.
        value: What the user gave.
        owner: The class or function the argument belongs to, prefixed to the
            message (e.g. "TrainSpec").
    """
    if value is None:
        return None
    if not is_int(value) or value <= 0:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}`{name}` must be > 0, got {value!r}.")
    return int(value)


def check_at_most_one(**arguments: Any) -> None:
    """Raises unless at most one of the keyword `arguments` is not None.

    Example:
        >>> check_at_most_one(steps=3, max_steps=None)
    """
    given = {k: v for k, v in arguments.items() if v is not None}
    if len(given) > 1:
        names = " and ".join(f"`{k}`" for k in arguments)
        values = " and ".join(f"{k}={v!r}" for k, v in given.items())
        raise ValueError(f"give at most one of {names}, got {values}.")

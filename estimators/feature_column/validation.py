"""Argument checks shared by the column factories: one helper per rule.

Each raises a one-line `ValueError` naming the argument, the rule and the value
received, so the same mistake gets the same message from every factory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "COMBINERS",
    "canonical_dtype",
    "check_combiner",
    "check_initializer",
    "check_key",
    "check_positive_int",
    "is_integer_dtype",
]

COMBINERS = ("mean", "sqrtn", "sum")

_STRING_ALIASES = ("string", "str", "bytes", "object", "binary", "utf8")
_NUMERIC_DTYPES = frozenset(
    f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)
) | {"float16", "float32", "float64", "bfloat16", "bool"}


def check_key(key: Any, arg: str = "key") -> str:
    """A non-empty string (a feature key or a scope name)."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"`{arg}` must be a non-empty string, got {key!r}.")
    return key


def check_positive_int(value: Any, arg: str, *, minimum: int = 1) -> int:
    """An integer in `[minimum, 2**31)` (ids and sizes are int32)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"`{arg}` must be an integer, got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{arg}` must be >= {minimum}, got {value}.")
    if value >= 2**31:
        raise ValueError(f"`{arg}` must be < 2**31 (ids are int32), got {value}.")
    return int(value)


def canonical_dtype(dtype: Any, arg: str = "dtype") -> str:
    """Maps `str`, `"string"`, `np.float32`, `jnp.int64`, ... to a dtype name."""
    if dtype in (str, bytes, np.str_, np.bytes_, object) or (
        isinstance(dtype, str) and dtype.lower() in _STRING_ALIASES
    ):
        return "string"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = getattr(dtype, "name", None) or str(dtype)
    if name not in _NUMERIC_DTYPES:
        raise ValueError(f"`{arg}` must be a numeric dtype or 'string', got {dtype!r}.")
    return name


def is_integer_dtype(name: str) -> bool:
    """Whether a `canonical_dtype` name is a (signed or unsigned) integer."""
    return name.startswith(("int", "uint"))


def check_initializer(value: Any, arg: str) -> Callable[..., Any] | None:
    """None or a callable jax initializer."""
    if value is not None and not callable(value):
        raise ValueError(
            f"`{arg}` must be None or a jax initializer `(key, shape, dtype)`, "
            f"got {value!r}."
        )
    return value


def check_combiner(combiner: Any, arg: str = "combiner") -> str:
    """One of `COMBINERS`."""
    if combiner not in COMBINERS:
        raise ValueError(f"`{arg}` must be one of {list(COMBINERS)}, got {combiner!r}.")
    return combiner

"""Shared type aliases for the public API."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import numpy as np

__all__ = ["Array", "Features", "InputFn", "Labels", "ModelFn", "Params"]

Array: TypeAlias = Any  # a jax.Array, numpy array or pyarrow.Array
Features: TypeAlias = Mapping[str, Array]
Labels: TypeAlias = Array | Mapping[str, Array] | None
Params: TypeAlias = Mapping[str, Any]
ModelFn: TypeAlias = Callable[..., Any]
InputFn: TypeAlias = Callable[..., Iterable[tuple[Features, Labels]] | Any]
HostArray: TypeAlias = np.ndarray

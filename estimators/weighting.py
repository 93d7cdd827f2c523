"""Example weights and safe division shared by `est.losses` and `est.metrics`.

Weights broadcast to the values' shape and are multiplied by the trace-time
padding mask, so padded rows count for nothing.

Example:
    >>> import jax.numpy as jnp
    >>> example_weights(None, (2,)).tolist()
    [1.0, 1.0]
    >>> float(div_no_nan(jnp.float32(1.0), jnp.float32(0.0)))
    0.0
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from estimators import _context
from estimators.typing import Array

__all__ = ["div_no_nan", "example_weights", "mask_for"]


def div_no_nan(num: jax.Array, den: jax.Array) -> jax.Array:
    """`num / den`, 0 where `den == 0`, with finite gradients everywhere."""
    safe = jnp.where(den == 0, 1.0, den)
    return jnp.where(den == 0, 0.0, num / safe)


def mask_for(shape: tuple[int, ...]) -> jax.Array | None:
    """The current padding mask shaped to broadcast over `shape`, or None."""
    mask = _context.current_mask()
    if mask is None or not shape:  # a scalar has no examples to mask
        return None
    mask = jnp.asarray(mask, jnp.float32)
    if mask.ndim != 1 or mask.shape[0] != shape[0]:
        raise ValueError(
            f"values of shape {shape} must have the batch as their leading axis "
            f"(mask shape {mask.shape}) so that padded examples can be masked."
        )
    return mask.reshape(mask.shape + (1,) * (len(shape) - 1))


def example_weights(weights: Array | None, shape: tuple[int, ...]) -> jax.Array:
    """Float32 `weights` broadcast to `shape`, times the padding mask.

    `None` means 1. A `[B]` or `[B, 1]` weight is applied per example.
    """
    w = jnp.ones((), jnp.float32) if weights is None else jnp.asarray(weights)
    w = w.astype(jnp.float32)
    if w.ndim == len(shape) + 1 and w.shape[-1] == 1:
        w = w[..., 0]
    if 0 < w.ndim < len(shape):
        w = w.reshape(w.shape + (1,) * (len(shape) - w.ndim))
    if w.ndim and (
        w.ndim != len(shape)
        or any(a not in (1, b) for a, b in zip(w.shape, shape, strict=True))
    ):
        raise ValueError(
            f"`weights` of shape {w.shape} cannot be broadcast to the values' shape "
            f"{shape}: each axis must be 1 or match (or give one weight per example)."
        )
    w = jnp.broadcast_to(w, shape)
    mask = mask_for(shape)
    return w if mask is None else w * mask

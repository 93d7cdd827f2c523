"""Drop-in flax layers that train faster on XLA:CPU: `Conv` and `max_pool`.

XLA:CPU runs small convolutions and the gradient of `nn.max_pool` far below the
machine's speed (docs/cpu-convolutions.md has the measurements): a 5x5 convolution
from 16 to 36 channels on 4x4 maps, batch 128, takes ~6.5 ms forward and ~7 ms for
its input gradient, while the same arithmetic as one matrix product takes ~0.7 ms.
These layers compute the same functions with formulations XLA:CPU handles well:

- `Conv` is `flax.linen.Conv` (same fields, same parameters `kernel` [*kernel_size,
  in, out] and `bias` [out], so checkpoints are interchangeable) whose convolution
  is `conv_general_dilated` below: im2col by strided slices of the padded input,
  stacked along the channel axis, then one matrix product. Its derivative with
  respect to the input is the transpose of those slices (pads and adds, fast); with
  respect to the kernel, a product of the same patches with the output gradient
  (no convolution op at all, so it stays fast inside a fused loop of steps).
- `max_pool` is `flax.linen.max_pool`; for non-overlapping windows (`strides ==
  window_shape`, padding `"VALID"`) the forward is a reshape and a max, and the
  gradient goes to the first maximum of each window (row-major), exactly as
  `nn.max_pool`'s select-and-scatter does, by a min-reduction and masks.

Anything else (grouped, transposed or dilated-input convolutions, non-channels-last
layouts, overlapping or padded pools) falls back to the `jax.lax` / flax
operation, so the layers are safe to use everywhere. `Conv` equals `nn.Conv` to
float tolerance (its sums run in another order); `max_pool` equals `nn.max_pool`
exactly, gradients included.

Off the CPU, XLA's convolutions are the fast path: keep `nn.Conv` on GPU/TPU.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

__all__ = ["Conv", "conv_general_dilated", "max_pool"]

Padding = str | Sequence[tuple[int, int]]


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: Padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> jax.Array:
    """`jax.lax.conv_general_dilated` computed as im2col + one matrix product.

    Same signature and result (to float tolerance) as `jax.lax.conv_general_dilated`.
    Channels-last layouts (`NHWC`/`HWIO`/`NHWC`, and their 1-D and 3-D analogues,
    what `flax.linen.Conv` passes) with any strides, padding and kernel dilation
    take the im2col path; the rest is handed to `jax.lax.conv_general_dilated`.

    Args:
        lhs: The input, `[batch, *spatial, in_features]`.
        rhs: The kernel, `[*kernel_size, in_features, out_features]`.
        window_strides: The stride per spatial dimension.
        padding: `"SAME"`, `"VALID"` or one `(low, high)` pair per spatial dimension.
        lhs_dilation: Input dilation (transposed convolution): handed to lax
            unless all ones.
        rhs_dilation: Kernel dilation per spatial dimension (default ones).
        dimension_numbers: As for `jax.lax.conv_general_dilated`.
        feature_group_count: Handed to lax unless 1.
        batch_group_count: Handed to lax unless 1.
        precision: Passed to the matrix product.
        preferred_element_type: Handed to lax unless None.

    Returns:
        The convolution, `[batch, *out_spatial, out_features]`.

    Example:
        >>> import numpy as np
        >>> x = np.ones((2, 8, 8, 1), np.float32)
        >>> k = np.ones((5, 5, 1, 3), np.float32)
        >>> dn = ("NHWC", "HWIO", "NHWC")
        >>> y = conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=dn)
        >>> y.shape, float(y[0, 0, 0, 0]), float(y[0, 4, 4, 0])
        ((2, 8, 8, 3), 9.0, 25.0)
    """
    nsp = lhs.ndim - 2
    strides = tuple(window_strides)
    dilation = tuple(rhs_dilation) if rhs_dilation is not None else (1,) * nsp
    fallback = functools.partial(
        lax.conv_general_dilated,
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    if (
        dn != _channels_last(nsp)
        or feature_group_count != 1
        or batch_group_count != 1
        or (lhs_dilation is not None and any(d != 1 for d in lhs_dilation))
        or preferred_element_type is not None
    ):
        return fallback()
    window = tuple(
        (k - 1) * d + 1 for k, d in zip(rhs.shape[:nsp], dilation, strict=True)
    )
    if isinstance(padding, str):
        pads = tuple(lax.padtype_to_pads(lhs.shape[1:-1], window, strides, padding))
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        return fallback()
    return _conv(lhs, rhs, strides, pads, dilation, precision)


def _channels_last(nsp):
    """`NHWC`/`HWIO`/`NHWC` for `nsp` spatial dimensions, as flax's `nn.Conv` uses."""
    return lax.ConvDimensionNumbers(
        lhs_spec=(0, nsp + 1, *range(1, nsp + 1)),
        rhs_spec=(nsp + 1, nsp, *range(nsp)),
        out_spec=(0, nsp + 1, *range(1, nsp + 1)),
    )


def _im2col_conv(x, kernel, strides, pads, dilation, precision):
    """Strided slices of the padded input, one per kernel offset, then a matmul."""
    nsp = x.ndim - 2
    sizes = kernel.shape[:nsp]
    x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    out = [
        (x.shape[d + 1] - (sizes[d] - 1) * dilation[d] - 1) // strides[d] + 1
        for d in range(nsp)
    ]
    columns = []
    for offset in itertools.product(*(range(k) for k in sizes)):
        start = (0, *(o * dil for o, dil in zip(offset, dilation, strict=True)), 0)
        limit = (
            x.shape[0],
            *(
                s + (n - 1) * st + 1
                for s, n, st in zip(start[1:-1], out, strides, strict=True)
            ),
            x.shape[-1],
        )
        columns.append(lax.slice(x, start, limit, (1, *strides, 1)))
    matrix = kernel.reshape(-1, kernel.shape[-1])  # rows: (offset row-major, in)
    # Stacked before the channel axis rather than concatenated on it: the same
    # layout, which XLA:CPU builds ~25% faster (Hvass CNN's second layer). For one
    # input channel a fused elementwise sum of broadcasts is 4x faster alone but
    # made the whole training step 30% slower (XLA duplicates it into consumers).
    patches = jnp.stack(columns, -2).reshape(*columns[0].shape[:-1], -1)
    return lax.dot_general(
        patches, matrix, (((nsp + 1,), (0,)), ((), ())), precision=precision
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _conv(x, kernel, strides, pads, dilation, precision):
    return _im2col_conv(x, kernel, strides, pads, dilation, precision)


def _conv_jvp(strides, pads, dilation, precision, primals, tangents):
    # Linear in the tangents, so reverse mode transposes each term: the input's
    # into pads and adds (the input gradient), the kernel's into a product of the
    # patches with the output gradient (the kernel gradient). XLA's own
    # kernel-gradient convolution is as fast in one step but runs 5x slower
    # inside a loop (a fused `lax.scan` of training steps: 23 vs 4.5 ms per step
    # for the Hvass CNN); the product is fast in both.
    x, kernel = primals
    x_dot, kernel_dot = tangents
    y = _im2col_conv(x, kernel, strides, pads, dilation, precision)
    terms = []
    if not isinstance(x_dot, SymbolicZero):
        terms.append(_im2col_conv(x_dot, kernel, strides, pads, dilation, precision))
    if not isinstance(kernel_dot, SymbolicZero):
        terms.append(_im2col_conv(x, kernel_dot, strides, pads, dilation, precision))
    y_dot = sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)
    return y, y_dot


_conv.defjvp(_conv_jvp, symbolic_zeros=True)


class Conv(nn.Conv):
    """`flax.linen.Conv` with the im2col convolution: faster on XLA:CPU.

    Same fields, defaults and parameters as `nn.Conv` (a checkpoint written with
    one restores into the other); only `conv_general_dilated` defaults to this
    module's. See `conv_general_dilated` for what takes the fast path.

    Example:
        >>> import jax, numpy as np
        >>> import flax.linen as nn
        >>> x = np.ones((2, 8, 8, 1), np.float32)
        >>> params = nn.Conv(16, (5, 5)).init(jax.random.key(0), x)
        >>> y = Conv(16, (5, 5)).apply(params, x)
        >>> bool(np.allclose(y, nn.Conv(16, (5, 5)).apply(params, x), atol=1e-5))
        True
    """

    conv_general_dilated: Callable[..., jax.Array] | None = conv_general_dilated


def max_pool(
    inputs: jax.Array,
    window_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: Padding = "VALID",
) -> jax.Array:
    """`flax.linen.max_pool` with a fast gradient for non-overlapping windows.

    When `strides` equals `window_shape` and `padding` is `"VALID"`, the pool is a
    reshape and a max, and its gradient goes to the first maximum of each
    window in row-major order, as `nn.max_pool`'s does; other arguments are
    handed to `nn.max_pool`.

    Args:
        inputs: `[batch, *spatial, features]` (or without the batch axis).
        window_shape: The window size per spatial dimension.
        strides: The stride per spatial dimension (default ones, as flax's:
            overlapping windows, which take `nn.max_pool`'s path).
        padding: `"VALID"`, `"SAME"` or one `(low, high)` pair per dimension.

    Returns:
        The pooled array.

    Example:
        >>> import numpy as np
        >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
        >>> max_pool(x, (2, 2), strides=(2, 2))[0, :, :, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    window = tuple(window_shape)
    nsp = len(window)
    strides = (1,) * nsp if strides is None else tuple(strides)
    zero_pads = padding == "VALID" or (
        not isinstance(padding, str) and all(tuple(p) == (0, 0) for p in padding)
    )
    if strides != window or not zero_pads or inputs.ndim not in (nsp + 1, nsp + 2):
        return nn.max_pool(inputs, window, strides=strides, padding=padding)
    if inputs.ndim == nsp + 1:
        return _max_pool_windows(inputs[None], window)[0]
    return _max_pool_windows(inputs, window)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _max_pool_windows(x, window):
    return _windows(x, window).max(axis=_window_axes(window))


def _windows(x, window):
    """`[B, *spatial, C]` -> `[B, n0, w0, n1, w1, ..., C]`, remainders dropped."""
    counts = [size // w for size, w in zip(x.shape[1:-1], window, strict=True)]
    x = x[
        (slice(None), *(slice(0, n * w) for n, w in zip(counts, window, strict=True)))
    ]
    shape = [x.shape[0]]
    for n, w in zip(counts, window, strict=True):
        shape += [n, w]
    return x.reshape(*shape, x.shape[-1])


def _window_axes(window):
    return tuple(2 + 2 * d for d in range(len(window)))


@_max_pool_windows.defjvp
def _max_pool_windows_jvp(window, primals, tangents):
    # The tangent of the first maximum of each window (row-major): what
    # select-and-scatter gives `nn.max_pool`'s gradient, ties included. The first
    # is the smallest window position holding the maximum: one min-reduction in
    # the same layout, which XLA:CPU fuses (a mask per window offset on strided
    # slices, or `reduce_window`'s select-and-scatter, ran 1.3-2x slower in the
    # whole training step; docs/cpu-convolutions.md).
    (x,), (x_dot,) = primals, tangents
    axes = _window_axes(window)
    blocks = _windows(x, window)
    y = blocks.max(axis=axes)
    size = int(np.prod(window))
    position = np.arange(size, dtype=np.int32).reshape(
        [1] + [d for w in window for d in (1, w)] + [1]
    )
    equal = blocks == jnp.expand_dims(y, axes)
    first = jnp.where(equal, position, size).min(axis=axes, keepdims=True)
    y_dot = jnp.where(position == first, _windows(x_dot, window), 0).sum(axis=axes)
    return y, y_dot

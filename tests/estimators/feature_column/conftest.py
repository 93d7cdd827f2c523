"""Fixtures for the feature-column tests: a tiny flax wrapper for in-model code."""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import pytest


class _Model(nn.Module):
    """Runs `fn(features)` inside a compact method, as the Estimator does."""

    fn: Callable[[Any], Any]

    @nn.compact
    def __call__(self, features):
        return self.fn(features)


@pytest.fixture
def run_in_model():
    """`run(fn, features, params=None, jit=False) -> (output, params)`."""

    def run(fn, features, *, params=None, jit=False):
        model = _Model(fn)
        if params is None:
            params = model.init(jax.random.key(0), features).get("params", {})
        apply = jax.jit(model.apply) if jit else model.apply
        return apply({"params": params}, features), params

    return run

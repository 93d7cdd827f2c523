"""Shared fixtures: tiny seeded data sets."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def blobs():
    """Three well-separated Gaussian blobs in 2-d: (x float32 [90, 2], y int32 [90])."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]], np.float32)
    y = np.repeat(np.arange(3, dtype=np.int32), 30)
    x = centers[y] + rng.normal(scale=0.5, size=(90, 2)).astype(np.float32)
    return x, y

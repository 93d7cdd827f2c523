"""The error every feature-column check raises on bad input data."""

from __future__ import annotations

__all__ = ["FeatureInputError"]


class FeatureInputError(ValueError):
    """A batch does not fit a column; the message names column, row and value.

    Example:
        >>> from estimators import feature_column as fc
        >>> issubclass(fc.FeatureInputError, ValueError)
        True
    """

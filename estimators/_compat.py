"""tf.estimator spellings that mean nothing on JAX: accepted with one warning each."""

from __future__ import annotations

import warnings

__all__ = ["TFCompatWarning", "warn_tf_spelling"]


class TFCompatWarning(UserWarning):
    """A tf.estimator argument was accepted but means something else (or nothing).

    Ported configs run without edits; the warning says what happens instead.
    Silence it with `warnings.filterwarnings("ignore", category=TFCompatWarning)`.

    Example:
        >>> import warnings
        >>> issubclass(TFCompatWarning, UserWarning)
        True
    """


def warn_tf_spelling(owner: str, argument: str, instead: str) -> None:
    """Warns, in one line, that `owner(argument=...)` is accepted and what happens."""
    warnings.warn(
        f"{owner}: `{argument}` is a tf.estimator argument with no meaning here; "
        f"{instead}.",
        TFCompatWarning,
        stacklevel=4,
    )

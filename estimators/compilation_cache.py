"""JAX's persistent compilation cache, on by default for Estimator programs.

A second process compiling the same model reads the compiled programs from disk
instead of compiling again (the first training step of a small model: seconds
down to a fraction of one). The cache lives in a per-user folder:
`$ESTIMATORS_COMPILATION_CACHE`, else `$XDG_CACHE_HOME/estimators/jax`, else
`~/.cache/estimators/jax`. Set `ESTIMATORS_COMPILATION_CACHE=off` to turn it off;
it is left alone when the user configured JAX's cache themselves
(`JAX_COMPILATION_CACHE_DIR` or `jax.config.update("jax_compilation_cache_dir",
...)`).

Example:
    >>> import os
    >>> default_cache_dir({"ESTIMATORS_COMPILATION_CACHE": "off"}) is None
    True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import jax

__all__ = ["default_cache_dir", "enable_default_cache"]

logger = logging.getLogger("estimators")

_OFF = ("", "0", "off", "false", "no", "none")
_enabled = False


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """The cache folder to use, or None when it is off or the user set their own."""
    chosen = environ.get("ESTIMATORS_COMPILATION_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in _OFF else chosen
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "estimators", "jax")


def enable_default_cache() -> None:
    """Points JAX's persistent cache at the default folder, once per process.

    Every compiled program is cached (no minimum compile time): the programs of
    small models compile in well under JAX's default threshold of one second,
    yet those seconds are most of a small model's start-up.
    """
    global _enabled
    if _enabled:
        return
    _enabled = True
    if jax.config.jax_compilation_cache_dir:  # the user's own setting
        return
    folder = default_cache_dir()
    if folder is None:
        return
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        logger.info("No persistent compilation cache (%s): %s", folder, e)
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

"""Names that become folders, MLflow names or Prefect names, checked before use.

`model_name` names the run folder (`work_dir/<model_name>/<run id>`), the
registered model, the experiment, the runs and the Prefect report key; a name
such as `../escape` would write outside the work_dir. Every such name is
checked where the config is loaded, with a one-line error naming the key and
the allowed pattern.
"""

from __future__ import annotations

import re

__all__ = ["ALIAS_PATTERN", "NAME_PATTERN", "check_alias", "check_name"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
"""Letters, digits, '.', '_' and '-', starting with a letter or digit, at most
100 characters (no '/', no '..', no spaces)."""

ALIAS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$"
"""An MLflow alias: letters, digits, '_' and '-', not starting with a digit."""

_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$")


def check_name(key: str, value: str, pattern: str = NAME_PATTERN) -> str:
    """Returns `value` when it matches `pattern`; else a one-line ValueError.

    Example:
        >>> check_name("model_name", "iris-v2")
        'iris-v2'
        >>> check_name("model_name", "../escape")
        Traceback (most recent call last):
        ...
        ValueError: model_name: '../escape' is not a valid name; use letters, digits, '.', '_' and '-', starting with a letter or digit (pattern ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$).
    """
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        start = "a letter or digit" if pattern == NAME_PATTERN else "a letter or '_'"
        allowed = "'.', '_' and '-'" if pattern == NAME_PATTERN else "'_' and '-'"
        raise ValueError(
            f"{key}: {value!r} is not a valid name; use letters, digits, "
            f"{allowed}, starting with {start} (pattern {pattern})."
        )
    return value


def check_alias(key: str, alias: str) -> str:
    """Returns `alias` when MLflow takes it as a model alias; else a ValueError.

    Example:
        >>> check_alias("gate.alias", "v2")
        Traceback (most recent call last):
        ...
        ValueError: gate.alias: 'v2' is reserved by MLflow ('latest', 'v<N>'); choose another, e.g. champion.
    """
    check_name(key, alias, ALIAS_PATTERN)
    if _RESERVED_ALIAS.match(alias):
        raise ValueError(
            f"{key}: {alias!r} is reserved by MLflow ('latest', 'v<N>'); "
            "choose another, e.g. champion."
        )
    return alias

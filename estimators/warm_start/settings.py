"""What to warm-start and how: `WarmStartSettings`, `VocabInfo`, `WarmStartReport`."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["VocabInfo", "WarmStartReport", "WarmStartSettings", "WarmStartWarning"]

Vocabulary = str | os.PathLike[str] | Sequence[Any]


class WarmStartWarning(UserWarning):
    """A warm start loaded less than it was asked to (the message names what)."""


@dataclasses.dataclass(frozen=True)
class VocabInfo:
    """How a variable's rows (or columns) follow a vocabulary that changed.

    tf.estimator's `VocabInfo`, with its semantics: row `i` of the new variable
    takes the checkpoint's row of the token `new_vocab[i]`; tokens absent from the
    old vocabulary and the `num_oov_buckets` rows after the vocabulary take
    `backup_initializer`'s values (zeros when it is None, as in tf).

    Args:
        new_vocab: The model's vocabulary: a vocabulary file (one token per line)
            or a list of tokens.
        new_vocab_size: How many entries of `new_vocab` the model uses.
        num_oov_buckets: How many out-of-vocabulary rows follow them.
        old_vocab: The checkpoint's vocabulary: a file or a list of tokens.
        old_vocab_size: How many entries of `old_vocab` the checkpoint used; -1
            (default) means all of them.
        backup_initializer: A `jax.nn.initializers` initializer
            (`init(key, shape, dtype)`) for the rows of new tokens and OOV
            buckets; None (default) means zeros.
        axis: 0 (default) when rows follow the vocabulary (embeddings, linear
            weights); 1 when columns do (an output layer over class names).

    Example:
        >>> info = VocabInfo(["b", "a", "new"], 3, 1, ["a", "b"])
        >>> info.old_vocab_size, info.axis
        (-1, 0)
    """

    new_vocab: Vocabulary
    new_vocab_size: int
    num_oov_buckets: int
    old_vocab: Vocabulary
    old_vocab_size: int = -1
    backup_initializer: Callable[..., Any] | None = None
    axis: int = 0

    def __post_init__(self) -> None:
        if self.axis not in (0, 1):
            raise ValueError(
                "VocabInfo: the only supported values of `axis` are 0 and 1, got "
                f"{self.axis!r}."
            )
        for name in ("new_vocab_size", "num_oov_buckets"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (name == "new_vocab_size"):
                raise ValueError(
                    f"VocabInfo: `{name}` must be an int >= "
                    f"{int(name == 'new_vocab_size')}, got {value!r}."
                )
        size = self.old_vocab_size
        if not isinstance(size, int) or (size < 1 and size != -1):
            raise ValueError(
                "VocabInfo: `old_vocab_size` must be a positive int or -1 (all), "
                f"got {self.old_vocab_size!r}."
            )
        for name in ("new_vocab", "old_vocab"):
            value = getattr(self, name)
            if not isinstance(value, os.PathLike) and len(value) == 0:
                raise ValueError(
                    f"VocabInfo: `{name}` is required: a vocabulary file or a list "
                    "of tokens."
                )


@dataclasses.dataclass(frozen=True)
class WarmStartSettings:
    """Which variables to warm-start, and from where (tf.estimator's semantics).

    Variable names are those of `Estimator.get_variable_names()`
    (`"params/dnn/hiddenlayer_0/kernel"`); patterns and dictionary keys may also
    leave out the collection (`"dnn/hiddenlayer_0/kernel"`) or use tf's canned
    name (`"dnn/input_from_feature_columns/input_layer/x_embedding/..."`), so tf
    settings port unchanged.

    Args:
        ckpt_to_initialize_from: A checkpoint or a model_dir (its latest
            checkpoint), written by this library or by TensorFlow (a tf.estimator
            model_dir or a checkpoint prefix such as `model.ckpt-1000`).
        vars_to_warm_start: As in tf: a regular expression (matched from the start
            of the name) over the trainable variables (`params`); a list of such
            expressions over every variable (batch-norm statistics too); None to
            warm-start only the variables of `var_name_to_vocab_info`. Default
            ".*": every trainable variable.
        var_name_to_vocab_info: Variable name to `VocabInfo`, for variables whose
            rows follow a vocabulary that changed since the checkpoint.
        var_name_to_prev_var_name: Variable name to its name in the checkpoint,
            for renamed variables.

    Example:
        >>> WarmStartSettings("/tmp/model", vars_to_warm_start=["dnn/hidden.*"])
        ... # doctest: +ELLIPSIS
        WarmStartSettings(ckpt_to_initialize_from='/tmp/model', ...)
    """

    ckpt_to_initialize_from: str | os.PathLike[str]
    vars_to_warm_start: str | Sequence[str] | None = ".*"
    var_name_to_vocab_info: Mapping[str, VocabInfo] | None = None
    var_name_to_prev_var_name: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not self.ckpt_to_initialize_from:
            raise ValueError(
                "WarmStartSettings: `ckpt_to_initialize_from` is required: a "
                "checkpoint or a model_dir."
            )
        selector = self.vars_to_warm_start
        if not (
            selector is None
            or isinstance(selector, str)
            or (
                isinstance(selector, Sequence)
                and all(isinstance(s, str) for s in selector)
            )
        ):
            raise ValueError(
                "WarmStartSettings: `vars_to_warm_start` must be a regular "
                "expression, a list of them or None, got "
                f"{type(selector).__name__}."
            )
        for name, value in (self.var_name_to_vocab_info or {}).items():
            if not isinstance(value, VocabInfo):
                raise TypeError(
                    f"WarmStartSettings: `var_name_to_vocab_info['{name}']` must be "
                    f"an est.VocabInfo, got {type(value).__name__}."
                )


@dataclasses.dataclass(frozen=True)
class WarmStartReport:
    """What a warm start did, by variable name.

    `loaded`: taken from the checkpoint (`remapped` ones row by row through a
    `VocabInfo`); `skipped`: selected but not loaded, with the reason;
    `initialized`: not selected, so they keep their fresh initial value.
    """

    loaded: list[str]
    skipped: list[str]
    initialized: list[str]
    remapped: list[str] = dataclasses.field(default_factory=list)
    source: str = ""

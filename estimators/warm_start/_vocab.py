"""Rows remapped by token (`VocabInfo`), and vocabulary fingerprints of columns."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import numpy as np

from estimators.warm_start.settings import VocabInfo, Vocabulary

__all__ = ["remap", "vocabulary_fingerprints"]


def read_vocabulary(vocab: Vocabulary, size: int, what: str) -> list[str]:
    """The first `size` tokens (all when -1) of a vocabulary file or list, as str."""
    if isinstance(vocab, (str, os.PathLike)):
        try:
            with open(vocab, encoding="utf-8") as f:
                tokens = [line.rstrip("\r\n") for line in f]
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(
                f"{what}: cannot read vocabulary file {vocab!r}: {e}"
            ) from None
    else:
        tokens = [_token(t) for t in vocab]
    if size > 0:
        if size > len(tokens):
            raise ValueError(
                f"{what}: the vocabulary size is {size} but the vocabulary has "
                f"{len(tokens)} entries."
            )
        tokens = tokens[:size]
    return tokens


def _token(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _index(tokens: Sequence[str], what: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token in index:
            raise ValueError(
                f"{what}: the old vocabulary holds {token!r} twice (entries "
                f"{index[token]} and {i}); tokens must be unique."
            )
        index[token] = i
    return index


def remap(
    name: str, old: np.ndarray, like: Any, info: VocabInfo
) -> tuple[np.ndarray, int]:
    """`like`'s shape and dtype filled from `old` by token along `info.axis`.

    Returns the new value and how many entries (rows or columns) came from `old`.
    """
    what = f"VocabInfo of '{name}'"
    shape, dtype = tuple(np.shape(like)), np.asarray(like).dtype
    axis = info.axis
    if axis == 1 and len(shape) != 2:
        raise ValueError(f"{what}: axis=1 needs a 2-D variable, got shape {shape}.")
    if len(shape) == 0 or len(shape) != old.ndim:
        raise ValueError(
            f"{what}: the variable has shape {shape} and the checkpoint's "
            f"{old.shape}; a vocabulary remaps along one axis only."
        )
    size = info.new_vocab_size + info.num_oov_buckets
    if shape[axis] != size:
        raise ValueError(
            f"{what}: the variable has {shape[axis]} entries along axis {axis} but "
            f"new_vocab_size + num_oov_buckets = {info.new_vocab_size} + "
            f"{info.num_oov_buckets} = {size}."
        )
    other = [d for i, d in enumerate(shape) if i != axis]
    if other != [d for i, d in enumerate(old.shape) if i != axis]:
        raise ValueError(
            f"{what}: the variable has shape {shape} and the checkpoint's "
            f"{old.shape}; only axis {axis} may differ."
        )
    new_tokens = read_vocabulary(info.new_vocab, info.new_vocab_size, what)
    old_tokens = read_vocabulary(info.old_vocab, info.old_vocab_size, what)
    if len(old_tokens) > old.shape[axis]:
        raise ValueError(
            f"{what}: the old vocabulary has {len(old_tokens)} entries but the "
            f"checkpoint's tensor only {old.shape[axis]} along axis {axis}."
        )
    old_index = _index(old_tokens, what)
    pairs = [(i, old_index[t]) for i, t in enumerate(new_tokens) if t in old_index]
    value = _backup(name, shape, dtype, info)
    if pairs:
        new_ids, old_ids = (np.asarray(ids) for ids in zip(*pairs, strict=True))
        taken = np.take(old, old_ids, axis=axis).astype(dtype)
        if axis == 0:
            value[new_ids] = taken
        else:
            value[:, new_ids] = taken
    return value, len(pairs)


def _backup(name: str, shape: tuple[int, ...], dtype: Any, info: VocabInfo) -> Any:
    """tf's missing entries: zeros, or the backup initializer's values."""
    if info.backup_initializer is None:
        return np.zeros(shape, dtype)
    key = jax.random.PRNGKey(zlib.crc32(name.encode()))
    return np.array(info.backup_initializer(key, shape, dtype), dtype)


def _vocabulary_scopes(column: Any) -> Iterable[tuple[str, Any, bool]]:
    """(variable scope, vocabulary column, owns a variable) for each vocabulary
    column reached from `column` through wrappers (weighted, embedding, ...)."""
    inner = getattr(column, "categorical_column", None)
    if inner is None:
        if getattr(column, "vocabulary_list", None) is not None:
            yield column.name, column, True
        return
    for _, vocabulary, _ in _vocabulary_scopes(inner):
        scope = getattr(column, "shared_embedding_collection_name", None)
        owns = hasattr(column, "dimension") or hasattr(column, "weight_feature_key")
        yield scope or column.name, vocabulary, owns


def vocabulary_fingerprints(columns: Iterable[Any] | None) -> dict[str, Any]:
    """`{scope: {"sha256", "size", "owns_variable"}}` of the vocabulary columns.

    A scope names the variables that follow a vocabulary: `<scope>/weights`
    (linear) or `<scope>/embedding_weights`; an indicator column owns none but
    orders the rows of the layer it feeds. Stored in checkpoints so that a warm
    start can tell that a vocabulary changed.

    Example:
        >>> from estimators import feature_column as fc
        >>> color = fc.categorical_column_with_vocabulary_list("color", ["r", "g"])
        >>> sorted(vocabulary_fingerprints([fc.embedding_column(color, 2)]))
        ['color_embedding']
    """
    found: dict[str, Any] = {}
    for column in columns or ():
        for scope, vocabulary, owns in _vocabulary_scopes(column):
            found[scope] = {
                "sha256": _digest(vocabulary),
                "size": len(vocabulary.vocabulary_list),
                "owns_variable": owns,
            }
    return found


# id(vocabulary column) -> (column, digest): columns are frozen, and the entry keeps
# its column alive so that the id is not reused; a checkpoint save is then free.
_DIGESTS: dict[int, tuple[Any, str]] = {}


def _digest(vocabulary: Any) -> str:
    cached = _DIGESTS.get(id(vocabulary))
    if cached is not None and cached[0] is vocabulary:
        return cached[1]
    tokens = [_token(t) for t in vocabulary.vocabulary_list]
    oov = int(getattr(vocabulary, "num_oov_buckets", 0))
    text = json.dumps([tokens, oov], ensure_ascii=False).encode()
    digest = hashlib.sha256(text).hexdigest()
    if len(_DIGESTS) > 256:  # bounded: many short-lived models in one process
        _DIGESTS.clear()
    _DIGESTS[id(vocabulary)] = (vocabulary, digest)
    return digest

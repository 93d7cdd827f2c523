"""`warm_start`: a new model's variables, the selected ones loaded from a checkpoint."""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import numpy as np

from estimators import checkpoints
from estimators.warm_start._sources import Source, open_source
from estimators.warm_start._tf_names import aliases
from estimators.warm_start._vocab import remap, vocabulary_fingerprints
from estimators.warm_start.settings import (
    VocabInfo,
    WarmStartReport,
    WarmStartSettings,
    WarmStartWarning,
)

__all__ = ["warm_start"]

logger = logging.getLogger("estimators")
_TRAINABLE = "params/"
_SHOWN = 8  # names listed in a warning before "..."


def _listed(names: Iterable[str]) -> str:
    names = list(names)
    more = f", ... ({len(names)} in all)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _matches(pattern: str, name: str) -> bool:
    """tf's `get_collection(scope=pattern)`: `re.match` from the start of the name,
    tried on each spelling of it, bare and with tf's ":0" (so `"v2[^/]"` selects
    `v2` and not `v2/Momentum`, as in tf)."""
    return any(
        re.match(pattern, spelled)
        for alias in aliases(name)
        for spelled in (alias, f"{alias}:0")
    )


def _grouped(names: list[str], selector: str | Iterable[str] | None) -> list[str]:
    """tf's `_get_grouped_variables`: a string (or None) selects among trainable
    variables, a list of strings among all of them."""
    if selector is None or isinstance(selector, str):
        pattern = ".*" if selector is None else selector
        return [n for n in names if n.startswith(_TRAINABLE) and _matches(pattern, n)]
    patterns = list(selector)
    return [n for n in names if any(_matches(p, n) for p in patterns)]


def _resolve_keys(
    given: Mapping[str, Any] | None, argument: str, grouped: list[str]
) -> dict[str, Any]:
    """`given` re-keyed by our names; a key naming no selected variable is an
    error, as in tf (a misspelt name would otherwise warm-start nothing)."""
    spelled = {alias: name for name in grouped for alias in aliases(name)}
    resolved, unused = {}, []
    for key, value in (given or {}).items():
        if key in spelled:
            resolved[spelled[key]] = value
        else:
            unused.append(key)
    if unused:
        raise ValueError(
            f"WarmStartSettings: `{argument}` names variables that are not warm-"
            f"started: {sorted(unused)}. Perhaps you misspelled them? The viable "
            f"variable names are: {_listed(grouped)}."
        )
    return resolved


def _scope_of(name: str, scopes: Iterable[str]) -> str | None:
    for scope in scopes:
        if name.endswith((f"/{scope}/weights", f"/{scope}/embedding_weights")):
            return scope
    return None


def _changed_vocabularies(
    source: Source, feature_columns: Iterable[Any] | None
) -> dict[str, dict[str, Any]]:
    new = vocabulary_fingerprints(feature_columns)
    return {
        scope: {**new[scope], "old_size": old.get("size")}
        for scope, old in source.vocabularies.items()
        if scope in new and old.get("sha256") != new[scope]["sha256"]
    }


class _Loader:
    """One warm start: per variable, a value and a line of the report."""

    def __init__(self, source: Source, changed: dict[str, dict[str, Any]]) -> None:
        self.source = source
        self.changed = changed
        self.loaded: list[str] = []
        self.remapped: list[str] = []
        self.skipped: list[str] = []

    def _key(self, name: str, previous: str | None) -> tuple[str | None, str]:
        """The checkpoint's key for `name`, or None and why not."""
        key = self.source.find(name, previous)
        if key is None:
            return None, "absent from the checkpoint"
        reason = self.source.unreadable(key)
        if reason is not None:
            return None, f"checkpoint's '{key}' is {reason}"
        return key, ""

    def load(self, name: str, value: Any, previous: str | None) -> Any:
        key, why = self._key(name, previous)
        if key is None:
            return self._skip(name, value, why)
        found, shape = self.source.shape(key), tuple(np.shape(value))
        if found != shape:
            hint = ""
            if _vocabulary_backed(name) and found[1:] == shape[1:]:
                hint = "; if its vocabulary changed, give var_name_to_vocab_info"
            return self._skip(name, value, f"checkpoint: {found}, model: {shape}{hint}")
        scope = _scope_of(name, self.changed)
        if scope is not None:
            change = self.changed[scope]
            return self._skip(
                name,
                value,
                f"the vocabulary of '{scope}' changed since the checkpoint "
                f"({change['old_size']} -> {change['size']} tokens): give "
                f"var_name_to_vocab_info={{'{name}': est.VocabInfo(...)}} to remap "
                "its rows by token",
            )
        self.loaded.append(name)
        return np.asarray(self.source.read(key), dtype=np.asarray(value).dtype)

    def remap(
        self, name: str, value: Any, previous: str | None, info: VocabInfo
    ) -> Any:
        key, why = self._key(name, previous)
        if key is None:
            return self._skip(name, value, why)
        new, _ = remap(name, np.asarray(self.source.read(key)), value, info)
        self.loaded.append(name)
        self.remapped.append(name)
        return new

    def _skip(self, name: str, value: Any, reason: str) -> Any:
        self.skipped.append(f"{name} ({reason})")
        return value


def _vocabulary_backed(name: str) -> bool:
    return name.endswith(("/embedding_weights", "/weights")) and not name.endswith(
        "/bias_weights"
    )


def warm_start(
    variables: Mapping[str, Any],
    settings: str | os.PathLike[str] | WarmStartSettings,
    *,
    feature_columns: Iterable[Any] | None = None,
) -> tuple[dict[str, Any], WarmStartReport]:
    """Returns `variables` with the selected ones loaded from a checkpoint, and a
    report (also logged).

    tf.estimator's semantics: `vars_to_warm_start` selects the variables (see
    `WarmStartSettings`); a selected variable with a `VocabInfo` has its rows
    remapped by token; another is loaded when the checkpoint holds it (under its
    own, its tf.estimator or its `var_name_to_prev_var_name` name) with the same
    shape. Where tf raised on an absent or reshaped variable, it is skipped here
    and a `WarmStartWarning` names it; so it is when the selection matches
    nothing. When `feature_columns` are given and the checkpoint recorded its
    vocabularies, a table whose vocabulary changed is not loaded in the old row
    order: it is skipped with a warning unless a `VocabInfo` remaps it.

    Args:
        variables: The model's freshly initialised variables (flax collections).
        settings: `WarmStartSettings`, or a checkpoint path (all trainable
            variables).
        feature_columns: The new model's feature columns, to detect vocabularies
            that changed since the checkpoint.

    Example:
        >>> import tempfile, numpy as np
        >>> from estimators import checkpoints
        >>> d = tempfile.mkdtemp()
        >>> old = {"params": {"emb": np.array([[1.0], [2.0]])}}
        >>> _ = checkpoints.save_checkpoint(d, 1, {"variables": old})
        >>> info = VocabInfo(["b", "a", "new"], 3, 0, ["a", "b"])
        >>> settings = WarmStartSettings(d, var_name_to_vocab_info={"emb": info})
        >>> new, report = warm_start({"params": {"emb": np.zeros((3, 1))}}, settings)
        >>> new["params"]["emb"].ravel().tolist(), report.remapped
        ([2.0, 1.0, 0.0], ['params/emb'])
    """
    if not isinstance(settings, WarmStartSettings):
        settings = WarmStartSettings(os.fspath(settings))
    source = open_source(settings.ckpt_to_initialize_from)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(dict(variables))
    names = [checkpoints.path_name(key_path) for key_path, _ in leaves]
    grouped = _grouped(names, settings.vars_to_warm_start)
    infos = _resolve_keys(
        settings.var_name_to_vocab_info, "var_name_to_vocab_info", grouped
    )
    renames = _resolve_keys(
        settings.var_name_to_prev_var_name, "var_name_to_prev_var_name", grouped
    )
    loader = _Loader(source, _changed_vocabularies(source, feature_columns))
    values, initialized, chosen = [], [], set(grouped)
    for name, (_, value) in zip(names, leaves, strict=True):
        if name in infos:
            value = loader.remap(name, value, renames.get(name), infos[name])
        elif name in chosen and settings.vars_to_warm_start is not None:
            value = loader.load(name, value, renames.get(name))
        else:
            initialized.append(name)
        values.append(value)
    report = WarmStartReport(
        loaded=loader.loaded,
        skipped=loader.skipped,
        initialized=initialized,
        remapped=loader.remapped,
        source=source.description,
    )
    _warn(report, settings, names, grouped, loader.changed)
    logger.info(
        "Warm-started from %s: loaded %d %s (remapped by vocabulary %s), skipped %s, "
        "freshly initialised %s",
        source.description,
        len(report.loaded),
        report.loaded,
        report.remapped,
        report.skipped,
        report.initialized,
    )
    return jax.tree_util.tree_unflatten(treedef, values), report


def _warn(
    report: WarmStartReport,
    settings: WarmStartSettings,
    names: list[str],
    grouped: list[str],
    changed: dict[str, dict[str, Any]],
) -> None:
    where = f"warm start from {report.source}"
    if not report.loaded and not report.skipped:
        selection = f"vars_to_warm_start={settings.vars_to_warm_start!r}"
        if grouped:  # None and no VocabInfo
            selection += " with no var_name_to_vocab_info"
        warnings.warn(
            f"{where}: {selection} selects no variable of the model, nothing was "
            f"loaded; its variables are: {_listed(names)}.",
            WarmStartWarning,
            stacklevel=3,
        )
    elif report.skipped:
        what = "loaded nothing" if not report.loaded else "skipped some variables"
        warnings.warn(
            f"{where} {what}: {_listed(report.skipped)}.",
            WarmStartWarning,
            stacklevel=3,
        )
    feeding = sorted(s for s, change in changed.items() if not change["owns_variable"])
    if feeding and report.loaded:
        warnings.warn(
            f"{where}: the vocabulary of {feeding} changed since the checkpoint; the "
            "rows of the layer each feeds (e.g. dnn/hiddenlayer_0/kernel) are "
            "loaded in the old order. Leave that layer out of vars_to_warm_start "
            "or keep the vocabulary.",
            WarmStartWarning,
            stacklevel=3,
        )

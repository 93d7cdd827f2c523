"""`export_saved_model`: a self-contained exported model from a checkpoint.

The predict function (the model_fn in PREDICT mode on transformed features) is
serialised with `jax.export` with a symbolic batch dimension, its variables are
stored beside it, and the frozen feature columns go with it as JSON, so that
`estimators.export.load` serves it without the model_fn, flax or optax.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import logging
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import safetensors.numpy

from estimators import batching, checkpoints
from estimators.export import _files, _mlmodel
from estimators.export._files import ExportError
from estimators.export._shapes import example_features
from estimators.export.serving import STRING, ServingInputReceiver
from estimators.export_output import (
    DEFAULT_SERVING_SIGNATURE_DEF_KEY,
    ExportOutput,
    signature_outputs,
)
from estimators.feature_column import make_parse_example_spec, serialize
from estimators.mode_keys import ModeKeys
from estimators.runner import ModelRunner
from estimators.steps import StepConfig, predict_spec
from estimators.train_state import VARIABLES

__all__ = ["export_saved_model"]

logger = logging.getLogger("estimators")

DEFAULT_PLATFORMS = ("cpu", "cuda")
NAMED_PREDICTIONS = ("classes", "all_classes")


def export_saved_model(
    runner: ModelRunner,
    export_dir_base: str | os.PathLike[str],
    serving_input_receiver_fn: Callable[[], ServingInputReceiver] | None,
    checkpoint_path: str | os.PathLike[str],
    *,
    platforms: Sequence[str] | None = None,
) -> str:
    """Writes `export_dir_base/<timestamp>/` atomically and returns its path.

    `Estimator.export_saved_model` is the public entry point.

    Args:
        runner: The model's `ModelRunner` (`estimator.runner`).
        export_dir_base: Where timestamped exports go.
        serving_input_receiver_fn: Returns the `ServingInputReceiver` naming the
            raw input columns; default: parse records of the runner's feature
            columns (`fc.make_parse_example_spec`). Required for a model without
            feature columns.
        checkpoint_path: The checkpoint to export.
        platforms: `jax.export` platforms; default CPU and CUDA (CPU only when
            lowering for CUDA fails).

    Returns:
        The path of the new export directory.
    """
    base = os.fspath(export_dir_base)
    path = os.fspath(checkpoint_path)
    receiver = _receiver(runner, serving_input_receiver_fn)
    columns = runner.feature_columns
    transform_text = serialize(columns) if columns else None
    features, var_width = example_features(runner, receiver)
    key = receiver.tensor_key  # the model_fn takes features[key] itself
    batch = batching.Batch(features[key] if key else features, None, None)
    variables, global_step, rng = runner.variables(path, batch, ModeKeys.PREDICT)
    config = runner.step_config(ModeKeys.PREDICT, batch)
    exported = _export_program(
        config, variables, rng, features, var_width, platforms, key
    )
    names = _class_names(runner)
    signature = _signature(receiver, features, var_width, exported, names)
    traced = runner.trace(ModeKeys.PREDICT, batch).spec
    signature["signatures"] = _signatures(traced, signature["outputs"])
    metadata = _metadata(runner, path, global_step, names, signature["outputs"])
    tmp = _files.new_temp_dir(base)
    try:
        _write(
            tmp, exported, _arrays(variables, rng), signature, metadata, transform_text
        )
        final = _files.install(tmp, base)
    except BaseException:
        _files.remove_temp(tmp)
        raise
    logger.info("Exported model at step %d to %s", global_step, final)
    return final


def _signature(
    receiver: ServingInputReceiver,
    features: Mapping[str, np.ndarray],
    var_width: frozenset[str],
    exported: jax.export.Exported,
    class_names: list[str] | None,
) -> dict[str, Any]:
    """Inputs, the program's features (None: a symbolic list width), outputs."""
    outputs, is_dict = _outputs(exported, class_names)
    return {
        "receiver": "parsing" if receiver.parse_records else "raw",
        "example_key": receiver.example_key,  # serialized tf.Examples accepted
        "tensor_key": receiver.tensor_key,  # a bare array request is this column
        "inputs": {name: spec.to_json() for name, spec in receiver.features.items()},
        "features": {
            name: {
                "dtype": str(value.dtype),
                "shape": [
                    None if name in var_width and i == 0 else d
                    for i, d in enumerate(value.shape[1:])
                ],
            }
            for name, value in features.items()
        },
        "outputs": outputs,
        "outputs_are_dict": is_dict,
        "platforms": list(exported.platforms),
    }


def _metadata(
    runner: ModelRunner,
    checkpoint: str,
    global_step: int,
    class_names: list[str] | None,
    outputs: Mapping[str, Any],
) -> dict[str, Any]:
    named = [k for k in NAMED_PREDICTIONS if k in outputs] if class_names else []
    return {
        "global_step": int(global_step),
        "checkpoint": os.path.basename(os.path.normpath(checkpoint)),
        "model_dir": runner.config.model_dir,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "head": _head_info(runner.head),
        "label_vocabulary": _label_vocabulary(runner.head),
        "class_names": class_names,
        "named_predictions": named,
        "versions": _versions(),
    }


def _arrays(variables: Any, rng: Any) -> dict[str, np.ndarray]:
    """The variables keyed by their checkpoint path names, and the predict RNG."""
    arrays = {
        f"{VARIABLES}/{checkpoints.path_name(p)}": np.asarray(leaf)
        for p, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]
    }
    arrays["rng"] = np.asarray(rng)
    return arrays


def _receiver(
    runner: ModelRunner, fn: Callable[[], ServingInputReceiver] | None
) -> ServingInputReceiver:
    if fn is None:
        if not runner.feature_columns:
            raise ValueError(
                "export_saved_model needs serving_input_receiver_fn=... for a model "
                "without feature columns, e.g. est.export."
                "build_raw_serving_input_receiver_fn({'x': np.zeros((1, 4), "
                "np.float32)}) naming each raw input with an example batch."
            )
        spec = make_parse_example_spec(runner.feature_columns)
        return ServingInputReceiver(spec, parse_records=True, example_key="examples")
    receiver = fn() if callable(fn) else fn
    if not isinstance(receiver, ServingInputReceiver):
        raise TypeError(
            "serving_input_receiver_fn must return an est.export.ServingInputReceiver, "
            f"got {type(receiver).__name__}."
        )
    return receiver


def _export_program(
    config: StepConfig,
    variables: Any,
    rng: Any,
    features: Mapping[str, np.ndarray],
    var_width: frozenset[str],
    platforms: Sequence[str] | None,
    tensor_key: str | None = None,
) -> jax.export.Exported:
    names = ["b"] + [f"k{i}" for i in range(len(var_width))]
    dims = jax.export.symbolic_shape(", ".join(names))
    widths = dict(zip(sorted(var_width), dims[1:], strict=True))
    feature_specs = {
        name: jax.ShapeDtypeStruct(
            (
                dims[0],
                *((widths[name],) if name in widths else value.shape[1:2]),
                *value.shape[2:],
            ),
            value.dtype,
        )
        for name, value in features.items()
    }
    abstract = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)),
        (variables, rng),
    )

    def serve(v: Any, r: Any, f: Any) -> Any:
        spec = predict_spec(config, v, r, f[tensor_key] if tensor_key else f)
        if not spec.export_outputs:
            return spec.predictions
        return flat_signature_outputs(spec.export_outputs, spec.predictions)

    fn = jax.jit(serve)
    try:
        lower = jax.export.export(fn, platforms=platforms or DEFAULT_PLATFORMS)
        return lower(*abstract, feature_specs)
    except Exception as e:
        if platforms is None:
            try:
                logger.info("Exporting for CPU only: lowering for CUDA failed (%s).", e)
                return jax.export.export(fn)(*abstract, feature_specs)
            except Exception as retry:
                e = retry
        raise ExportError(
            "the predict function cannot be exported with a symbolic batch size "
            f"('b') and list widths ('k*'): {type(e).__name__}: {e}"
        ) from e


SEPARATOR = "::"
"""Joins a non-default signature's name and output key in the program's outputs."""


def flat_signature_outputs(
    export_outputs: Mapping[str, ExportOutput], predictions: Any
) -> dict[str, Any]:
    """Every signature's outputs in one flat dict: the default signature's keys
    as they are, another's as `<signature>::<key>`."""
    flat = {}
    for name, output in signature_outputs(export_outputs, predictions).items():
        for key, value in output.outputs().items():
            default = name == DEFAULT_SERVING_SIGNATURE_DEF_KEY
            flat[key if default else f"{name}{SEPARATOR}{key}"] = value
    return flat


def _signatures(spec: Any, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """Signature name -> its kind and its output keys' names in the program."""
    if not spec.export_outputs:
        keys = {key: key for key in outputs}
        return {DEFAULT_SERVING_SIGNATURE_DEF_KEY: {"kind": "predict", "outputs": keys}}
    found = {}
    for name, output in signature_outputs(spec.export_outputs, None).items():
        default = name == DEFAULT_SERVING_SIGNATURE_DEF_KEY
        keys = {
            key: key if default else f"{name}{SEPARATOR}{key}"
            for key in output.outputs()
        }
        found[name] = {"kind": output.kind, "outputs": keys}
    return found


def _outputs(
    exported: jax.export.Exported, class_names: list[str] | None
) -> tuple[dict[str, Any], bool]:
    """Output key -> dtype and per-example shape; and whether the model gave a dict."""
    tree = jax.tree_util.tree_unflatten(
        exported.out_tree, list(range(len(exported.out_avals)))
    )
    is_dict = isinstance(tree, Mapping)
    outputs = {}
    for key, index in (tree if is_dict else {"predictions": tree}).items():
        aval = exported.out_avals[index]
        shape = [d if isinstance(d, int) else None for d in aval.shape[1:]]
        named = class_names and key in NAMED_PREDICTIONS
        outputs[str(key)] = {
            "dtype": STRING if named else str(aval.dtype),
            "shape": shape,
        }
    return outputs, is_dict


def _class_names(runner: ModelRunner) -> list[str] | None:
    """The class names that the head's host transform gives "classes" predictions.

    The export applies them itself; any other host transform of predictions is
    Python code that cannot travel with it.
    """
    head, transform = runner.head, runner.prediction_transform
    if transform is None:
        return None
    if head is None or transform != head.transform_predictions:
        logger.warning(
            "The estimator's prediction_transform %r is not part of the export: the "
            "exported model returns the predictions as the model_fn computes them.",
            transform,
        )
        return None
    names = getattr(head, "class_names", None)
    return [str(v) for v in names] if names is not None else None


def _label_vocabulary(head: Any) -> list[str] | None:
    vocabulary = getattr(head, "label_vocabulary", None)
    return [str(v) for v in vocabulary] if vocabulary is not None else None


def _head_info(head: Any) -> dict[str, Any] | None:
    if head is None:
        return None
    info: dict[str, Any] = {"class": type(head).__name__}
    for attr in ("n_classes", "label_dimension", "logits_dimension"):
        value = getattr(head, attr, None)
        if isinstance(value, int):
            info[attr] = value
    return info


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("estimators", "jax", "jaxlib", "numpy", "pyarrow"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return versions


def _write(
    directory: str,
    exported: jax.export.Exported,
    arrays: dict[str, np.ndarray],
    signature: dict[str, Any],
    metadata: dict[str, Any],
    transform_text: str | None,
) -> None:
    _files.write_file(directory, _files.PROGRAM, bytes(exported.serialize()))
    _files.write_file(directory, _files.VARIABLES, safetensors.numpy.save(arrays))
    _files.write_json(directory, _files.SIGNATURE, signature)
    names = [_files.SIGNATURE, _files.PROGRAM, _files.VARIABLES]
    if transform_text is not None:
        _files.write_file(directory, _files.TRANSFORM, transform_text)
        names.append(_files.TRANSFORM)
    names += _mlmodel.write_pyfunc_files(directory, metadata["versions"])
    manifest = {
        "format": _files.FORMAT,
        "format_version": _files.FORMAT_VERSION,
        **metadata,
        "files": _files.file_entries(directory, names),
    }
    _files.write_json(directory, _files.MANIFEST, manifest)

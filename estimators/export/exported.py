"""`load`: an exported model as a callable, without the model code.

Needs jax, numpy, pyarrow and safetensors, plus this package's feature-column
transform for exports that have feature columns; never the model_fn, flax or
optax. The program is compiled once per bucket of request sizes (powers of two).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import safetensors.numpy

from estimators import batching
from estimators.checkpoints import path_name
from estimators.export import _files, _host, example_parsing
from estimators.export._files import ExportError
from estimators.export.serving import InputSpec
from estimators.export_output import (
    DEFAULT_SERVING_SIGNATURE_DEF_KEY as DEFAULT_SIGNATURE,
)
from estimators.input_pipeline import to_numpy
from estimators.train_state import VARIABLES

__all__ = ["ExportedModel", "load"]


def load(
    path: str | os.PathLike[str], *, strict_vocabulary: bool = True
) -> ExportedModel:
    """Loads an export written by `Estimator.export_saved_model`.

    Args:
        path: The export directory (`export_dir_base/<timestamp>`).
        strict_vocabulary: Refuse categories outside a vocabulary without OOV
            buckets (default), instead of treating them as missing as training did.

    Returns:
        An `ExportedModel`: call it on a dict of columns, one dict row, a list of
        records, a pandas DataFrame or an Arrow table.

    Raises:
        ExportError: the directory is not a complete, uncorrupted export; the
            message names what is missing.
    """
    return ExportedModel(os.fspath(path), strict_vocabulary=strict_vocabulary)


class ExportedModel:
    """A loaded export: the predict program, its variables and its host transform.

    Attributes:
        path: The export directory.
        signature: Input columns, transformed features and outputs (JSON dict).
        metadata: global_step, head, label vocabulary, versions (JSON dict).
    """

    def __init__(self, path: str, *, strict_vocabulary: bool = True) -> None:
        manifest = _files.read_manifest(path)
        _files.verify_files(path, manifest.get("files", {}))
        self.path = path
        self.metadata = {k: v for k, v in manifest.items() if k != "files"}
        self.signature = _read_json(path, _files.SIGNATURE)
        self.inputs = {
            n: InputSpec.from_json(s) for n, s in self.signature["inputs"].items()
        }
        self._features = self.signature["features"]
        self._var_width = frozenset(
            name for name, spec in self._features.items() if None in spec["shape"]
        )
        self._columns = _read_columns(path)
        self._strict = (
            _host.strict_vocabulary_columns(self._columns)
            if strict_vocabulary and self._columns
            else []
        )
        self._exported = _read_program(path)
        self._variables, self._rng = _read_variables(path, self._exported)
        self._call = jax.jit(self._exported.call)
        vocabulary = self.metadata.get("class_names")
        self._names = np.asarray(vocabulary, dtype=str) if vocabulary else None
        self._named = tuple(self.metadata.get("named_predictions", ()))

    @property
    def global_step(self) -> int:
        """The global_step of the exported checkpoint."""
        return int(self.metadata["global_step"])

    @property
    def input_names(self) -> list[str]:
        """The raw input columns a request gives."""
        return list(self.inputs)

    @property
    def output_names(self) -> list[str]:
        """The keys of the default signature's outputs."""
        return list(self._outputs_of(None))

    @property
    def signature_names(self) -> list[str]:
        """The serving signatures (tf's SignatureDef keys), default first."""
        names = list(self.signature.get("signatures") or {DEFAULT_SIGNATURE: {}})
        return sorted(names, key=lambda n: (n != DEFAULT_SIGNATURE, n))

    def _outputs_of(self, signature_name: str | None) -> dict[str, str]:
        """A signature's output keys -> their keys in the program's outputs."""
        signatures = self.signature.get("signatures")
        if not signatures:  # an export written before named signatures
            return {key: key for key in self.signature["outputs"]}
        name = signature_name or DEFAULT_SIGNATURE
        if name not in signatures:
            raise _host.ServingInputError(
                f"unknown signature {name!r}; this export serves {self.signature_names}."
            )
        return dict(signatures[name]["outputs"])

    def __repr__(self) -> str:
        return (
            f"ExportedModel({self.path!r}, global_step={self.global_step}, "
            f"inputs={self.input_names}, outputs={self.output_names})"
        )

    def __call__(
        self, inputs: Any, signature_name: str | None = None
    ) -> dict[str, np.ndarray]:
        """Predicts a batch: one array per output key, batch first.

        Args:
            inputs: A dict of columns (numpy, Arrow, lists), one dict row, a list
                of records, a pandas DataFrame, an Arrow table, or JSON text.
            signature_name: A serving signature (the model_fn's
                `export_outputs`); default "serving_default".

        Raises:
            ServingInputError: a column is missing, has the wrong type or shape,
                or holds an unknown category; the message names it.
        """
        keys = self._outputs_of(signature_name)
        features, rows = self.transform(inputs)
        result = self.predict_transformed(features, rows)
        return {key: result[flat] for key, flat in keys.items()}

    predict = __call__

    def transform(self, inputs: Any) -> tuple[dict[str, np.ndarray], int]:
        """The request's program features (transformed, checked) and its row count."""
        inputs = example_parsing.request_columns(inputs, self.signature, self.inputs)
        columns = _host.to_columns(inputs)
        rows = _host.rows_of(columns)
        columns = _host.check_inputs(columns, self.inputs, rows)
        transformed = columns
        if self._columns is not None:
            from estimators import feature_column as fc

            try:
                transformed = fc.transform(columns, self._columns)
                if self._strict:
                    _host.check_vocabularies(columns, self._strict, transformed)
            except fc.FeatureInputError as e:
                raise _host.ServingInputError(str(e)) from None
        features = {}
        for name, value in transformed.items():
            if name in self._features:
                features[name] = _to_numpy(name, value)
        return _host.to_program_features(features, self._features), rows

    def predict_transformed(
        self, features: Mapping[str, np.ndarray], rows: int
    ) -> dict[str, np.ndarray]:
        """Runs the program on checked features of `rows` rows (bucketed, unpadded)."""
        padded = batching.pad(features, None, rows, batching.predict_size(rows))
        inputs = batching.pad_widths(padded.features, self._var_width)
        result = batching.unpad(self._call(self._variables, self._rng, inputs), rows)
        if self._names is not None:
            for key in self._named:
                result[key] = self._names[result[key]]
        return result


def _read_json(path: str, name: str) -> Any:
    try:
        with open(os.path.join(path, name)) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError(f"export {path!r}: {name} is unreadable: {e}") from None


def _read_columns(path: str) -> list[Any] | None:
    full = os.path.join(path, _files.TRANSFORM)
    if not os.path.exists(full):
        return None
    from estimators import feature_column as fc

    with open(full) as f:
        text = f.read()
    try:
        return fc.deserialize(text)
    except ValueError as e:
        raise ExportError(f"export {path!r}: {_files.TRANSFORM}: {e}") from None


def _read_program(path: str) -> jax.export.Exported:
    with open(os.path.join(path, _files.PROGRAM), "rb") as f:
        data = bytearray(f.read())
    try:
        exported = jax.export.deserialize(data)
    except Exception as e:
        raise ExportError(
            f"export {path!r}: {_files.PROGRAM} cannot be deserialised by jax "
            f"{jax.__version__}: {type(e).__name__}: {e}"
        ) from None
    backend = jax.default_backend()
    names = {"gpu": ("cuda", "rocm")}.get(backend, (backend,))
    if not set(names) & set(exported.platforms):
        raise ExportError(
            f"export {path!r} was lowered for {list(exported.platforms)}, not for "
            f"this process's backend {backend!r}; export again with "
            f"platforms=[..., {backend!r}]."
        )
    return exported


def _read_variables(path: str, exported: jax.export.Exported) -> tuple[Any, Any]:
    arrays = safetensors.numpy.load_file(os.path.join(path, _files.VARIABLES))
    args, _ = jax.tree_util.tree_unflatten(
        exported.in_tree, list(range(len(exported.in_avals)))
    )
    structure = args[0]

    def leaf(key_path: Any, _: Any) -> Any:
        name = f"{VARIABLES}/{path_name(key_path)}"
        if name not in arrays:
            raise ExportError(
                f"export {path!r}: variable {name!r} is missing from "
                f"{_files.VARIABLES}."
            )
        return arrays[name]

    variables = jax.tree_util.tree_map_with_path(leaf, structure)
    if "rng" not in arrays:
        raise ExportError(f"export {path!r}: 'rng' is missing from {_files.VARIABLES}.")
    return jax.device_put(variables), jax.device_put(arrays["rng"])


def _to_numpy(name: str, value: Any) -> np.ndarray:
    """The Estimator's own input conversion (float64 -> float32, int64 -> int32)."""
    try:
        return to_numpy(name, value)
    except ValueError as e:
        raise _host.ServingInputError(str(e)) from None

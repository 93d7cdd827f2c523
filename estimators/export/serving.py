"""Serving input receivers: which raw columns an exported model takes, and how.

A `serving_input_receiver_fn` is a no-argument function returning a
`ServingInputReceiver`, as in tf.estimator. Where tf built placeholders and
parsed serialised `tf.Example`s, here the receiver names each raw input column
with its dtype and per-example shape; the exported model checks requests
against it before the frozen feature-column transform runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "InputSpec",
    "ServingInputReceiver",
    "TensorServingInputReceiver",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
]

STRING = "string"


def _dtype_name(dtype: Any, where: str) -> str:
    if dtype in (str, bytes, object, np.str_, np.bytes_) or (
        isinstance(dtype, str) and dtype.lower() in ("string", "str", "bytes", "object")
    ):
        return STRING
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise ValueError(
            f"{where}: dtype must be a numpy dtype or 'string', got {dtype!r}."
        ) from None
    if kind.kind in "OUS":
        return STRING
    if kind.kind not in "biuf":
        raise ValueError(f"{where}: dtype must be numeric or 'string', got {kind}.")
    return kind.name


@dataclass(frozen=True)
class InputSpec:
    """One raw input column of an exported model.

    Args:
        dtype: A numpy dtype name ("float32", "int64", "bool") or "string".
        shape: Shape of one example's value; `()` for a scalar per row.
        varlen: Each example holds any number of values (a list per row).
        default_value: Values used when a record or a request lacks the column
            (flattened, `prod(shape)` of them); None means the column is required.

    Example:
        >>> InputSpec("float32", (2,)).to_json()
        {'dtype': 'float32', 'shape': [2], 'varlen': False, 'default_value': None}
    """

    dtype: str
    shape: tuple[int, ...] = ()
    varlen: bool = False
    default_value: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", _dtype_name(self.dtype, "InputSpec"))
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise ValueError(f"InputSpec: `shape` must be >= 0, got {self.shape}.")
        object.__setattr__(self, "shape", shape)
        if self.default_value is not None:
            values = tuple(np.ravel(np.asarray(self.default_value)).tolist())
            if not self.varlen and len(values) == 1 and math.prod(shape) > 1:
                values = values * math.prod(shape)
            object.__setattr__(self, "default_value", values)

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in an export's signature."""
        default = None if self.default_value is None else list(self.default_value)
        return {
            "dtype": self.dtype,
            "shape": list(self.shape),
            "varlen": self.varlen,
            "default_value": default,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> InputSpec:
        """The inverse of `to_json`."""
        default = obj.get("default_value")
        return cls(
            obj["dtype"],
            tuple(obj.get("shape", ())),
            bool(obj.get("varlen")),
            None if default is None else tuple(default),
        )


@dataclass(frozen=True)
class ServingInputReceiver:
    """What a `serving_input_receiver_fn` returns: the raw input columns.

    Args:
        features: Raw column name -> `InputSpec` (or an example array with a
            leading batch axis, or a `jax.ShapeDtypeStruct`, whose per-row shape
            and dtype are taken).
        receiver_tensors: Kept for tf.estimator compatibility; unused.
        parse_records: Requests may also be records (a dict per row) in which a
            column with a default value can be left out.
        example_key: Requests may also be serialized `tf.train.Example`s (a list
            of bytes, or a column of that name), parsed with the `features`
            specs before the transform; None: they are not accepted. The parsing
            receiver sets tf's name, "examples".

    Example:
        >>> receiver = ServingInputReceiver({"x": np.zeros((1, 4), np.float32)})
        >>> receiver.features["x"]
        InputSpec(dtype='float32', shape=(4,), varlen=False, default_value=None)
    """

    features: Mapping[str, Any]
    receiver_tensors: Any = None
    parse_records: bool = False
    example_key: str | None = None
    _specs: dict[str, InputSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.features, Mapping) or not self.features:
            raise ValueError(
                "ServingInputReceiver: `features` must be a non-empty dict of column "
                f"name to InputSpec or example array, got {self.features!r}."
            )
        specs = {str(k): as_input_spec(k, v) for k, v in self.features.items()}
        object.__setattr__(self, "features", specs)

    @property
    def tensor_key(self) -> str | None:
        """The request key of a `TensorServingInputReceiver`'s one input, else None."""
        return None


TENSOR_KEY = "inputs"  # TF-Serving's name for a model's single unnamed input


@dataclass(frozen=True)
class TensorServingInputReceiver(ServingInputReceiver):
    """A receiver whose `model_fn` takes ONE array as features, not a dict.

    As tf's: for a model trained on `input_fn`s that return `(array, labels)`
    (e.g. a Keras model from `model_to_estimator`). Requests give the array
    itself, or `{"inputs": array}` (TF-Serving's and MLflow's column name).

    Args:
        features: The input's `InputSpec`, or an example batch (leading batch
            axis) or `jax.ShapeDtypeStruct` whose per-row shape and dtype are taken.
        receiver_tensors: Kept for tf.estimator compatibility; a one-entry dict
            names the request column instead of "inputs".

    Example:
        >>> receiver = TensorServingInputReceiver(np.zeros((1, 8), np.float32))
        >>> receiver.tensor_key, receiver.features["inputs"].shape
        ('inputs', (8,))
    """

    def __post_init__(self) -> None:
        if isinstance(self.features, Mapping):
            raise ValueError(
                "TensorServingInputReceiver: `features` is one array spec, not a "
                "dict; use ServingInputReceiver for a dict of features."
            )
        key = TENSOR_KEY
        if (
            isinstance(self.receiver_tensors, Mapping)
            and len(self.receiver_tensors) == 1
        ):
            key = str(next(iter(self.receiver_tensors)))
        object.__setattr__(self, "features", {key: self.features})
        super().__post_init__()

    @property
    def tensor_key(self) -> str | None:
        return next(iter(self.features))


def as_input_spec(name: str, value: Any) -> InputSpec:
    """An `InputSpec` from a spec, an example batch or a feature-column parse spec."""
    where = f"serving input {name!r}"
    if isinstance(value, InputSpec):
        return value
    kind = type(value).__name__
    if kind == "FixedLenFeature":
        return InputSpec(value.dtype, tuple(value.shape), False, value.default_value)
    if kind == "VarLenFeature":
        return InputSpec(value.dtype, (), True)
    if type(value).__module__.startswith("pyarrow"):
        import pyarrow as pa

        vtype = value.type
        if pa.types.is_list(vtype) or pa.types.is_large_list(vtype):
            return InputSpec(_arrow_dtype(vtype.value_type, where), (), True)
        return InputSpec(_arrow_dtype(vtype, where), ())
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None or dtype is None:
        value = np.asarray(value)
        shape, dtype = value.shape, value.dtype
    if len(shape) == 0:
        raise ValueError(
            f"{where}: an example must have a leading batch axis, got a scalar; "
            "give an array of shape [batch, ...] or an InputSpec."
        )
    return InputSpec(_dtype_name(dtype, where), tuple(shape[1:]))


def _arrow_dtype(vtype: Any, where: str) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(vtype):
        vtype = vtype.value_type
    if (
        pa.types.is_string(vtype)
        or pa.types.is_large_string(vtype)
        or (pa.types.is_binary(vtype) or pa.types.is_large_binary(vtype))
    ):
        return STRING
    return _dtype_name(vtype.to_pandas_dtype(), where)


def build_raw_serving_input_receiver_fn(
    features: Mapping[str, Any], default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn for requests that give each raw column as an array.

    Args:
        features: Column name -> example batch (numpy or Arrow array with a
            leading batch axis), `jax.ShapeDtypeStruct` or `InputSpec`.
        default_batch_size: Ignored (the exported batch dimension is symbolic);
            kept for tf.estimator compatibility.

    Example:
        >>> fn = build_raw_serving_input_receiver_fn({"x": np.zeros((1, 4))})
        >>> fn().features["x"].shape
        (4,)
    """
    del default_batch_size
    receiver = ServingInputReceiver(dict(features))
    return lambda: receiver


def build_parsing_serving_input_receiver_fn(
    feature_spec: Mapping[str, Any], default_batch_size: int | None = None
) -> Callable[[], ServingInputReceiver]:
    """A receiver fn for serialized `tf.train.Example`s and records of raw columns.

    As tf.estimator's, the exported model parses serialized `tf.train.Example`
    records (a list of bytes; over JSON, TF-Serving's `{"b64": ...}` or a column
    "examples" of base64 text), without TensorFlow. It also takes a dict row (or
    a list of them, or columns). Either way a feature that a record lacks gets
    the spec's `default_value`; without one it is an error naming the feature.

    Args:
        feature_spec: Column name -> `fc.FixedLenFeature` / `fc.VarLenFeature`,
            usually `fc.make_parse_example_spec(columns)`.
        default_batch_size: Ignored; kept for tf.estimator compatibility.

    Example:
        >>> from estimators import feature_column as fc
        >>> spec = fc.make_parse_example_spec([fc.numeric_column("age", default_value=0.0)])
        >>> build_parsing_serving_input_receiver_fn(spec)().features["age"].default_value
        (0.0,)
    """
    del default_batch_size
    receiver = ServingInputReceiver(
        dict(feature_spec),
        receiver_tensors={"examples": InputSpec(STRING)},
        parse_records=True,
        example_key="examples",
    )
    return lambda: receiver

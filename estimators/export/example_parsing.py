"""Serialized `tf.train.Example` records, parsed without TensorFlow.

The three messages of tensorflow's `example.proto` / `feature.proto` (Example,
Features, Feature with its BytesList / FloatList / Int64List) are declared here
with `protobuf`'s descriptor API, in a private descriptor pool (no generated
code, no clash with a TensorFlow installed beside us), so the wire format is
tensorflow's exactly. `parse_example` turns records into the raw feature columns
that the frozen feature-column transform takes; an export made with
`build_parsing_serving_input_receiver_fn` accepts such records as requests.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from estimators.export._host import ServingInputError
from estimators.export.serving import STRING, InputSpec, as_input_spec

__all__ = ["parse_example", "serialize_example"]

DEFAULT_KEY = "examples"  # tf's receiver tensor name for serialized Examples
B64 = "b64"  # TF-Serving's JSON key for binary values


@functools.cache
def _message_classes() -> tuple[type, type]:
    """`tensorflow.Example` and `tensorflow.Feature`, built from descriptors.

    Built on first use: importing protobuf is a cost every `import estimators`
    would otherwise pay, for a serving-only feature.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(
        name="estimators/tensorflow_example.proto",
        package="tensorflow",
        syntax="proto3",
    )
    field = descriptor_pb2.FieldDescriptorProto
    repeated, optional = field.LABEL_REPEATED, field.LABEL_OPTIONAL

    def add(name: str, fields: Sequence[tuple], parent: Any = None) -> Any:
        msg = (parent.nested_type if parent else proto.message_type).add(name=name)
        for fname, number, ftype, label, *rest in fields:
            f = msg.field.add(name=fname, number=number, type=ftype, label=label)
            if rest and rest[0]:
                f.type_name = rest[0]
            if len(rest) > 1:
                f.oneof_index = rest[1]
            if ftype in (field.TYPE_FLOAT, field.TYPE_INT64) and label == repeated:
                f.options.packed = True
        return msg

    add("BytesList", [("value", 1, field.TYPE_BYTES, repeated)])
    add("FloatList", [("value", 1, field.TYPE_FLOAT, repeated)])
    add("Int64List", [("value", 1, field.TYPE_INT64, repeated)])
    feature = add(
        "Feature",
        [
            ("bytes_list", 1, field.TYPE_MESSAGE, optional, ".tensorflow.BytesList", 0),
            ("float_list", 2, field.TYPE_MESSAGE, optional, ".tensorflow.FloatList", 0),
            ("int64_list", 3, field.TYPE_MESSAGE, optional, ".tensorflow.Int64List", 0),
        ],
    )
    feature.oneof_decl.add(name="kind")
    features = add("Features", [])
    entry = add(
        "FeatureEntry",
        [
            ("key", 1, field.TYPE_STRING, optional),
            ("value", 2, field.TYPE_MESSAGE, optional, ".tensorflow.Feature"),
        ],
        parent=features,
    )
    entry.options.map_entry = True
    features.field.add(
        name="feature",
        number=1,
        type=field.TYPE_MESSAGE,
        label=repeated,
        type_name=".tensorflow.Features.FeatureEntry",
    )
    add(
        "Example",
        [("features", 1, field.TYPE_MESSAGE, optional, ".tensorflow.Features")],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return (
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName("tensorflow.Example")
        ),
        message_factory.GetMessageClass(
            pool.FindMessageTypeByName("tensorflow.Feature")
        ),
    )


def __getattr__(name: str) -> type:
    if name in ("Example", "Feature"):
        return _message_classes()[name == "Feature"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_KIND_OF = {"b": "bytes_list", "f": "float_list", "i": "int64_list"}
_NAME_OF = {"bytes_list": STRING, "float_list": "float", "int64_list": "int64"}


def _kind(spec: InputSpec) -> str:
    if spec.dtype == STRING:
        return _KIND_OF["b"]
    return _KIND_OF["f"] if np.dtype(spec.dtype).kind == "f" else _KIND_OF["i"]


# -- writing -------------------------------------------------------------------------


def serialize_example(features: Mapping[str, Any]) -> bytes:
    """A serialized `tf.train.Example` of one record, as a TF client would send it.

    Args:
        features: Feature name -> a value or a list of values: floats become a
            FloatList, ints and bools an Int64List, str and bytes a BytesList.

    Example:
        >>> record = serialize_example({"age": 31.5, "tags": ["a", "b"]})
        >>> parse_example([record], {"age": InputSpec("float32", (1,)),
        ...                          "tags": InputSpec("string", varlen=True)})["age"]
        array([[31.5]], dtype=float32)
    """
    example = _message_classes()[0]()
    for name, value in features.items():
        values = (
            list(value) if isinstance(value, list | tuple | np.ndarray) else [value]
        )
        feature = example.features.feature[str(name)]
        if not values:
            continue
        first = values[0]
        if isinstance(first, str | bytes | np.str_ | np.bytes_):
            feature.bytes_list.value.extend(
                v.encode() if isinstance(v, str) else bytes(v) for v in values
            )
        elif isinstance(first, float | np.floating):
            feature.float_list.value.extend(float(v) for v in values)
        elif isinstance(first, int | bool | np.integer | np.bool_):
            feature.int64_list.value.extend(int(v) for v in values)
        else:
            raise TypeError(
                f"feature {name!r}: values must be floats, ints, bools, str or bytes, "
                f"got {type(first).__name__}."
            )
    return example.SerializeToString()


# -- reading -------------------------------------------------------------------------


def _decode(index: int, record: Any) -> Any:
    if isinstance(record, Mapping) and set(record) == {B64}:
        record = record[B64]
    if isinstance(record, str):  # JSON cannot hold bytes: base64, as TF-Serving
        try:
            record = base64.b64decode(record, validate=True)
        except (binascii.Error, ValueError):
            raise ServingInputError(
                f"record {index} is a string but not base64: send serialized "
                "tf.train.Example bytes, or their base64 text."
            ) from None
    if not isinstance(record, bytes | bytearray | memoryview | np.bytes_):
        raise ServingInputError(
            f"record {index} is a {type(record).__name__}, not a serialized "
            "tf.train.Example (bytes)."
        )
    from google.protobuf.message import DecodeError

    example = _message_classes()[0]()
    try:
        example.ParseFromString(bytes(record))
    except DecodeError as e:
        raise ServingInputError(
            f"record {index} is not a serialized tf.train.Example: {e}"
        ) from None
    return example.features.feature


def _values(name: str, spec: InputSpec, index: int, feature: Any) -> list[Any]:
    kind = feature.WhichOneof("kind")
    if kind is None:
        return []
    want = _kind(spec)
    if kind != want:
        raise ServingInputError(
            f"feature '{name}': record {index} holds {_NAME_OF[kind]} values "
            f"({kind}) but the model reads {spec.dtype} ({want})."
        )
    values = list(getattr(feature, kind).value)
    if spec.dtype == STRING:
        try:
            return [v.decode("utf-8") for v in values]
        except UnicodeDecodeError:
            raise ServingInputError(
                f"feature '{name}': record {index} holds bytes that are not UTF-8 text."
            ) from None
    return values


def _fixed(name: str, spec: InputSpec, rows: list[list[Any] | None]) -> Any:
    size = math.prod(spec.shape)
    for index, values in enumerate(rows):
        if values is None or (not values and size):
            if spec.default_value is None:
                raise ServingInputError(
                    f"feature '{name}' is required but missing in record {index}; "
                    "give it in every record, or give its column a default_value."
                )
            rows[index] = list(spec.default_value)
        elif len(values) != size:
            raise ServingInputError(
                f"feature '{name}': record {index} has {len(values)} values, the "
                f"model reads {size} (shape {list(spec.shape)})."
            )
    shape = (len(rows), *spec.shape)
    if spec.dtype == STRING:
        return np.asarray(rows, dtype=object).reshape(shape)
    return np.asarray(rows, dtype=spec.dtype).reshape(shape)


def _varlen(spec: InputSpec, rows: list[list[Any] | None]) -> pa.Array:
    kind = (
        pa.large_string()
        if spec.dtype == STRING
        else pa.from_numpy_dtype(np.dtype(spec.dtype))
    )
    return pa.array([r or [] for r in rows], pa.list_(kind))


def parse_example(
    serialized: Sequence[Any], features: Mapping[str, Any]
) -> dict[str, Any]:
    """Parses serialized `tf.train.Example`s into raw feature columns.

    Like `tf.io.parse_example`: a FixedLenFeature gives `[n, *shape]` values (its
    default where a record lacks it), a VarLenFeature a list per record (Arrow).

    Args:
        serialized: The records: bytes, or base64 text of them (as TF-Serving's
            JSON `{"b64": ...}`).
        features: Name -> `fc.FixedLenFeature` / `fc.VarLenFeature` / `InputSpec`,
            e.g. `fc.make_parse_example_spec(columns)`.

    Returns:
        Name -> column (numpy for fixed-length features, Arrow lists otherwise).

    Raises:
        ServingInputError: a record is not an Example, or a feature is missing,
            has another type or another number of values; the message names the
            feature and the record.
    """
    specs = {str(k): as_input_spec(str(k), v) for k, v in features.items()}
    records = [_decode(i, r) for i, r in enumerate(serialized)]
    if not records:
        raise ServingInputError("the request holds no tf.train.Example record.")
    columns: dict[str, Any] = {}
    for name, spec in specs.items():
        rows = [
            _values(name, spec, i, record[name]) if name in record else None
            for i, record in enumerate(records)
        ]
        columns[name] = _varlen(spec, rows) if spec.varlen else _fixed(name, spec, rows)
    return columns


# -- requests ------------------------------------------------------------------------


def _records_in(inputs: Any, key: str, names: Sequence[str]) -> Sequence[Any] | None:
    """The serialized records of a request, or None when it gives raw columns."""
    if (
        isinstance(inputs, np.ndarray)
        and inputs.dtype.kind in "SUO"
        and inputs.ndim == 1
    ):
        inputs = inputs.tolist()
    if isinstance(inputs, list | tuple) and inputs:
        first = inputs[0]
        if isinstance(first, bytes | bytearray | np.bytes_) or (
            isinstance(first, Mapping) and set(first) == {B64}
        ):
            return inputs
        # A list of str is no raw request: base64 text of records, if it decodes.
        return inputs if isinstance(first, str) and _is_base64(first) else None
    if type(inputs).__name__ == "DataFrame" and hasattr(inputs, "columns"):
        columns = [str(c) for c in inputs.columns]
        if len(columns) == 1 and columns[0] not in names:
            column = inputs[inputs.columns[0]].tolist()
            if columns[0] in (key, B64) or (
                column and isinstance(column[0], bytes | bytearray | np.bytes_)
            ):
                return column
        return None
    if isinstance(inputs, Mapping) and len(inputs) == 1:
        ((name, value),) = inputs.items()
        if str(name) in (key, B64) and str(name) not in names:
            if isinstance(value, np.ndarray):
                value = value.tolist()
            return value if isinstance(value, list | tuple) else [value]
    return None


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def request_columns(
    inputs: Any, signature: Mapping[str, Any], specs: Mapping[str, InputSpec]
) -> Any:
    """A request as raw columns: serialized Examples are parsed when the export
    takes them (`signature["example_key"]`), a bare array is the one input of a
    `TensorServingInputReceiver` (`signature["tensor_key"]`); anything else is
    returned as is."""
    tensor_key = signature.get("tensor_key")
    if tensor_key and (
        isinstance(inputs, np.ndarray)
        or (isinstance(inputs, list) and inputs and not isinstance(inputs[0], Mapping))
    ):
        return {tensor_key: inputs}
    key = signature.get("example_key")
    if not key:
        return inputs
    records = _records_in(inputs, key, list(specs))
    return inputs if records is None else parse_example(records, specs)

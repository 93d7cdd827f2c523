"""Serialized tf.train.Example requests, parsed without TensorFlow."""

from __future__ import annotations

import base64

import numpy as np
import pyarrow as pa
import pytest

import estimators as est
from estimators import feature_column as fc
from estimators.export import (
    InputSpec,
    ServingInputError,
    parse_example,
    serialize_example,
)


def test_the_wire_format_is_tensorflows():
    # Example{features{feature{key: "a" value{float_list{value: [1.0]}}}}}, by hand:
    # FloatList 0a 04 <1.0f = 00 00 80 3f>; Feature 12 06 <FloatList>;
    # map entry 0a 01 "a" 12 08 <Feature>; Features 0a 0d <entry>; Example 0a 0f.
    expected = b"\x0a\x0f\x0a\x0d\x0a\x01a\x12\x08\x12\x06\x0a\x04\x00\x00\x80\x3f"
    assert serialize_example({"a": 1.0}) == expected
    # Int64List 0a 01 05; Feature 1a 03; entry 0a 01 "n" 12 05; Features 0a 0a.
    assert (
        serialize_example({"n": 5})
        == b"\x0a\x0c\x0a\x0a\x0a\x01n\x12\x05\x1a\x03\x0a\x01\x05"
    )


def test_parse_example_gives_columns_with_defaults_and_lists():
    spec = {
        "age": fc.FixedLenFeature((1,), "float32", (30.0,)),
        "xy": fc.FixedLenFeature((2,), "int64"),
        "city": fc.FixedLenFeature((1,), "string", ("?",)),
        "tags": fc.VarLenFeature("string"),
        "ids": fc.VarLenFeature("int64"),
    }
    records = [
        serialize_example(
            {"age": 41.5, "xy": [1, 2], "city": "lima", "tags": ["a", "b"], "ids": 7}
        ),
        serialize_example({"xy": [3, 4]}),  # age, city from defaults; empty lists
    ]
    columns = parse_example(records, spec)
    np.testing.assert_array_equal(
        columns["age"], np.array([[41.5], [30.0]], np.float32)
    )
    np.testing.assert_array_equal(columns["xy"], np.array([[1, 2], [3, 4]]))
    assert columns["city"].tolist() == [["lima"], ["?"]]
    assert columns["tags"].to_pylist() == [["a", "b"], []]
    assert columns["ids"].type == pa.list_(pa.int64())
    assert columns["ids"].to_pylist() == [[7], []]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"xy": [1]}, r"feature 'xy': record 0 has 1 values, the model reads 2"),
        ({"xy": [1.0, 2.0]}, r"feature 'xy': record 0 holds float values"),
        ({"age": 3.0}, r"feature 'xy' is required but missing in record 0"),
    ],
)
def test_bad_records_name_the_feature(record, message):
    spec = {"xy": fc.FixedLenFeature((2,), "int64")}
    with pytest.raises(ServingInputError, match=message):
        parse_example([serialize_example(record)], spec)


def test_records_that_are_not_examples_are_named():
    spec = {"x": InputSpec("float32", (1,))}
    with pytest.raises(ServingInputError, match="record 1 is not a serialized"):
        parse_example([serialize_example({"x": 1.0}), b"\xff\xff"], spec)
    with pytest.raises(ServingInputError, match="record 0 is a string but not base64"):
        parse_example(["not base64!"], spec)
    with pytest.raises(ServingInputError, match="record 0 is a int"):
        parse_example([3], spec)
    with pytest.raises(ServingInputError, match="holds no tf.train.Example"):
        parse_example([], spec)


def test_base64_text_is_accepted_as_tf_serving_sends_it():
    record = serialize_example({"x": 2.0})
    text = base64.b64encode(record).decode()
    spec = {"x": InputSpec("float32", (1,))}
    assert parse_example([text], spec)["x"].tolist() == [[2.0]]
    assert parse_example([{"b64": text}], spec)["x"].tolist() == [[2.0]]


# -- served: an export made with the parsing receiver --------------------------------


def records_of(features):
    """One serialized Example per row of the census-like columns."""
    return [
        serialize_example(
            {
                "age": float(features["age"][i]),
                "city": features["city"][i].as_py(),
                "tags": features["tags"][i].as_py(),
            }
        )
        for i in range(len(features["age"]))
    ]


@pytest.fixture(scope="module")
def parsing_export(classifier, tmp_path_factory):
    spec = fc.make_parse_example_spec(classifier.feature_columns)
    return classifier.export_saved_model(
        str(tmp_path_factory.mktemp("parsing")),
        est.export.build_parsing_serving_input_receiver_fn(spec),
    )


def test_the_export_serves_serialized_examples(
    parsing_export, classifier, make_census, predict, assert_same
):
    features = make_census(9, seed=5)
    records = records_of(features)
    model = est.export.load(parsing_export)
    assert model.signature["example_key"] == "examples"
    expected = predict(classifier, features)
    assert_same(model(records), expected)
    assert_same(model(np.array(records, dtype=object)), expected)
    assert_same(model({"examples": records}), expected)
    assert_same(model(features), expected)  # raw columns still work


def test_the_predictor_serves_serialized_examples(
    parsing_export, classifier, make_census, predict, assert_same
):
    features = make_census(4, seed=6)
    predictor = est.Predictor(parsing_export)
    assert_same(predictor(records_of(features)), predict(classifier, features))


def test_a_bad_record_in_a_request_names_the_feature(parsing_export):
    model = est.export.load(parsing_export)
    bad = serialize_example({"age": 30, "city": "lima", "tags": ["a"]})
    with pytest.raises(ServingInputError, match=r"feature 'age': record 0 holds int64"):
        model([bad])


def test_a_raw_receiver_export_takes_no_examples(mlp, tmp_path):
    estimator, x = mlp
    path = estimator.export_saved_model(
        str(tmp_path), est.export.build_raw_serving_input_receiver_fn({"x": x})
    )
    model = est.export.load(path)
    assert model.signature["example_key"] is None
    with pytest.raises(ServingInputError, match="a request must be a dict"):
        model([serialize_example({"x": [1.0, 2.0, 3.0, 4.0]})])

"""est.data.experimental.make_csv_dataset: tf 2.15's semantics, and the TF
Estimators guide's Titanic program ported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import estimators as est
from estimators import feature_column as fc
from estimators.data.experimental import make_csv_dataset

DATA = Path(__file__).resolve().parents[3] / "data"
TRAIN = str(DATA / "titanic_train.csv")
EVAL = str(DATA / "titanic_eval.csv")


def write(path, text):
    path.write_text(text)
    return str(path)


def test_types_are_inferred_as_tf_does_and_missing_values_default(tmp_path):
    path = write(
        tmp_path / "a.csv",
        "i,big,f,wide,s,empty\n1,1,1.5,1e39,x,\n,3000000000,,2,,\n",
    )
    ds = make_csv_dataset(path, batch_size=2, num_epochs=1, shuffle=False)
    (features,) = list(ds)
    # int32; int64 (does not fit int32); float32; float64 (1e39 > float32 max);
    # string; an all-empty column is string.
    assert [str(features[k].dtype) for k in ("i", "big", "f", "wide")] == [
        "int32",
        "int64",
        "float32",
        "float64",
    ]
    assert features["i"].tolist() == [1, 0] and features["f"].tolist() == [1.5, 0.0]
    assert features["s"].to_pylist() == ["x", ""]
    assert features["empty"].to_pylist() == ["", ""]


def test_label_selection_order_and_defaults(tmp_path):
    path = write(tmp_path / "a.csv", "a,b,c,y\n1,2,x,0\n4,NA,z,1\n")
    ds = make_csv_dataset(
        path,
        batch_size=2,
        label_name="y",
        select_columns=["y", "b", "a"],
        column_defaults=[0, [-1.0], 0],
        na_value="NA",
        num_epochs=1,
        shuffle=False,
    )
    features, label = next(iter(ds))
    assert list(features) == ["a", "b"]  # file order, label taken out
    assert features["b"].tolist() == [2.0, -1.0] and features["b"].dtype == np.float32
    assert label.tolist() == [0, 1]


def test_repeating_forever_drops_the_partial_batch_and_shuffles(tmp_path):
    path = write(tmp_path / "a.csv", "x\n" + "".join(f"{i}\n" for i in range(10)))
    ds = make_csv_dataset(path, batch_size=4, shuffle_seed=3)
    it = iter(ds)
    batches = [next(it)["x"].tolist() for _ in range(5)]  # 20 rows: two passes
    assert all(len(b) == 4 for b in batches)
    first_pass = sorted(sum(batches, [])[:10])
    assert first_pass == list(range(10)) and sum(batches, [])[:10] != list(range(10))
    once = make_csv_dataset(path, batch_size=4, num_epochs=1, shuffle=False)
    assert [b["x"].tolist() for b in once] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_several_files_read_in_parallel_interleave_and_resume(tmp_path):
    for i in range(3):
        write(
            tmp_path / f"p{i}.csv",
            "x\n" + "".join(f"{100 * i + j}\n" for j in range(7)),
        )
    pattern = str(tmp_path / "p*.csv")

    def make():
        return make_csv_dataset(
            pattern, batch_size=5, num_epochs=2, shuffle=False, num_parallel_reads=2
        )

    whole = [b["x"].tolist() for b in make()]
    # Files p0 and p1 row by row, then p2.
    assert sum(whole, [])[:4] == [0, 100, 1, 101]
    it = make().iterator()
    for k in range(len(whole) + 1):
        state = json.loads(json.dumps(it.get_state()))
        assert [b["x"].tolist() for b in make().iterator(state)] == whole[k:], k
        next(it, None)


def test_required_columns_errors_and_ignore_errors(tmp_path):
    path = write(tmp_path / "a.csv", "x,y\n1,2\n,3\nabc,4\n5,6,7\n8,9\n")
    strict = make_csv_dataset(
        path,
        batch_size=9,
        column_defaults=[np.int32, 0],
        num_epochs=1,
        shuffle=False,
    )
    # Arrow parses a whole block first: the row of 3 fields is reported.
    with pytest.raises(
        ValueError, match=r"a\.csv: CSV parse error: Row #5: Expected 2"
    ):
        next(iter(strict))
    write(tmp_path / "b.csv", "x,y\n1,2\n")
    write(tmp_path / "c.csv", "x,y\n1,3\n4,5\n,3\n")
    missing = make_csv_dataset(
        str(tmp_path / "[bc].csv"),
        batch_size=9,
        column_defaults=[np.int32, 0],
        num_epochs=1,
        shuffle=False,
        num_parallel_reads=2,
    )
    with pytest.raises(
        ValueError, match=r"c\.csv'?: column 'x' is required .* but row 2 has no"
    ):
        next(iter(missing))
    lenient = make_csv_dataset(
        path,
        batch_size=9,
        column_defaults=[np.int32, 0],
        num_epochs=1,
        shuffle=False,
        ignore_errors=True,
    )
    # Kept: 1,2 and 8,9; dropped: a missing required x, "abc", a row of 3 fields.
    features = next(iter(lenient))
    assert features["x"].tolist() == [1, 8] and features["y"].tolist() == [2, 9]
    assert features["x"].dtype == np.int32


def test_gzip_files_and_argument_errors(tmp_path):
    packed = tmp_path / "a.csv.gz"
    packed.write_bytes(gzip.compress(b"x,y\n1,a\n2,b\n"))
    ds = make_csv_dataset(
        str(packed), 2, num_epochs=1, shuffle=False, compression_type="GZIP"
    )
    assert next(iter(ds))["x"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="no files match"):
        make_csv_dataset(str(tmp_path / "none*.csv"), 2)
    with pytest.raises(ValueError, match="label_name 'z' is not one of the columns"):
        make_csv_dataset(str(packed), 2, label_name="z")
    plain = write(tmp_path / "b.csv", "x\n1\n")
    with pytest.raises(ValueError, match="without a header line"):
        make_csv_dataset(plain, 2, header=False)


# -- the TF Estimators guide's Titanic program ------------------------------------


def train_input_fn():
    # As in the guide: make_csv_dataset, then cache, repeat, shuffle, prefetch.
    titanic = est.data.experimental.make_csv_dataset(
        TRAIN, batch_size=32, label_name="survived", shuffle_seed=0
    )
    return titanic.cache().repeat().shuffle(500, seed=0).prefetch(est.data.AUTOTUNE)


def eval_input_fn():
    return est.data.experimental.make_csv_dataset(
        EVAL, batch_size=32, label_name="survived", num_epochs=1, shuffle=False
    )


def test_the_guides_titanic_linear_classifier_learns(tmp_path):
    age = fc.numeric_column("age")
    cls = fc.categorical_column_with_vocabulary_list(
        "class", ["First", "Second", "Third"]
    )
    # The guide's list, typo included: 'Southhampton' rows get no weight.
    embark = fc.categorical_column_with_vocabulary_list(
        "embark_town", ["Cherbourg", "Southhampton", "Queenstown"]
    )
    model = est.LinearClassifier(
        model_dir=str(tmp_path / "guide"),
        feature_columns=[embark, cls, age],
        n_classes=2,
    )
    model = model.train(input_fn=train_input_fn, steps=100)
    result = model.evaluate(eval_input_fn)
    labels = pd.read_csv(EVAL)["survived"]
    baseline = max(labels.mean(), 1 - labels.mean())  # always "died": 0.636
    assert result["accuracy_baseline"] == pytest.approx(baseline, abs=1e-6)
    assert result["global_step"] == 100
    # Class alone separates: First survives (~60%), Third does not (~25%).
    assert result["accuracy"] > baseline + 0.03


def test_titanic_with_the_linear_tutorials_columns_learns_well(tmp_path):
    vocabularies = {
        "sex": ["male", "female"],
        "class": ["First", "Second", "Third"],
        "deck": ["unknown", "A", "B", "C", "D", "E", "F", "G"],
        "embark_town": ["Southampton", "Cherbourg", "Queenstown", "unknown"],
        "alone": ["y", "n"],
    }
    columns = [
        fc.categorical_column_with_vocabulary_list(name, vocabulary)
        for name, vocabulary in vocabularies.items()
    ] + [fc.numeric_column(n) for n in ("age", "n_siblings_spouses", "parch", "fare")]
    model = est.LinearClassifier(
        model_dir=str(tmp_path / "tutorial"), feature_columns=columns, n_classes=2
    )
    model.train(train_input_fn, steps=200)
    result = model.evaluate(eval_input_fn)
    # Sex is the strongest signal (women ~75% survive, men ~20%).
    assert result["accuracy"] >= 0.75 > result["accuracy_baseline"] + 0.1

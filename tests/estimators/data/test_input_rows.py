"""`DatasetIterator.input_row`: a batch row named by its place in the input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from estimators.data import Dataset
from estimators.data._provenance import name_input_row
from estimators.data.experimental import make_csv_dataset

FRAME = pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40)})


def in_memory(kind):
    source = Dataset.from_pandas(FRAME, label="y")
    return {
        "batch": source.batch(8),
        "shuffle": source.shuffle(40, seed=1).batch(8),
        "small buffer, repeat, prefetch": (
            source.shuffle(10, seed=1).repeat(2).batch(8).prefetch(2)
        ),
        "map, skip, take": source.map(lambda f, y: (f, y)).skip(3).take(30).batch(8),
        # 200 elements: more than one anchor's worth (64) of replay
        "long": source.shuffle(40, seed=2).repeat(10).batch(2),
    }[kind]


KINDS = [
    "batch",
    "shuffle",
    "small buffer, repeat, prefetch",
    "map, skip, take",
    "long",
]


@pytest.mark.parametrize("kind", KINDS)
def test_every_row_of_every_batch_is_named_by_its_frame_row(kind):
    it = iter(in_memory(kind))
    for features, _ in it:
        names = [it.input_row(r) for r in range(len(features["x"]))]
        assert names == [f"row {int(x)} of the DataFrame" for x in features["x"]]


@pytest.mark.parametrize("kind", KINDS)
def test_rows_of_stacked_batches_are_named_too(kind):
    it = iter(in_memory(kind))
    features, _ = it.next_stacked(3)
    flat = features["x"].reshape(-1)
    assert [it.input_row(r) for r in range(len(flat))] == [
        f"row {int(x)} of the DataFrame" for x in flat
    ]


def test_a_restored_iterator_names_the_same_rows():
    ds = in_memory("small buffer, repeat, prefetch")
    it = iter(ds)
    next(it)
    resumed = ds.iterator(it.get_state())
    features, _ = next(resumed)
    assert resumed.input_row(5) == f"row {int(features['x'][5])} of the DataFrame"


def test_file_rows_are_named_by_file_and_row_in_it(tmp_path):
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    pq.write_table(table.slice(0, 20), tmp_path / "a.parquet", row_group_size=6)
    pq.write_table(table.slice(20), tmp_path / "b.parquet", row_group_size=6)
    ds = Dataset.from_parquet(tmp_path, label="y", batch_rows=4)
    it = iter(ds.shuffle(7, seed=2).batch(8))
    for features, _ in it:
        for r, x in enumerate(features["x"].astype(int)):
            name, row = ("a", x) if x < 20 else ("b", x - 20)
            assert it.input_row(r) == f"row {row} of '{name}.parquet'"


def test_csv_rows_are_named_by_file_and_row_in_it(tmp_path):
    path = str(tmp_path / "a.csv")  # a file named alone is named as given
    pacsv.write_csv(pa.Table.from_pandas(FRAME, preserve_index=False), path)
    it = iter(Dataset.from_csv(path, label="y").batch(8))
    next(it)
    next(it)
    assert it.input_row(5) == f"row 13 of {path!r}"


def test_rows_the_pipeline_cannot_trace_are_named_within_their_batch():
    def rows():
        for i in range(40):
            yield {"x": float(i)}, i

    generated = Dataset.from_generator(rows).batch(8)
    filtered = Dataset.from_pandas(FRAME, label="y").filter(lambda f, y: y >= 0)
    for ds in [generated, filtered.batch(8)]:
        it = iter(ds)
        next(it)
        next(it)
        assert it.input_row(5) == "row 5 of batch 1"


def test_a_filtered_table_says_its_rows_count_after_the_filter():
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    it = iter(Dataset.from_arrow(table, label="y", filter=[("y", ">=", 10)]).batch(8))
    next(it)
    assert it.input_row(3) == "row 3 of the table after its filter"


def test_the_first_row_number_of_a_message_is_rewritten():
    it = iter(Dataset.from_pandas(FRAME, label="y").batch(8))
    next(it)
    next(it)
    error = ValueError("feature 'x': missing value (row 5: null or NaN), see row 6")
    name_input_row(error, it)
    assert str(error) == (
        "feature 'x': missing value (row 13 of the DataFrame: null or NaN), see row 6"
    )
    counted = ValueError("labels: row 2 has no label (null).")
    name_input_row(counted, iter([1, 2]), 4)  # not a Dataset: the batch read
    assert str(counted) == "labels: row 2 of batch 4 has no label (null)."
    untouched = ValueError("labels: row 2 has no label (null).")
    name_input_row(untouched, iter([1, 2]))  # nor the batch's number
    assert str(untouched) == "labels: row 2 has no label (null)."


def test_a_stacked_read_after_many_elements_is_named_too():
    it = iter(in_memory("long"))
    for _ in range(70):
        next(it)
    features, _ = it.next_stacked(20)
    flat = features["x"].reshape(-1)
    assert [it.input_row(r) for r in range(len(flat))] == [
        f"row {int(x)} of the DataFrame" for x in flat
    ]


def test_a_dataframe_index_other_than_0_to_n_is_named_too():
    frame = FRAME.set_index(FRAME.index + 1000)  # e.g. what a row filter leaves
    for ds in [
        Dataset.from_pandas(frame, label="y"),
        Dataset.from_tensor_slices(frame),
    ]:
        it = iter(ds.batch(8))
        next(it)
        next(it)
        assert it.input_row(5) == "row 13 of the DataFrame (index 1013)"


@pytest.mark.parametrize("shuffle", [False, True])
def test_make_csv_dataset_rows_are_named_by_file_and_row(tmp_path, shuffle):
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    pacsv.write_csv(table.slice(0, 20), tmp_path / "a.csv")
    pacsv.write_csv(table.slice(20), tmp_path / "b.csv")
    ds = make_csv_dataset(
        str(tmp_path / "*.csv"),
        8,
        label_name="y",
        shuffle=shuffle,
        shuffle_seed=3,
        shuffle_buffer_size=16,
        num_parallel_reads=2,
        num_epochs=2,
    )
    it = iter(ds)
    for features, _ in it:
        for r, x in enumerate(features["x"].astype(int)):
            path = tmp_path / ("a.csv" if x < 20 else "b.csv")
            assert it.input_row(r) == f"row {x % 20} of {str(path)!r}"


def test_interleaved_in_memory_datasets_are_named_within_their_batch():
    parts = [FRAME.iloc[:20], FRAME.iloc[20:]]
    ds = Dataset.from_tensor_slices(np.arange(2)).interleave(
        lambda i: Dataset.from_pandas(parts[int(i)], label="y"), cycle_length=2
    )
    it = iter(ds.batch(8))
    next(it)
    next(it)
    assert it.input_row(5) == "row 5 of batch 1"  # which frame would be unclear


def test_a_csv_block_that_dropped_bad_rows_is_named_within_its_batch(tmp_path):
    lines = ["x,y"] + [f"{i},{i}" for i in range(20)]
    lines[3] = "oops,2"  # data row 2: dropped by ignore_errors
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    ds = make_csv_dataset(
        str(tmp_path / "a.csv"),
        8,
        column_defaults=[0.0, 0],
        label_name="y",
        shuffle=False,
        num_epochs=1,
        ignore_errors=True,
    )
    it = iter(ds)
    next(it)
    next(it)
    assert it.input_row(5) == "row 5 of batch 1"


def test_a_file_reader_error_names_the_row_of_the_file(tmp_path):
    table = pa.Table.from_pandas(FRAME, preserve_index=False)
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=6)
    ds = Dataset.from_parquet(tmp_path / "a.parquet", label="y", batch_rows=4)

    def check(batch):  # as make_csv_dataset's reader does: the row in the batch
        x = batch.column("x").to_numpy()
        if 13 in x:
            raise ValueError(f"bad value (row {int(np.argmax(x == 13))})")
        return batch

    ds._node.record_fn = check
    with pytest.raises(ValueError, match=r"^bad value \(row 13\)$"):
        list(ds.batch(8))


def test_pandas_input_fn_rows_are_named_by_the_frame_index():
    from estimators.data import pandas_input_fn

    frame = FRAME.set_index(FRAME.index + 1000)
    input_fn = pandas_input_fn(
        frame[["x"]], frame["y"], batch_size=8, shuffle=True, num_epochs=1
    )
    it = iter(input_fn())
    features, _ = next(it)
    x = int(features["x"][5])
    assert it.input_row(5) == f"row {x} of the DataFrame (index {x + 1000})"

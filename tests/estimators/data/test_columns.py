"""The batch format for arbitrary values: strings, nulls, NaN, extreme numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from estimators.data import Dataset

INTS = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.none() | INTS, st.none() | FLOATS, st.none() | st.text()),
        min_size=1,
        max_size=30,
    ),
    batch_size=st.integers(1, 8),
)
def test_any_values_give_the_batch_format(data, batch_size):
    ints, floats, texts = (list(column) for column in zip(*data, strict=True))
    table = pa.table(
        {
            "i": pa.array(ints, pa.int64()),
            "f": pa.array(floats, pa.float64()),
            "s": pa.array(texts, pa.string()),
        }
    )
    batches = list(Dataset.from_arrow(table).batch(batch_size))
    i = np.concatenate([b["i"] for b in batches])
    f = np.concatenate([b["f"] for b in batches])
    s = pa.concat_arrays([b["s"] for b in batches])
    if None in ints:
        assert i.dtype == np.float64
        assert [math.isnan(v) for v in i] == [v is None for v in ints]
    else:
        assert i.dtype == np.int64 and i.tolist() == ints
    assert [math.isnan(v) for v in f] == [v is None or math.isnan(v) for v in floats]
    assert s.type == pa.string() and s.to_pylist() == texts


def test_object_columns_of_mixed_types_give_one_clear_error():
    frame = pd.DataFrame({"mixed": [1, "a", 2.5]})
    try:
        Dataset.from_pandas(frame)
    except TypeError as error:
        assert "cannot convert the DataFrame" in str(error) and "mixed" in str(error)
        assert "\n" not in str(error)
    else:
        raise AssertionError("expected a TypeError")

"""est.data's public names are one pinned list."""

from __future__ import annotations

import estimators as est


def test_the_data_api_is_pinned():
    assert est.data.__all__ == [
        "AUTOTUNE",
        "INFINITE_CARDINALITY",
        "UNKNOWN_CARDINALITY",
        "Dataset",
        "DatasetIterator",
        "experimental",
        "inputs",
        "numpy_input_fn",
        "pandas_input_fn",
    ]
    assert est.data.experimental.__all__ == ["make_csv_dataset"]
    for name in est.data.__all__:
        assert hasattr(est.data, name), name

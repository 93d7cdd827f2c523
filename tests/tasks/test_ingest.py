import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from estimators_pipeline.tasks import ingest as ingest_lib
from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.ingest import ingest
from estimators_pipeline.tasks.policies import output_cache_key

CENSUS_FEATURES = [
    {"numeric_column": {"key": "age"}},
    {"categorical_column_with_hash_bucket": {"key": "city", "hash_bucket_size": 10}},
]


def _config(work_dir, features=CENSUS_FEATURES, **data):
    return PipelineConfig.model_validate(
        {
            "model_name": "data",
            "data": data,
            "features": features,
            "estimator": {"type": "LinearClassifier"},
            "work_dir": str(work_dir),
        }
    )


def _ingest(config):
    return ingest.fn(config.data, config.features, config.work_dir)


def _rows(uri):
    table = pq.read_table(uri)
    return set(
        zip(*(table.column(n).to_pylist() for n in table.column_names), strict=True)
    )


def test_split_is_deterministic_and_named_by_content(tmp_path, census_dir):
    data = {"uri": str(census_dir), "label": "label", "eval_fraction": 0.25}
    first = _ingest(_config(tmp_path / "a", **data))
    second = _ingest(_config(tmp_path / "b", **data))
    assert first.fingerprint == second.fingerprint
    assert (first.train_rows, first.eval_rows) == (second.train_rows, second.eval_rows)
    assert first.train_rows + first.eval_rows == 2000
    assert 400 < first.eval_rows < 600  # ~25% of 2000 by a row hash
    assert _rows(first.eval_uri) == _rows(second.eval_uri)
    assert not _rows(first.train_uri) & _rows(first.eval_uri)


def test_rows_keep_their_split_when_the_data_grows(tmp_path, census_dir):
    folder = tmp_path / "data"
    folder.mkdir()
    table = pq.read_table(census_dir)
    pq.write_table(table.slice(0, 1000), folder / "part-0.parquet")
    config = _config(tmp_path / "runs", uri=str(folder), label="label")
    before = _ingest(config)
    pq.write_table(table.slice(1000), folder / "part-1.parquet")
    after = _ingest(config)
    assert after.fingerprint != before.fingerprint
    assert _rows(before.eval_uri) <= _rows(after.eval_uri)
    assert _rows(before.train_uri) <= _rows(after.train_uri)


def test_an_eval_uri_is_used_as_given(iris, tmp_path):
    splits = _ingest(iris)
    assert (splits.train_rows, splits.eval_rows) == (120, 30)
    assert pq.read_schema(splits.eval_uri).names[-1] == "Species"


@pytest.mark.parametrize(
    ("features", "label", "message"),
    [
        (
            [{"numeric_column": {"key": "agee"}}],
            "label",
            r"no column 'agee', which the feature columns read \(as float32\); columns: \['age'",
        ),
        (
            [{"numeric_column": {"key": "city"}}],
            "label",
            r"column 'city' is string, but the feature columns read it as float32",
        ),
        ([{"numeric_column": {"key": "age"}}], "income", r"no label column 'income'"),
    ],
)
def test_schema_errors_name_the_column(tmp_path, census_dir, features, label, message):
    with pytest.raises(ValueError, match=message):
        _ingest(_config(tmp_path, features, uri=str(census_dir), label=label))


def test_missing_data_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        _ingest(_config(tmp_path, [], uri=str(tmp_path / "nope.csv"), label="y"))


def test_fingerprint_follows_content_not_the_path(tmp_path):
    for name in ("a", "b"):
        os.makedirs(tmp_path / name)
        pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / name / "p.parquet")
    assert ingest_lib.fingerprint(str(tmp_path / "a")) == ingest_lib.fingerprint(
        str(tmp_path / "b")
    )
    pq.write_table(pa.table({"x": [1.0, 2.5]}), tmp_path / "b" / "p.parquet")
    assert ingest_lib.fingerprint(str(tmp_path / "a")) != ingest_lib.fingerprint(
        str(tmp_path / "b")
    )


class _Store:
    def __init__(self, keys):
        self.keys = keys

    def exists(self, key):
        return key in self.keys


class _Context:
    def __init__(self, keys):
        self.result_store = _Store(keys)


def test_a_cached_result_whose_files_were_deleted_is_recomputed():
    assert (
        output_cache_key(_Context(set()), "k", outputs_exist=False) == "k"
    )  # first run
    assert (
        output_cache_key(_Context({"k"}), "k", outputs_exist=True) == "k"
    )  # cache hit
    assert (
        output_cache_key(_Context({"k"}), "k", outputs_exist=False) is None
    )  # rm -rf runs/


IRIS_FEATURES = [
    {"numeric_column": {"key": k}}
    for k in ("SepalLength", "SepalWidth", "PetalLength", "PetalWidth")
]
SPECIES = {"0": "setosa", "1": "versicolor", "2": "virginica"}


def _iris_copy(repo, path, species=None):
    """data/iris_training.csv at `path`, the label's values mapped by `species`."""
    lines = (repo / "data/iris_training.csv").read_text().splitlines()
    if species:
        lines = [lines[0]] + [
            f"{row.rsplit(',', 1)[0]},{species[row.rsplit(',', 1)[1]]}"
            for row in lines[1:]
        ]
    path.write_text("\n".join(lines) + "\n")


def test_a_label_that_changes_type_between_runs_fails_at_ingest(tmp_path, repo):
    data = tmp_path / "iris.csv"
    _iris_copy(repo, data)
    config = _config(tmp_path / "runs", IRIS_FEATURES, uri=str(data), label="Species")
    _ingest(config)
    _iris_copy(repo, data, SPECIES)  # the next export writes class names
    with pytest.raises(ValueError) as error:
        _ingest(config)
    message = str(error.value)
    assert message.startswith(
        f"data {str(data)!r}: column 'Species' is string in {data}, but was int64 "
        "at the previous ingest (recorded in "
    ), message
    assert "\n" not in message
    _iris_copy(repo, data)  # put back: the record still holds
    assert _ingest(config).train_rows > 0


def test_files_of_one_dataset_must_agree_on_a_column_type(tmp_path, repo):
    folder = tmp_path / "iris"
    folder.mkdir()
    _iris_copy(repo, folder / "part-0.csv")
    _iris_copy(repo, folder / "part-1.csv", SPECIES)
    config = _config(tmp_path / "runs", IRIS_FEATURES, uri=str(folder), label="Species")
    with pytest.raises(
        ValueError,
        match=r"column 'Species' is string in .*part-1.csv"
        r", but was int64 in .*part-0.csv",
    ):
        _ingest(config)


def test_widening_a_number_is_not_drift(tmp_path):
    data = tmp_path / "d.parquet"
    pq.write_table(
        pa.table({"x": pa.array([1, 2, 3, 4, 5], pa.int32()), "y": [0, 1, 0, 1, 0]}),
        data,
    )
    features = [{"numeric_column": {"key": "x"}}]
    config = _config(
        tmp_path / "runs", features, uri=str(data), label="y", eval_fraction=0.5
    )
    _ingest(config)
    pq.write_table(
        pa.table({"x": [1.5, 2.0, 3.0, 4.0, 5.0], "y": [0, 1, 0, 1, 1]}), data
    )
    assert _ingest(config).train_rows + _ingest(config).eval_rows == 5

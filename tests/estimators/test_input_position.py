"""A checkpointed input position is used only on the data it was saved for."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from support import classifier_model_fn, fast_config

import estimators as est


def make(tmp_path):
    return est.Estimator(
        classifier_model_fn,
        model_dir=str(tmp_path / "model"),
        config=fast_config(random_seed=1),
    )


def frame(blobs, shift=0.0):
    x, y = blobs
    return pd.DataFrame({"x0": x[:, 0] + shift, "x1": x[:, 1], "y": y})


def input_of(data):
    def input_fn():
        if isinstance(data, pd.DataFrame):
            dataset = est.data.Dataset.from_pandas(data, label="y")
        else:
            dataset = est.data.Dataset.from_parquet(data, label="y")
        return dataset.map(stack_x).batch(30)

    return input_fn


def stack_x(features, label):
    return {"x": np.stack([features["x0"], features["x1"]], -1)}, label


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_position_at_the_end_of_one_frame_is_not_applied_to_another(
    tmp_path, blobs, caplog
):
    model = make(tmp_path)
    model.train(input_of(frame(blobs)), steps=3)  # 90 rows / 30: at the end of A
    caplog.set_level(logging.WARNING)

    model.train(input_of(frame(blobs, shift=1.0)))  # B: same shape, other values

    assert model.get_variable_value("global_step") == 6  # a whole pass over B
    (warning,) = warnings_of(caplog)
    assert "not the saved position" in warning
    assert "column 'x0' has other values" in warning
    assert "x1" not in warning.split("other data:")[1]


def test_a_position_in_the_same_frame_is_honoured(tmp_path, blobs, caplog):
    model = make(tmp_path)
    model.train(input_of(frame(blobs)), steps=2)  # rows 0-59
    caplog.set_level(logging.WARNING)

    model.train(input_of(frame(blobs)))  # an equal frame, built again: rows 60-89

    assert model.get_variable_value("global_step") == 3
    assert warnings_of(caplog) == []


def test_a_rewritten_file_starts_a_new_pass_and_an_unchanged_one_resumes(
    tmp_path, blobs, caplog
):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "part-0.parquet"
    pq.write_table(pa.Table.from_pandas(frame(blobs), preserve_index=False), path)
    model = make(tmp_path)
    model.train(input_of(str(folder)), steps=3)  # at the end of the file
    caplog.set_level(logging.WARNING)

    model.train(input_of(str(folder)))  # unchanged: the position holds, no rows left
    assert model.get_variable_value("global_step") == 3
    assert warnings_of(caplog) == ["input_fn gave no data; nothing to train."]
    caplog.clear()

    stat = os.stat(path)
    pq.write_table(
        pa.Table.from_pandas(frame(blobs, shift=1.0), preserve_index=False), path
    )
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    model.train(input_of(str(folder)))

    assert model.get_variable_value("global_step") == 6
    (warning,) = warnings_of(caplog)
    assert "file 'part-0.parquet' changed (" in warning
    assert "mtime" in warning and "footer" in warning

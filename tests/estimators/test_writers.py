"""Tests for estimators.writers: the protocol, memory, JSON lines, fan-out."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from estimators.writers import InMemoryWriter, JsonlWriter, MetricWriter, MultiWriter


def _read(path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_writers_satisfy_the_protocol(tmp_path):
    with JsonlWriter(tmp_path / "m.jsonl") as jsonl:
        for writer in (InMemoryWriter(), jsonl, MultiWriter([])):
            assert isinstance(writer, MetricWriter)
    assert not isinstance(object(), MetricWriter)


def test_in_memory_writer_converts_numpy_and_jax_scalars():
    writer = InMemoryWriter()
    writer.write_scalars(1, {"loss": np.float32(0.5), "acc": jnp.asarray(0.25)})
    writer.write_scalars(np.int64(2), {"loss": 1})

    assert writer.history("loss") == [(1, 0.5), (2, 1.0)]
    assert writer.scalars["acc"] == [(1, 0.25)]
    assert all(type(v) is float for _, v in writer.history("loss"))
    with pytest.raises(KeyError, match=r"no scalar named 'los'.*\['acc', 'loss'\]"):
        writer.history("los")


@pytest.mark.parametrize(
    ("scalars", "match"),
    [
        ({"loss": np.ones(2)}, r"metric 'loss' at step 3 must be a scalar"),
        ({"loss": "high"}, r"metric 'loss' at step 3 must be a scalar"),
        ({1: 0.5}, r"metric names must be str, got 1 at step 3"),
    ],
)
def test_non_scalar_values_are_rejected(scalars, match):
    with pytest.raises(TypeError, match=match):
        InMemoryWriter().write_scalars(3, scalars)


def test_jsonl_writer_buffers_until_flush(tmp_path):
    path = tmp_path / "logs" / "metrics.jsonl"
    writer = JsonlWriter(path)
    writer.write_scalars(5, {"loss": np.float64(0.5), "acc": 0.75})
    assert path.read_text() == ""

    writer.flush()
    records = _read(path)
    assert [(r["step"], r["name"], r["value"]) for r in records] == [
        (5, "loss", 0.5),
        (5, "acc", 0.75),
    ]
    assert all(set(r) == {"step", "name", "value", "wall_time"} for r in records)
    assert isinstance(records[0]["wall_time"], float)
    writer.close()
    writer.close()  # closing twice is fine
    with pytest.raises(ValueError, match="JsonlWriter is closed"):
        writer.write_scalars(6, {"loss": 0.1})


def test_jsonl_writer_flushes_when_buffer_is_full(tmp_path):
    writer = JsonlWriter(tmp_path / "m.jsonl", max_buffered=2)
    writer.write_scalars(1, {"a": 1.0})
    assert _read(writer.path) == []
    writer.write_scalars(2, {"a": 2.0})  # 2 lines buffered: flush
    assert [r["step"] for r in _read(writer.path)] == [1, 2]
    writer.close()


def test_jsonl_writer_appends_after_resume_and_drops_torn_line(tmp_path):
    path = tmp_path / "m.jsonl"
    with JsonlWriter(path) as writer:
        writer.write_scalars(1, {"loss": 1.0})
    with open(path, "a") as f:
        f.write('{"step": 2, "na')  # a run killed mid-write

    with JsonlWriter(path) as writer:
        writer.write_scalars(2, {"loss": 0.5})

    assert [(r["step"], r["value"]) for r in _read(path)] == [(1, 1.0), (2, 0.5)]


def test_jsonl_writer_purge_step_drops_lines_of_a_replayed_range(tmp_path):
    path = tmp_path / "m.jsonl"
    with JsonlWriter(path) as writer:
        for step in (100, 200, 300):
            writer.write_scalars(step, {"loss": step / 100})

    # Resumed from the checkpoint at step 200: steps 201.. will be written again.
    with JsonlWriter(path, purge_step=201) as writer:
        writer.write_scalars(250, {"loss": 2.5})

    assert [r["step"] for r in _read(path)] == [100, 200, 250]


def test_multi_writer_fans_out_and_closes_all_despite_errors(tmp_path):
    class Failing(InMemoryWriter):
        def close(self) -> None:
            super().close()
            raise OSError("disk gone")

    memory, failing = InMemoryWriter(), Failing()
    jsonl = JsonlWriter(tmp_path / "m.jsonl")
    multi = MultiWriter([failing, memory, jsonl])
    multi.write_scalars(7, {"loss": 0.5})
    multi.flush()

    assert memory.history("loss") == failing.history("loss") == [(7, 0.5)]
    assert _read(jsonl.path)[0]["step"] == 7
    with pytest.raises(OSError, match="disk gone"):
        multi.close()
    assert memory._closed and jsonl._closed


def test_multi_writer_rejects_non_writers():
    with pytest.raises(TypeError, match=r"`writers\[1\]` must be a MetricWriter"):
        MultiWriter([InMemoryWriter(), print])

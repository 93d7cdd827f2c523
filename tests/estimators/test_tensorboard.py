"""TensorBoardWriter: event files TensorBoard reads, training and eval side by side."""

import os

import pytest

import estimators as est

tensorboardX = pytest.importorskip("tensorboardX")


def _scalars(folder):
    from tensorboardX.proto import event_pb2

    values = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.startswith("events.out.tfevents"):
            continue
        with open(path, "rb") as f:
            data = f.read()
        offset = 0
        while offset < len(data):  # TFRecord: length, crc, payload, crc
            length = int.from_bytes(data[offset : offset + 8], "little")
            event = event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 16 + length
            for value in event.summary.value:
                values.setdefault(value.tag, []).append(
                    (event.step, round(value.simple_value, 6))
                )
    return values


def test_training_and_eval_scalars_land_in_their_folders(tmp_path):
    writer = est.TensorBoardWriter(tmp_path)
    assert isinstance(writer, est.MetricWriter)
    writer.write_scalars(10, {"loss": 0.5, "global_step/sec": 100.0})
    writer.write_scalars(20, {"loss": 0.25, "eval/loss": 0.3, "eval/accuracy": 0.75})
    writer.close()
    assert _scalars(tmp_path) == {
        "loss": [(10, 0.5), (20, 0.25)],
        "global_step/sec": [(10, 100.0)],
    }
    assert _scalars(tmp_path / "eval") == {
        "loss": [(20, 0.3)],
        "accuracy": [(20, 0.75)],
    }
    with pytest.raises(ValueError, match="closed"):
        writer.write_scalars(30, {"loss": 0.1})

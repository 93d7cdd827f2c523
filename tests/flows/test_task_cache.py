"""The ingest/transform cache under Prefect's engine: JSON records, read only as JSON."""

from __future__ import annotations

import base64
import json
import os
import pickle
import random

import pytest
from prefect import flow
from prefect.settings import get_current_settings

from estimators_pipeline.tasks.cache import KEYS_FOLDER
from estimators_pipeline.tasks.config import PipelineConfig
from estimators_pipeline.tasks.ingest import Splits, ingest
from estimators_pipeline.tasks.transform import FrozenColumns, transform


@flow
def cached_stages(config: PipelineConfig) -> list[object]:
    splits = ingest(config.data, config.features, config.work_dir, return_state=True)
    columns = transform(
        config.features,
        config.data.label,
        splits.result(),
        config.work_dir,
        return_state=True,
    )
    return [splits.name, columns.name, splits.result(), columns.result()]


def records(splits: Splits, columns: FrozenColumns) -> dict[str, tuple[str, str]]:
    """Each stage's cache record: (its metadata file, its result file)."""
    folder = str(get_current_settings().results.local_storage_path)
    keys = {
        "ingest": f"ingest-{os.path.basename(os.path.dirname(splits.train_uri))}",
        "transform": f"transform-{os.path.splitext(os.path.basename(columns.uri))[0]}",
    }
    return {
        stage: (os.path.join(folder, KEYS_FOLDER, key), os.path.join(folder, key))
        for stage, key in keys.items()
    }


class _Marker:
    """Pickled, it runs `open(path, 'w')` when unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def config(prefect_harness, write_config):
    seed = random.randrange(1 << 30)  # a split of its own: no other test's cache
    return PipelineConfig.from_yaml(write_config("iris", **{"data.split_seed": seed}))


def test_the_cache_records_are_json_and_a_second_run_hits_them(config):
    first = cached_stages(config)
    second = cached_stages(config)
    assert second[:2] == ["Cached", "Cached"], (first[:2], second[:2])
    assert second[2:] == first[2:]
    assert isinstance(second[2], Splits) and isinstance(second[3], FrozenColumns)
    for metadata_path, result_path in records(*second[2:]).values():
        with open(metadata_path) as f:
            serializer = json.load(f)["serializer"]
        assert serializer["type"] == "json"
        assert serializer["object_decoder"].endswith("tasks.cache.decode_reference")
        with open(result_path) as f:
            result = json.load(f)  # plain JSON, no pickle inside
        assert result["__class__"].startswith("estimators_pipeline.tasks.")
        assert set(result["data"]) in ({"uri", "raw_keys"}, set(Splits.__annotations__))


def test_a_record_rewritten_to_pickle_is_ignored_and_replaced(config, tmp_path):
    stages = cached_stages(config)
    metadata_path, result_path = records(*stages[2:])["ingest"]
    marker = tmp_path / "unpickled.txt"
    with open(metadata_path) as f:
        metadata = json.load(f)
    metadata["serializer"] = {"type": "pickle", "picklelib": "pickle"}
    with open(metadata_path, "w") as f:
        json.dump(metadata, f)
    with open(result_path, "wb") as f:
        f.write(base64.b64encode(pickle.dumps(_Marker(str(marker)))))

    again = cached_stages(config)
    assert again[0] == "Completed" and again[2] == stages[2]  # ran again, same result
    assert not marker.exists()
    with open(metadata_path) as f:
        assert json.load(f)["serializer"]["type"] == "json"  # rewritten
    assert cached_stages(config)[:2] == ["Cached", "Cached"]


def test_a_truncated_result_is_recomputed(config):
    stages = cached_stages(config)
    _, result_path = records(*stages[2:])["transform"]
    with open(result_path, "r+b") as f:
        f.truncate(10)  # as a kill while Prefect writes it leaves it
    again = cached_stages(config)
    assert again[:2] == ["Cached", "Completed"] and again[3] == stages[3]
    assert cached_stages(config)[:2] == ["Cached", "Cached"]


@flow
def ingest_only(config: PipelineConfig) -> tuple[str, str]:
    state = ingest(config.data, config.features, config.work_dir, return_state=True)
    return state.name, state.message


def test_a_failed_ingest_keeps_its_message_and_persists_no_pickle(
    prefect_harness, write_config, tmp_path
):
    source = tmp_path / "short.csv"
    source.write_text("SepalLength,Species\n5.1,0\n4.9,1\n")
    config = PipelineConfig.from_yaml(write_config("iris", **{"data.uri": str(source)}))
    folder = str(get_current_settings().results.local_storage_path)
    before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    name, message = ingest_only(config)
    assert name == "Failed" and "short.csv" in message, message
    written = set(os.listdir(folder)) - before - {KEYS_FOLDER}
    assert written  # Prefect persists the failure, here as JSON
    for new in written:
        with open(os.path.join(folder, new), "rb") as f:
            error = json.loads(f.read())  # JSON, not base64 pickle
        assert error["__exc_type__"] == "builtins.ValueError"
        assert "short.csv" in error["message"]

"""The cache's JSON references and the metadata check, without Prefect's engine."""

import dataclasses
import json
import os
import uuid

import pytest
from prefect.serializers import JSONSerializer, PickleSerializer
from prefect.settings import get_current_settings

from estimators_pipeline.tasks import cache
from estimators_pipeline.tasks.ingest import Splits
from estimators_pipeline.tasks.transform import FrozenColumns

SPLITS = Splits("/w/train.parquet", "/w/eval.parquet", "ab12", 120, 30)


def test_the_stage_results_round_trip_as_json():
    columns = FrozenColumns("/w/columns.json", {"SepalLength": "float32"})
    for value in (SPLITS, columns):
        blob = cache.REFERENCE_SERIALIZER.dumps(value)
        assert json.loads(blob)["__class__"] == (
            f"estimators_pipeline.tasks.{type(value).__module__.split('.')[-1]}."
            f"{type(value).__name__}"
        )
        assert cache.REFERENCE_SERIALIZER.loads(blob) == value


def test_only_registered_references_are_written_or_rebuilt():
    @dataclasses.dataclass
    class Unregistered:
        path: str

    with pytest.raises(TypeError, match="@reference dataclasses; got .*Unregistered"):
        cache.REFERENCE_SERIALIZER.dumps(Unregistered("x"))
    for forged in (
        {"__class__": "os.system", "data": "echo"},
        {"__class__": "pathlib.Path", "data": {}},
        {"__class__": "estimators_pipeline.tasks.ingest.Splits", "data": {"x": 1}},
    ):
        with pytest.raises(ValueError, match="not a registered @reference"):
            cache.REFERENCE_SERIALIZER.loads(json.dumps(forged).encode())


def test_a_failed_run_s_exception_is_kept_as_its_name_and_message():
    blob = cache.REFERENCE_SERIALIZER.dumps(KeyError("label 'Species' missing"))
    assert json.loads(blob)["__exc_type__"] == "builtins.KeyError"
    error = cache.REFERENCE_SERIALIZER.loads(blob)
    assert isinstance(error, RuntimeError)
    assert str(error) == "builtins.KeyError: \"label 'Species' missing\""


def metadata(serializer, storage_key=None) -> bytes:
    """Result metadata naming `serializer`; by default its result is SPLITS."""
    if storage_key is None:
        folder = get_current_settings().results.local_storage_path
        storage_key = os.path.join(folder, f"test-{uuid.uuid4().hex}")
        os.makedirs(folder, exist_ok=True)
        with open(storage_key, "wb") as f:
            f.write(cache.REFERENCE_SERIALIZER.dumps(SPLITS))
    return json.dumps({"storage_key": storage_key, "serializer": serializer}).encode()


def test_metadata_naming_another_serializer_is_refused():
    ours = cache.REFERENCE_SERIALIZER.model_dump(mode="json")
    good = metadata(ours)
    assert cache.checked_metadata("k", good) == good
    others = [
        PickleSerializer(picklelib="pickle").model_dump(mode="json"),
        JSONSerializer().model_dump(mode="json"),  # Prefect's decoder: any class
        {**ours, "jsonlib": "jsonpickle"},
        {**ours, "object_decoder": "builtins.eval"},
    ]
    for serializer in others:
        with pytest.raises(ValueError, match="names the serializer"):
            cache.checked_metadata("k", metadata(serializer))
    with pytest.raises(ValueError, match="is not Prefect result metadata"):
        cache.checked_metadata("k", b"\x80\x04pickle")


def test_metadata_whose_result_does_not_read_back_is_refused(tmp_path):
    ours = cache.REFERENCE_SERIALIZER.model_dump(mode="json")
    truncated = json.loads(metadata(ours))["storage_key"]
    with open(truncated, "r+b") as f:
        f.truncate(10)  # as a kill mid-write leaves it
    outside = tmp_path / "elsewhere"
    outside.write_bytes(cache.REFERENCE_SERIALIZER.dumps(SPLITS))
    for key in (truncated, str(outside), None):
        with pytest.raises(ValueError, match="does not read back"):
            cache.checked_metadata(
                "k", json.dumps({"storage_key": key, "serializer": ours}).encode()
            )


def test_the_key_storage_checks_what_it_reads(tmp_path):
    storage = cache.ReferenceStorage(basepath=str(tmp_path))
    ours = cache.REFERENCE_SERIALIZER.model_dump(mode="json")
    good = metadata(ours)
    storage.write_path("good", good, _sync=True)
    storage.write_path("bad", metadata({"type": "pickle"}), _sync=True)
    assert storage.read_path("good", _sync=True) == good
    with pytest.raises(ValueError, match="names the serializer"):
        storage.read_path("bad", _sync=True)
    default = cache.ReferenceStorage()._resolve_path("k")
    expected = get_current_settings().results.local_storage_path
    assert str(default) == os.path.join(
        os.path.realpath(expected), cache.KEYS_FOLDER, "k"
    )

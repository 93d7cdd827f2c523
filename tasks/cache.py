"""The task cache's results: JSON references, read back only as JSON.

Prefect persists a cached task's result with metadata that names its
serializer, and reads the result back with whichever serializer the metadata
names: with `result_serializer="json"` alone, a record rewritten to name
`pickle` still runs code when the cache is read. Here the cache keys' metadata
lives in `ReferenceStorage`, which hands Prefect only metadata naming exactly
`REFERENCE_SERIALIZER` (JSON that rebuilds only the `@reference` dataclasses);
anything else reads as "no cached result", so the task runs again and rewrites
it. A writable cache folder holds data, never code.

Example:
    >>> import dataclasses
    >>> @reference
    ... @dataclasses.dataclass(frozen=True)
    ... class Files:
    ...     uri: str
    ...     rows: int
    >>> blob = REFERENCE_SERIALIZER.dumps(Files("/data/a.parquet", 3))
    >>> REFERENCE_SERIALIZER.loads(blob)
    Files(uri='/data/a.parquet', rows=3)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, TypeVar

from prefect.filesystems import LocalFileSystem
from prefect.serializers import JSONSerializer
from prefect.settings import get_current_settings

__all__ = [
    "KEYS_FOLDER",
    "REFERENCE_SERIALIZER",
    "ReferenceStorage",
    "checked_metadata",
    "decode_reference",
    "encode_reference",
    "reference",
]

T = TypeVar("T")
_REFERENCES: dict[str, type] = {}
logger = logging.getLogger(__name__)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def reference(cls: type[T]) -> type[T]:
    """Registers a dataclass of JSON values (paths, hashes, counts, small dicts)
    as a task result that the cache may store and rebuild."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"@reference takes a dataclass, got {cls!r}.")
    _REFERENCES[_name(cls)] = cls
    return cls


def encode_reference(obj: Any) -> Any:
    """`json.dumps`' `default`: a registered reference as `{"__class__", "data"}`.

    A failed run's exception (which Prefect also persists) is kept as its type's
    name and message, and reads back as a `RuntimeError` saying both.
    """
    cls = type(obj)
    if isinstance(obj, BaseException):
        return {"__exc_type__": _name(cls), "message": str(obj)}
    if _REFERENCES.get(_name(cls)) is not cls:
        raise TypeError(
            f"a cached task result must be JSON values or @reference dataclasses; "
            f"got {_name(cls)}."
        )
    data = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {"__class__": _name(cls), "data": data}


def decode_reference(obj: dict[str, Any]) -> Any:
    """`json.loads`' `object_hook`: rebuilds registered references, nothing else."""
    if "__exc_type__" in obj and "__class__" not in obj:
        return RuntimeError(f"{obj['__exc_type__']}: {obj.get('message')}")
    if "__class__" not in obj:
        return obj
    cls = _REFERENCES.get(obj["__class__"])
    data = obj.get("data")
    fields = {f.name for f in dataclasses.fields(cls)} if cls else set()
    if cls is None or not isinstance(data, dict) or set(data) != fields:
        raise ValueError(
            f"cached result names {obj['__class__']!r} with fields "
            f"{sorted(data) if isinstance(data, dict) else data!r}: not a "
            "registered @reference of this pipeline."
        )
    return cls(**data)


REFERENCE_SERIALIZER = JSONSerializer(
    object_encoder=f"{__name__}.encode_reference",
    object_decoder=f"{__name__}.decode_reference",
)


KEYS_FOLDER = "cache-keys"


class ReferenceStorage(LocalFileSystem):
    """Local storage for cache-key metadata that returns only JSON-reference records.

    Use it as a cache policy's `key_storage`. Its folder is
    `<Prefect's results.local_storage_path>/cache-keys` at the time of use
    (`$PREFECT_HOME/storage/cache-keys` by default), unless `basepath` is given.
    Metadata naming another serializer (pickle, another JSON decoder or json
    library) is refused before Prefect reads the result it points at: Prefect
    then sees no cached result, runs the task and writes over it.
    """

    _block_type_name = "Estimators Reference Storage"

    def _resolve_path(self, path: str) -> Path:
        if self.basepath is None:
            folder = get_current_settings().results.local_storage_path
            return LocalFileSystem(
                basepath=str(Path(folder, KEYS_FOLDER))
            )._resolve_path(path)
        return super()._resolve_path(path)

    def read_path(self, path: str, _sync: bool | None = None) -> Any:
        if _sync is False:
            return self.aread_path(path)
        return checked_metadata(path, super().read_path(path, _sync=True))

    async def aread_path(self, path: str) -> bytes:
        return checked_metadata(path, await super().aread_path(path))


def checked_metadata(path: str, content: bytes) -> bytes:
    """`content` if it is result metadata naming `REFERENCE_SERIALIZER` whose
    result file holds a reference (a truncated or forged one reads as no result)."""
    try:
        record = json.loads(content)
        serializer = record["serializer"]
    except (ValueError, TypeError, KeyError) as e:
        problem = f"is not Prefect result metadata ({type(e).__name__})"
    else:
        expected = REFERENCE_SERIALIZER.model_dump(mode="json")
        if serializer != expected:
            problem = f"names the serializer {serializer!r}, not {expected!r}"
        else:
            problem = _result_problem(record.get("storage_key"))
            if problem is None:
                return content
    logger.warning(
        "task cache record %s %s: ignored; the task runs again and rewrites it.",
        path,
        problem,
    )
    raise ValueError(f"task cache record {path} {problem}.")


def _result_problem(storage_key: Any) -> str | None:
    """Why the result file a record points at cannot be read back, or None."""
    folder = str(get_current_settings().results.local_storage_path)
    try:
        result = LocalFileSystem(basepath=folder)._resolve_path(storage_key)
        REFERENCE_SERIALIZER.loads(result.read_bytes())
    except (OSError, ValueError, TypeError) as e:
        return f"points at a result that does not read back ({type(e).__name__}: {e})"
    return None

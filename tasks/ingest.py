"""Ingest: CSV or Parquet in, a checked and deterministically split Parquet pair out.

Rows go to the evaluation split by a salted hash of their content, so a row keeps
its split when the data grows and a champion is never scored on rows the
candidate trained on. The output folder is named by the content fingerprint, so
re-running on the same bytes reuses it (and the task's cache hits).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import CacheKeyFnPolicy

from estimators import atomic
from estimators_pipeline.tasks import columns as columns_lib
from estimators_pipeline.tasks import schemas
from estimators_pipeline.tasks.cache import (
    REFERENCE_SERIALIZER,
    ReferenceStorage,
    reference,
)
from estimators_pipeline.tasks.config import ColumnSpecs, DataConfig
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.policies import (
    content_key,
    output_cache_key,
    retry_on_io,
    source_digest,
)

__all__ = [
    "Splits",
    "file_datasets",
    "fingerprint",
    "ingest",
    "open_source",
    "source_files",
    "split_source",
]

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@reference
@dataclass(frozen=True)
class Splits:
    """A reference to the train and eval Parquet files of one ingest.

    Attributes:
        train_uri, eval_uri: The two Parquet files.
        fingerprint: sha256 of the source bytes and the split settings.
        train_rows, eval_rows: Row counts.
    """

    train_uri: str
    eval_uri: str
    fingerprint: str
    train_rows: int
    eval_rows: int


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def source_files(uri: str) -> tuple[pafs.FileSystem, list[str]]:
    """The data files of `uri`: a file, a folder (recursively) or a local glob."""
    if "://" not in uri and glob.has_magic(uri):
        return pafs.LocalFileSystem(), sorted(
            os.path.abspath(p) for p in glob.glob(uri)
        )
    fs, path = _filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return fs, [path]
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"data {uri!r}: no such file or folder.")
    found = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    files = sorted(
        f.path
        for f in found
        if f.type == pafs.FileType.File
        and not os.path.basename(f.path).startswith(("_", "."))
        and os.path.splitext(f.path)[1].lower() in _SUFFIXES
    )
    if not files:
        raise FileNotFoundError(
            f"data {uri!r}: the folder holds no .csv or .parquet files."
        )
    return fs, files


def _format(files: Sequence[str], fmt: str, uri: str) -> str:
    if fmt != "auto":
        return fmt
    kinds = {_SUFFIXES.get(os.path.splitext(f)[1].lower()) for f in files}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(
            f"data {uri!r}: cannot tell the format from the file names; set "
            "`data.format` to csv or parquet."
        )
    return kinds.pop()


def fingerprint(uri: str) -> str:
    """sha256 of the names (relative to `uri`) and bytes of `uri`'s data files."""
    fs, files = source_files(uri)
    root = os.path.commonpath(files) if len(files) > 1 else os.path.dirname(files[0])
    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.relpath(path, root).encode() + b"\0")
        with fs.open_input_stream(path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _compatible(arrow_type: pa.DataType, dtype: str) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if dtype == "string":
        return (
            pa.types.is_string(arrow_type)
            or pa.types.is_large_string(arrow_type)
            or pa.types.is_binary(arrow_type)
        )
    if dtype.startswith("int"):
        return pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type)
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
    )


def check_schema(
    schema: pa.Schema, required: Mapping[str, str], label: str, uri: str
) -> None:
    """Raises a ValueError naming the first missing or mistyped column."""
    names = schema.names
    if label not in names:
        raise ValueError(f"data {uri!r}: no label column {label!r}; columns: {names}.")
    for key, dtype in required.items():
        if key not in names:
            raise ValueError(
                f"data {uri!r}: no column {key!r}, which the feature columns read "
                f"(as {dtype}); columns: {names}."
            )
        arrow_type = schema.field(key).type
        if not _compatible(arrow_type, dtype):
            raise ValueError(
                f"data {uri!r}: column {key!r} is {arrow_type}, but the feature "
                f"columns read it as {dtype}; fix the data or the feature column."
            )


def open_source(uri: str, fmt: str = "auto") -> pads.Dataset:
    """A pyarrow dataset over `uri`'s files (see `source_files`)."""
    fs, files = source_files(uri)
    return pads.dataset(files, filesystem=fs, format=_format(files, fmt, uri))


def file_datasets(uri: str, fmt: str = "auto") -> Iterator[tuple[str, pads.Dataset]]:
    """(path, dataset over that one file) for each of `uri`'s files."""
    fs, files = source_files(uri)
    fmt = _format(files, fmt, uri)
    for path in files:
        yield path, pads.dataset(path, filesystem=fs, format=fmt)


def _check_drift(
    data: DataConfig, required: Mapping[str, str], work_dir: str
) -> tuple[str, dict[str, Any]]:
    """The schema record of this dataset and its new content; raises on drift."""

    def where(uri: str) -> str:
        return uri if "://" in uri else os.path.abspath(uri)

    eval_uri = data.eval_uri and where(data.eval_uri)
    record = schemas.record_path(work_dir, where(data.uri), eval_uri)
    files = itertools.chain(
        file_datasets(data.uri, data.format),
        file_datasets(data.eval_uri, data.format) if data.eval_uri else (),
    )
    columns = [data.label, *required]
    return record, schemas.check_drift(data.uri, files, columns, record)


def _eval_mask(batch: pa.RecordBatch, fraction: float, seed: int) -> np.ndarray:
    hashes = pd.util.hash_pandas_object(
        batch.to_pandas(), index=False, hash_key=f"{seed & (2**64 - 1):016x}"
    )
    return hashes.to_numpy(np.uint64) < np.uint64(fraction * 2.0**64)


def _write(
    dataset: pads.Dataset, writers: Sequence[pq.ParquetWriter], mask_fn: Any
) -> list[int]:
    counts = [0] * len(writers)
    for batch in dataset.to_batches():
        for i, part in enumerate(mask_fn(batch)):
            writers[i].write_batch(part)
            counts[i] += part.num_rows
    return counts


def _write_splits(
    source: pads.Dataset, other: pads.Dataset | None, data: DataConfig, folder: str
) -> tuple[int, int]:
    """Streams `source` (split by row hash, or whole when `other` is the eval set)."""
    with (
        pq.ParquetWriter(os.path.join(folder, "train.parquet"), source.schema) as train,
        pq.ParquetWriter(
            os.path.join(folder, "eval.parquet"), (other or source).schema
        ) as evaluation,
    ):
        if other is not None:
            [train_rows] = _write(source, [train], lambda b: [b])
            [eval_rows] = _write(other, [evaluation], lambda b: [b])
            return train_rows, eval_rows

        def split(batch: pa.RecordBatch) -> list[pa.RecordBatch]:
            mask = pa.array(_eval_mask(batch, data.eval_fraction, data.split_seed))
            return [batch.filter(pc.invert(mask)), batch.filter(mask)]

        train_rows, eval_rows = _write(source, [train, evaluation], split)
        return train_rows, eval_rows


def split_source(
    data: DataConfig, required: Mapping[str, str], out_dir: str, source_fingerprint: str
) -> Splits:
    """Checks the source against `required` and writes `out_dir/{train,eval}.parquet`.

    Args:
        data: The data settings (uri, label, eval_uri or eval_fraction, seed).
        required: Raw feature key -> dtype the feature columns read.
        out_dir: The output folder; written via a temporary folder and renamed.
        source_fingerprint: `fingerprint()` of the source(s).

    Returns:
        The `Splits` reference.
    """
    source = open_source(data.uri, data.format)
    check_schema(source.schema, required, data.label, data.uri)
    other = open_source(data.eval_uri, data.format) if data.eval_uri else None
    if other is not None:
        check_schema(other.schema, required, data.label, data.eval_uri)
    counts: list[int] = []

    def write(tmp: str) -> None:
        os.makedirs(tmp)
        counts.extend(_write_splits(source, other, data, tmp))
        if not all(counts):
            raise ValueError(
                f"data {data.uri!r}: the split left {counts[0]} training and "
                f"{counts[1]} evaluation rows; both need at least one (check "
                "`data.eval_fraction`)."
            )
        open(os.path.join(tmp, "_SUCCESS"), "w").close()

    atomic.write_with(out_dir, write)  # fsynced, then renamed over any old one
    train_rows, eval_rows = counts
    final = [os.path.join(out_dir, name) for name in ("train.parquet", "eval.parquet")]
    return Splits(final[0], final[1], source_fingerprint, train_rows, eval_rows)


def _plan(
    data: DataConfig, features: Any, work_dir: str
) -> tuple[dict[str, str], str, str]:
    """The required schema, the data fingerprint and the output folder."""
    required = columns_lib.raw_keys(columns_lib.build_groups(features))
    fp = fingerprint(data.uri)
    if data.eval_uri:
        fp = content_key(fp, fingerprint(data.eval_uri))
    work_dir = os.path.abspath(work_dir)
    key = content_key(fp, data, required, work_dir, source_digest(split_source))
    return required, fp, os.path.join(work_dir, "ingest", key[:24])


def _cache_key(context: Any, parameters: dict[str, Any]) -> str | None:
    data, features = parameters["data"], parameters["features"]
    _, _, out_dir = _plan(data, features, parameters["work_dir"])
    done = os.path.exists(os.path.join(out_dir, "_SUCCESS"))
    return output_cache_key(context, f"ingest-{os.path.basename(out_dir)}", done)


@task(
    name="ingest",
    # Results as JSON references, their metadata checked before use (tasks/cache.py).
    cache_policy=CacheKeyFnPolicy(
        cache_key_fn=_cache_key, key_storage=ReferenceStorage()
    ),
    result_serializer=REFERENCE_SERIALIZER,
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_on_io,
)
def ingest(data: DataConfig, features: ColumnSpecs, work_dir: str) -> Splits:
    """Validates the data and splits it into train/eval Parquet files.

    Args:
        data: The `data` section (source, label, split settings).
        features: The feature column specs (they say which raw columns and
            types the data must have).
        work_dir: The pipeline's local folder; the split goes to
            `work_dir/ingest/<content key>/`.

    Cached on the content fingerprint of the data, the data settings, the raw
    schema the feature columns need and this module's source (not on the rest
    of the config: changing the model or the training reuses the split).
    """
    logger = stage_logger(__name__)
    required, fp, out_dir = _plan(data, features, work_dir)
    logger.info("ingest: %s -> %s", data.uri, os.path.relpath(out_dir, os.getcwd()))
    record, types = _check_drift(data, required, work_dir)
    splits = split_source(data, required, out_dir, fp)
    schemas.save_record(record, types)
    logger.info(
        "ingest: %d training rows, %d evaluation rows (fingerprint %s)",
        splits.train_rows,
        splits.eval_rows,
        fp[:12],
    )
    return splits

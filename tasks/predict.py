"""Batch scoring: a registered model version over a dataset, predictions to Parquet."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.tracking import MlflowClient
from prefect import task

from estimators import atomic
from estimators.export import load_pyfunc
from estimators_pipeline.tasks.evaluate import champion_version
from estimators_pipeline.tasks.ingest import open_source
from estimators_pipeline.tasks.policies import retry_on_io

__all__ = ["Scored", "resolve_model", "score"]


@dataclass(frozen=True)
class Scored:
    """A scored dataset: where it went, how many rows, which model."""

    output_uri: str
    rows: int
    model_uri: str


@task(
    name="resolve-model",
    retries=2,
    retry_delay_seconds=5,
    retry_condition_fn=retry_on_io,
)
def resolve_model(model_name: str, alias: str = "champion") -> str:
    """The URI of the version holding `alias` (`models:/name/version`), pinned now."""
    version = champion_version(MlflowClient(), model_name, alias)
    if version is None:
        raise ValueError(
            f"registered model {model_name!r} has no version with alias {alias!r}; "
            "run the training pipeline first."
        )
    return f"models:/{model_name}/{version.version}"


def _with_predictions(batch: pa.RecordBatch, predictions: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_batches([batch])
    for name in predictions.columns:
        column = name if name not in table.column_names else f"{name}_prediction"
        table = table.append_column(column, pa.array(predictions[name].tolist()))
    return table


def score_to_parquet(
    model_uri: str, input_uri: str, output_uri: str, *, batch_rows: int = 65_536
) -> Scored:
    """Streams `input_uri` (CSV/Parquet file, folder, glob) through the model.

    The output holds every input column plus one column per prediction key
    (renamed `<key>_prediction` when an input column has that name); it is
    written to a temporary file and renamed, so readers never see half of it.
    """
    model = load_pyfunc(model_uri)  # checks the MLmodel and every file first
    schema = model.metadata.get_input_schema()
    inputs = schema.input_names() if schema is not None else None
    rows = 0

    def write(tmp: str) -> None:
        nonlocal rows
        writer = None
        try:
            for batch in open_source(input_uri).to_batches(batch_size=batch_rows):
                if batch.num_rows == 0:
                    continue
                table = _with_predictions(batch, _predict(model, batch, inputs))
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                rows += batch.num_rows
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise ValueError(f"data {input_uri!r}: no rows to score.")

    atomic.write_with(output_uri, write)  # fsynced, then renamed into place
    return Scored(
        output_uri=os.path.abspath(output_uri), rows=rows, model_uri=model_uri
    )


def _predict(model: Any, batch: pa.RecordBatch, inputs: list[str] | None) -> Any:
    """The model's predictions; a missing input column is one line naming it."""
    frame = batch.to_pandas()
    if inputs:
        missing = [name for name in inputs if name not in frame.columns]
        if missing:
            raise ValueError(
                f"the data has no column(s) {missing}, which the model reads; it "
                f"has {list(frame.columns)}."
            )
        frame = frame[inputs]
    return model.predict(frame)


@task(name="score")
def score(model_uri: str, input_uri: str, output_uri: str) -> Scored:
    """Scores a dataset with a registered model version; writes Parquet."""
    return score_to_parquet(model_uri, input_uri, output_uri)

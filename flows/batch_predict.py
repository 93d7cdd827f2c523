"""Batch prediction: score a dataset with the current champion, write Parquet."""

from __future__ import annotations

from prefect import flow

from estimators_pipeline.tasks.predict import Scored, resolve_model, score

__all__ = ["batch_predict"]


@flow(name="batch-predict")
def batch_predict(
    model_name: str, input_uri: str, output_uri: str, alias: str = "champion"
) -> Scored:
    """Scores `input_uri` with the version of `model_name` that holds `alias`.

    Args:
        model_name: The registered model.
        input_uri: A CSV or Parquet file, folder or glob with the raw features.
        output_uri: The Parquet file to write (input columns + predictions).
        alias: Which version to use; resolved once, at the start.
    """
    model_uri = resolve_model(model_name=model_name, alias=alias)
    return score(model_uri=model_uri, input_uri=input_uri, output_uri=output_uri)

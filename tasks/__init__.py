"""Prefect tasks of the training pipeline: thin adapters over `estimators`.

Each stage is a plain function (testable without Prefect) wrapped by a task
that adds caching, retries (I/O stages only) and tracking. Tasks exchange
references (file URIs, model_dir, MLflow run ids), never arrays.
"""

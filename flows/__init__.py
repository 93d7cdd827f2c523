"""Prefect flows: the training pipeline, batch prediction, and the command line."""

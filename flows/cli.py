"""`estimators-pipeline`: run the training pipeline, score data, open the MLflow UI.

    estimators-pipeline run --config pipelines/iris.yaml [--set train.steps=200]
    estimators-pipeline predict --model iris --input data/iris_test.csv --output preds.parquet
    estimators-pipeline resend --config pipelines/iris.yaml   # after an MLflow outage
    estimators-pipeline ui

With no servers configured it runs embedded (see `flows.environment`): Prefect's
ephemeral API with its home in `.prefect/`, MLflow tracking in `mlflow.db`,
artifacts in `mlartifacts/`. Set PREFECT_API_URL / MLFLOW_TRACKING_URI to use
servers instead.

Exit status of `run`: 0 when the model took the alias (or was rejected and
`--allow-reject` was given), 3 when the gate rejected it, 1 when the pipeline
failed, 2 for a bad command line or config.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from flows.environment import embedded_defaults

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set takes name=value, got {pair!r}.")
        values[name.strip()] = yaml.safe_load(text)
    return values


def _run(args: argparse.Namespace) -> int:
    from flows.config import PipelineConfig

    try:
        config = PipelineConfig.from_yaml(args.config).override(**_overrides(args.set))
        if args.allow_reject:
            config = config.override(**{"gate.fail_on_reject": False})
    except (OSError, ValueError) as error:
        print(f"estimators-pipeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    from flows.report import format_report, stage_rows, summarize
    from flows.training import training_pipeline

    print(f"Running the training pipeline for '{config.model_name}' ({args.config})...")
    state = training_pipeline(config, return_state=True)
    flow_run_id = state.state_details.flow_run_id
    summary = summarize(config, flow_run_id)
    print(format_report(config, stage_rows(flow_run_id), summary))
    if state.is_completed():
        return EXIT_OK
    if (
        summary is not None
        and summary.decision == "rejected"
        and summary.status == "FINISHED"
    ):
        return EXIT_REJECTED
    print(f"\nThe pipeline failed: {state.message}", file=sys.stderr)
    return EXIT_FAILED


def _predict(args: argparse.Namespace) -> int:
    from flows.batch_predict import batch_predict

    state = batch_predict(
        args.model, args.input, args.output, alias=args.alias, return_state=True
    )
    if not state.is_completed():
        print(f"estimators-pipeline: scoring failed: {state.message}", file=sys.stderr)
        return EXIT_FAILED
    scored = state.result()
    print(f"Scored {scored.rows} rows with {scored.model_uri} into {scored.output_uri}")
    return EXIT_OK


def _resend(args: argparse.Namespace) -> int:
    import glob

    from flows.config import PipelineConfig
    from tasks.runs import UnsentMetrics, resend_spools

    config = PipelineConfig.from_yaml(args.config)
    folder = os.path.join(os.path.abspath(config.work_dir), config.model_name)
    runs = sorted(
        {
            os.path.basename(os.path.dirname(p))
            for p in glob.glob(os.path.join(folder, "*", "*.unsent.jsonl"))
        }
    )
    try:
        for run_id in runs:
            print(f"MLflow run {run_id}: resent {resend_spools(config, run_id)} points")
    except UnsentMetrics as error:
        print(f"estimators-pipeline: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not runs:
        print("Nothing to resend: every metric point reached MLflow.")
    return EXIT_OK


def _ui(args: argparse.Namespace) -> int:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    if not uri.startswith("sqlite:"):
        print(f"MLflow tracks to a server: open {uri}")
        return EXIT_OK
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    command = [
        mlflow,
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--workers",
        "1",
    ]
    print(" ".join(command), flush=True)
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    os.execv(command[0], command)
    return EXIT_FAILED  # not reached


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="estimators-pipeline",
        description="Train, register and serve estimators with Prefect and MLflow.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the training pipeline once")
    run.add_argument("--config", required=True, help="a pipeline YAML file")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a config field, e.g. --set train.steps=200",
    )
    run.add_argument(
        "--allow-reject",
        action="store_true",
        help="exit 0 when the gate keeps the current champion",
    )
    run.set_defaults(func=_run)
    predict = commands.add_parser("predict", help="score a dataset with the champion")
    predict.add_argument("--model", required=True, help="registered model name")
    predict.add_argument(
        "--input", required=True, help="CSV/Parquet file, folder or glob"
    )
    predict.add_argument("--output", required=True, help="Parquet file to write")
    predict.add_argument("--alias", default="champion")
    predict.set_defaults(func=_predict)
    ui = commands.add_parser(
        "ui", help="open the MLflow UI on the local tracking store"
    )
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `estimators-pipeline` console script."""
    args = _parser().parse_args(argv)
    embedded_defaults(os.getcwd())  # before prefect or mlflow is imported
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`estimators-pipeline`: run the training pipeline, score data, open the MLflow UI.

    estimators-pipeline run --config pipelines/iris.yaml [--set train.steps=200]
    estimators-pipeline run --resume <MLflow run id>           # after Ctrl-C
    estimators-pipeline predict --model iris --input data/iris_test.csv --output preds.parquet
    estimators-pipeline resend --config pipelines/iris.yaml   # after an MLflow outage
    estimators-pipeline ui

With no servers configured it runs embedded (see `flows.environment`): Prefect's
ephemeral API with its home in `.prefect/`, MLflow tracking in `mlflow.db`,
artifacts in `mlartifacts/`. Set PREFECT_API_URL / MLFLOW_TRACKING_URI to use
servers instead.

Exit status of `run`: 0 when the model took the alias (or was rejected and
`--allow-reject` was given), 3 when the gate rejected it, 1 when the pipeline
failed, 2 for a bad command line or config (checked before anything starts),
130 when Ctrl-C stopped it.

`run` prints each stage's result as it finishes and training's progress (a live
bar on a terminal, a line every 10 s in a pipe); a failure is one line naming
the stage and the cause, the full traceback goes to `<work_dir>/pipeline.log`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from estimators_pipeline.flows.environment import embedded_defaults

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _overrides(pairs: Sequence[str]) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"--set takes name=value, got {pair!r}.")
        try:
            values[name.strip()] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ValueError(
                f"--set {name.strip()}: {text!r} is not a YAML value; quote it."
            ) from None
    return values


def _config(args: argparse.Namespace) -> Any:
    """The run's config: --config, or the resumed run's own; with --set applied."""
    from estimators_pipeline.tasks.config import PipelineConfig
    from estimators_pipeline.tasks.preflight import check

    if args.resume and not _RUN_ID.fullmatch(args.resume):
        raise ValueError(
            f"--resume: {args.resume!r} is not an MLflow run id (letters, digits, "
            "'_' and '-'; the id printed by the interrupted run)."
        )
    if args.config:
        config = PipelineConfig.from_yaml(args.config)
    elif args.resume:
        config = _config_of_run(args.resume)
    else:
        raise ValueError("run needs --config <pipeline.yaml> (or --resume <run id>).")
    overrides = _overrides(args.set)
    if args.allow_reject:
        overrides["gate.fail_on_reject"] = False
    config = config.override(**overrides)
    check(config)
    return config


def _config_of_run(run_id: str) -> Any:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from estimators_pipeline.flows.report import one_line
    from estimators_pipeline.tasks.config import PipelineConfig

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        text = MlflowClient().download_artifacts(run_id, "pipeline/config.json")
    except (MlflowException, OSError) as error:
        if getattr(error, "error_code", None) in (None, "RESOURCE_DOES_NOT_EXIST"):
            raise ValueError(
                f"--resume {run_id}: no pipeline run with that id in {uri}."
            ) from None
        raise ValueError(
            f"--resume {run_id}: MLflow at {uri} is unreachable ({one_line(error)}); "
            "the run's config is read from there: try again when it answers."
        ) from None
    with open(text, encoding="utf-8") as f:
        return PipelineConfig.model_validate_json(f.read())


def _run(args: argparse.Namespace) -> int:
    from estimators_pipeline.tasks.preflight import ConfigError

    try:
        config = _config(args)
    except (OSError, ValueError, ConfigError) as error:
        print(f"estimators-pipeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    from estimators_pipeline.flows.display import show_stages
    from estimators_pipeline.flows.report import (
        format_report,
        log_traceback,
        one_line,
        read_back,
        unwrapped,
    )
    from estimators_pipeline.flows.training import training_pipeline
    from estimators_pipeline.tasks.interrupt import install_sigint_handler

    log_file = show_stages(os.path.join(config.work_dir, "pipeline.log"))
    install_sigint_handler()
    source = args.config or f"MLflow run {args.resume}"
    verb = "Continuing" if args.resume else "Running"
    print(f"{verb} the training pipeline for '{config.model_name}' ({source})...")
    try:
        state = training_pipeline(config, resume=args.resume, return_state=True)
    except KeyboardInterrupt:
        print("\nestimators-pipeline: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the orchestrator itself failed
        log_traceback(log_file, "running the flow")
        print(
            f"\nThe pipeline could not run: {type(error).__name__}: "
            f"{one_line(error)}{_prefect_hint()} (full traceback in {log_file})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    flow_run_id = state.state_details.flow_run_id
    if state.is_cancelled():
        print(f"\nStopped: {state.message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    stages, summary = read_back(config, flow_run_id, log_file)
    print(format_report(config, stages, summary))
    if state.is_completed():
        return EXIT_OK
    if (
        summary is not None
        and summary.decision == "rejected"
        and summary.status == "FINISHED"
    ):
        return EXIT_REJECTED
    failed = next((name for name, st, _ in stages if st in ("Failed", "Crashed")), None)
    where = f" at stage '{failed}'" if failed else ""
    cause = (state.message or "").strip().splitlines()
    print(
        f"\nThe pipeline failed{where}: "
        f"{unwrapped(cause[-1]) if cause else 'unknown cause'} "
        f"(full traceback in {log_file})",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _prefect_hint() -> str:
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        return ""
    return (
        f"; is the Prefect server at {api} up? (unset PREFECT_API_URL to run embedded)"
    )


def _predict(args: argparse.Namespace) -> int:
    if not args.output.endswith((".parquet", ".pq")):
        print(
            f"estimators-pipeline: --output writes Parquet; name the file "
            f"*.parquet, got {args.output!r}.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from estimators_pipeline.tasks.names import check_alias, check_name

    try:
        check_name("--model", args.model)
        check_alias("--alias", args.alias)
    except ValueError as error:
        print(f"estimators-pipeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    from estimators_pipeline.flows.batch_predict import batch_predict

    state = batch_predict(
        args.model, args.input, args.output, alias=args.alias, return_state=True
    )
    if not state.is_completed():
        cause = (state.message or "").strip().splitlines()
        print(
            f"estimators-pipeline: scoring failed: {cause[-1] if cause else '?'}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    scored = state.result()
    print(f"Scored {scored.rows} rows with {scored.model_uri} into {scored.output_uri}")
    return EXIT_OK


def _resend(args: argparse.Namespace) -> int:
    import glob

    from estimators_pipeline.flows.report import one_line
    from estimators_pipeline.tasks.config import PipelineConfig
    from estimators_pipeline.tasks.pending import end_orphans, finish_pending
    from estimators_pipeline.tasks.runs import UnsentMetrics, resend_spools, run_dir

    try:
        config = PipelineConfig.from_yaml(args.config)
    except (OSError, ValueError) as error:
        print(f"estimators-pipeline: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        ended = finish_pending(config.work_dir, config.model_name)
        orphans = end_orphans(config.work_dir, config.model_name)
    except Exception as error:  # noqa: BLE001 - one line; the files stay
        print(
            f"estimators-pipeline: MLflow is unreachable ({one_line(error)}); "
            "run endings kept locally wait for the next try.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    for run_id, status in ended:
        print(f"MLflow run {run_id}: ended {status} (kept while MLflow was down)")
    for run_id, why in orphans:
        print(f"MLflow run {run_id}: ended KILLED ({why})")
    folder = os.path.join(os.path.abspath(config.work_dir), config.model_name)
    runs = sorted(
        {
            os.path.basename(os.path.dirname(p))
            for p in glob.glob(os.path.join(folder, "*", "*.unsent.jsonl"))
        }
    )
    try:
        for run_id in runs:
            sent = resend_spools(
                run_dir(config.work_dir, config.model_name, run_id), run_id
            )
            print(f"MLflow run {run_id}: resent {sent} points")
    except UnsentMetrics as error:
        print(f"estimators-pipeline: {error}", file=sys.stderr)
        return EXIT_FAILED
    if not runs and not ended:
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
    run.add_argument("--config", help="a pipeline YAML file")
    run.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="continue an interrupted MLflow run (its config, run and model_dir)",
    )
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
    resend = commands.add_parser(
        "resend",
        help="send metric points kept locally while MLflow was unreachable",
    )
    resend.add_argument("--config", required=True, help="the pipeline YAML file")
    resend.set_defaults(func=_resend)
    ui = commands.add_parser(
        "ui", help="open the MLflow UI on the local tracking store"
    )
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `estimators-pipeline` console script."""
    args = _parser().parse_args(argv)
    # Stage results go to the Prefect run log (INFO); the console shows them
    # through `show_stages`, one line each, instead of Prefect's own lines.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    embedded_defaults(os.getcwd())  # before prefect or mlflow is imported
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

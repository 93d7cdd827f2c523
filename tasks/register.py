"""Register: a new model version, and the champion gate.

The new version always gets registered (so every run's model can be found and
compared); it takes the champion alias only when there is no champion, or when
it beats the champion, both scored on this run's evaluation split, by more than
the configured margin.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from dataclasses import dataclass
from typing import Any

import mlflow
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from prefect import task
from prefect.runtime import flow_run as current_flow_run

from estimators_pipeline.tasks.config import GateConfig
from estimators_pipeline.tasks.evaluate import Evaluation, champion_version
from estimators_pipeline.tasks.export import ModelRef
from estimators_pipeline.tasks.logs import stage_logger
from estimators_pipeline.tasks.policies import retry_on_io

__all__ = ["Decision", "abandon_pending", "decide", "register"]


@dataclass(frozen=True)
class Decision:
    """What the gate decided for one model version.

    Attributes:
        model_name, version: The registered version.
        promoted: Whether it took the alias.
        alias: The alias (usually "champion").
        reason: One line saying why, with both values.
        metric, candidate, champion: The gate metric and both values
            (`champion` None when there was none).
        champion_version: The version it was compared with.
    """

    model_name: str
    version: str
    promoted: bool
    alias: str
    reason: str
    metric: str
    candidate: float
    champion: float | None = None
    champion_version: str | None = None


def decide(
    candidate: Evaluation, champion: Evaluation | None, gate: GateConfig
) -> tuple[bool, str]:
    """Whether `candidate` should replace `champion`, and why (one line).

    Example:
        >>> new = Evaluation(metrics={"accuracy": 0.95}, global_step=100)
        >>> old = Evaluation(metrics={"accuracy": 0.9}, global_step=100, version="1")
        >>> decide(new, old, GateConfig(margin=0.01))[0]
        True
        >>> decide(new, old, GateConfig(margin=0.1))
        (False, 'accuracy 0.9500 does not beat champion v1 (0.9000) by more than 0.1')
    """
    metric = gate.metric
    if metric not in candidate.metrics:
        raise ValueError(
            f"gate.metric {metric!r} is not an evaluation metric of this model; "
            f"it has {sorted(candidate.metrics)}."
        )
    value = candidate.metrics[metric]
    if math.isnan(value):
        return False, f"{metric} is NaN"
    if champion is None:
        return True, f"{metric} {value:.4f}; there was no champion"
    if metric not in champion.metrics:
        return False, (
            f"champion v{champion.version} has no {metric!r} to compare with; "
            "move the alias by hand if this model should serve"
        )
    best = champion.metrics[metric]
    sign = 1.0 if gate.higher_is_better else -1.0
    better = sign * (value - best) > gate.margin
    verb = "beats" if better else "does not beat"
    where = "" if champion.source == "evaluated" else ", as recorded on its own split"
    return better, (
        f"{metric} {value:.4f} {verb} champion v{champion.version} "
        f"({best:.4f}{where}) by more than {gate.margin:g}"
    )


# A version is registered with `gate.state: pending` and the run id; the gate's
# tags come next, then the alias, then `gate.state: done`. A re-run of the same
# MLflow run (a task retry, `run --resume`) finds the version by run id and
# finishes what is missing; a version whose run ended without finishing is
# marked `gate.decision: abandoned` by the next registration of the model.
STATE_TAG, RUN_TAG = "gate.state", "pipeline.run_id"


def _existing_version(client: MlflowClient, name: str, run_id: str) -> Any:
    """The version this run registered before (a retried task or flow run), or None."""
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return min(versions, key=lambda v: int(v.version)) if versions else None


def _register(model: ModelRef, name: str) -> Any:
    """A new version of `name`, tagged pending; MLflow's own prints are dropped."""
    tags = {
        STATE_TAG: "pending",
        RUN_TAG: model.run_id,
        "prefect.flow_run_id": current_flow_run.id or "none",
    }
    with contextlib.redirect_stderr(io.StringIO()):
        return mlflow.register_model(model.model_uri, name, tags=tags)


def _holds_alias(client: MlflowClient, name: str, alias: str, version: str) -> bool:
    current = champion_version(client, name, alias)
    return current is not None and str(current.version) == version


def abandon_pending(client: MlflowClient, name: str, run_id: str) -> list[str]:
    """Marks versions left pending by other, ended runs as abandoned.

    Returns:
        The versions marked.
    """
    pending = client.search_model_versions(
        f"name = '{name}' and tags.`{STATE_TAG}` = 'pending'"
    )
    marked = []
    for version in pending:
        if version.run_id == run_id:
            continue
        status = _run_status(client, version.run_id)
        if status == "RUNNING":
            continue  # still deciding (or a concurrent run)
        for key, value in {
            "gate.decision": "abandoned",
            "gate.reason": (
                f"its run {version.run_id} ended {status} before the gate decided; "
                f"`estimators-pipeline run --resume {version.run_id}` completes it"
            ),
            STATE_TAG: "done",
        }.items():
            client.set_model_version_tag(name, version.version, key, value)
        marked.append(str(version.version))
    return marked


def _run_status(client: MlflowClient, run_id: str) -> str:
    try:
        return client.get_run(run_id).info.status
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return "DELETED"


def _champion_moved(
    client: MlflowClient, name: str, alias: str, champion: Evaluation | None
) -> str | None:
    """Why not to promote when another run moved the alias since we compared."""
    current = champion_version(client, name, alias)
    now = str(current.version) if current else None
    if now != (champion.version if champion else None):
        return f"the {alias} changed during this run (now v{now}); re-run to compare"
    return None


def _record_reason(client: MlflowClient, model: ModelRef, decision: Decision) -> None:
    """Tags the version with the gate's reason and scores, before the alias moves."""
    tags = {
        "gate.reason": decision.reason,
        "gate.champion_version": str(decision.champion_version),
        "prefect.flow_run_id": current_flow_run.id or "none",
    }
    tags |= {f"eval.{k}": f"{v:.6g}" for k, v in model.evaluation.metrics.items()}
    for key, value in tags.items():
        client.set_model_version_tag(decision.model_name, decision.version, key, value)


def _record(
    client: MlflowClient,
    model: ModelRef,
    champion: Evaluation | None,
    decision: Decision,
) -> None:
    """Tags the version and the run with the verdict; logs the champion's scores."""
    name, version = decision.model_name, decision.version
    verdict = "promoted" if decision.promoted else "rejected"
    client.set_model_version_tag(name, version, "gate.decision", verdict)
    if champion is not None:  # its scores on this run's split, beside the new ones
        now, step = int(time.time() * 1000), model.evaluation.global_step
        metrics = [
            Metric(f"champion/{k}", float(v), now, step)
            for k, v in champion.metrics.items()
        ]
        client.log_batch(model.run_id, metrics=metrics, synchronous=True)
    for key, value in {
        "gate.decision": verdict,
        "gate.reason": decision.reason,
        "gate.champion_version": str(decision.champion_version),
        "registered_model.name": name,
        "registered_model.version": version,
    }.items():
        client.set_tag(model.run_id, key, value)
    client.set_model_version_tag(name, version, STATE_TAG, "done")


@task(name="register", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_on_io)
def register(
    model_name: str, gate: GateConfig, model: ModelRef, champion: Evaluation | None
) -> Decision:
    """Registers the model as a new version; moves the alias when the gate passes.

    Idempotent per MLflow run: a re-run (task retry, `run --resume`) after a
    lost server finishes the version this run registered, never a second one.
    """
    name, client = model_name, MlflowClient()
    logger = stage_logger(__name__)
    if abandoned := abandon_pending(client, name, model.run_id):
        logger.warning("register: %s v%s marked abandoned", name, ", v".join(abandoned))
    existing = _existing_version(client, name, model.run_id)
    version = str((existing or _register(model, name)).version)
    if existing is not None and _holds_alias(client, name, gate.alias, version):
        decision, champion = _decided_before(existing, gate, model), None
    else:
        promote, reason = decide(model.evaluation, champion, gate)
        if moved := promote and _champion_moved(client, name, gate.alias, champion):
            promote, reason = False, moved
        decision = _decision(name, version, promote, reason, gate, model, champion)
    _record_reason(client, model, decision)
    if decision.promoted:
        client.set_registered_model_alias(name, gate.alias, version)
    _record(client, model, champion, decision)
    logger.info(
        "register: %s v%s %s alias '%s': %s",
        name,
        version,
        "took" if decision.promoted else "did not take",
        gate.alias,
        decision.reason,
    )
    return decision


def _decided_before(existing: Any, gate: GateConfig, model: ModelRef) -> Decision:
    """The decision of an earlier try that moved the alias, from its tags."""
    tags, version = existing.tags, str(existing.version)
    compared = tags.get("gate.champion_version")
    return _decision(
        existing.name,
        version,
        True,
        tags.get("gate.reason") or "took the alias in an earlier try of this run",
        gate,
        model,
        None,
        champion_version=None if compared in (None, "None") else compared,
    )


def _decision(
    name: str,
    version: str,
    promote: bool,
    reason: str,
    gate: GateConfig,
    model: ModelRef,
    champion: Evaluation | None,
    champion_version: str | None = None,
) -> Decision:
    return Decision(
        model_name=name,
        version=version,
        promoted=promote,
        alias=gate.alias,
        reason=reason,
        metric=gate.metric,
        candidate=model.evaluation.metrics[gate.metric],
        champion=champion.metrics.get(gate.metric) if champion else None,
        champion_version=champion.version if champion else champion_version,
    )
